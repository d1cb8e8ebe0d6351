"""How long a big CRL takes to judge, and how often it is fetched.

    .venv/bin/python bench/crl_parse.py [ENTRIES] [CHECKS]     # default 100,000 and 50

Builds a CRL of ENTRIES revoked serials signed by a lab CA (with `cryptography`), then
prints two lines: the CPU seconds (`time.process_time()`) to parse it, verify its
signature and look up the monitored serials, as the CRL prober does; and how many times
one URL was fetched when CHECKS checks pointing at it ran concurrently and then again
within the refresh interval. The CRL is served from 127.0.0.1; nothing else is contacted.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from probes import Check, FailureReason, ProbeEnv
from probes.crl import CrlParams, judge, probe_crl
from probes.crl_cache import CrlCache, FetchedCrl
from probes.crl_fetch import parse_crl_serials
from vigie.http import outbound_client
from vigie.lab.pki import LabPki

MONITORED = 100  # about this many monitored certificates whose serials are looked up


def build_crl(pki: LabPki, entries: int, now: datetime) -> bytes:
    revoked = [
        x509.RevokedCertificateBuilder()
        .serial_number(1_000_003 * index + 17)
        .revocation_date(now - timedelta(days=1))
        .build()
        for index in range(entries)
    ]
    # The builder's constructor takes the whole list: adding entries one by one copies it
    # each time, which is quadratic.
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=pki.intermediate.cert.subject,
        last_update=now - timedelta(hours=1),
        next_update=now + timedelta(days=1),
        extensions=[x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1))],
        revoked_certificates=revoked,
    )
    crl = builder.sign(pki.intermediate.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


async def main() -> None:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    checks = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    now = datetime.now(UTC)
    pki = LabPki.generate("http://127.0.0.1:9", now=now)
    der = build_crl(pki, entries, now)
    monitored = tuple(pki.endpoint(name).cert for name in pki.endpoints) * (MONITORED // 3)
    served = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.Response(body=der, content_type="application/pkix-crl")

    app = web.Application()
    app.router.add_get("/big.crl", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/big.crl"
    params = CrlParams(url, (pki.intermediate.cert,), monitored, 6 * 3600.0, 900.0, 64 * 2**20)
    try:
        async with outbound_client() as http:
            env = ProbeEnv(http=http)
            # CPU of parse + serial set + signature + lookups, the download excluded.
            body = (await http.get(url)).content
            cpu = time.process_time()
            wall = time.perf_counter()
            crl, serials = parse_crl_serials(body)
            fetched = FetchedCrl(FailureReason.OK, crl=crl, serials=serials, size=len(body))
            result = judge(fetched, params, now.timestamp(), CrlCache())
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
            served = 0
            check = Check("crl", "pki", url, params, 60.0, 30.0)
            results = await asyncio.gather(*(probe_crl(check, env) for _ in range(checks)))
            results += [await probe_crl(check, env) for _ in range(checks)]
            fetches = env.crl_cache.fetches
    finally:
        await runner.cleanup()
    assert result.reason is FailureReason.OK, result.detail
    assert {r.reason for r in results} == {FailureReason.OK}
    print(
        f"crl parse: {entries} entries ({len(der) / 2**20:.1f} MiB), parse + signature + "
        f"{len(monitored)} serial lookups: {cpu:.3f} s CPU ({wall:.3f} s wall)"
    )
    print(
        f"crl fetch: {2 * checks} checks of one URL ({checks} at once, then {checks} more "
        f"within the refresh interval): {fetches} fetch, {served} request served"
    )


if __name__ == "__main__":
    asyncio.run(main())
