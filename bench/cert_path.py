"""What a whole-path verdict costs, by profile and revocation mode.

    .venv/bin/python bench/cert_path.py [VERDICTS]     # default 300

Generates the lab PKI (root, issuing CA, smp1) and serves its CRLs from the lab's PKI
server on 127.0.0.1, then runs VERDICTS verdicts of smp1's path (`probes.cert_path.
judge_path`) for each of: webpki without revocation (what a TLS check does today, without
its memo), rfc5280 without revocation, rfc5280 with `revocation: crl` (both CRLs served
from the agent's CRL cache after the first fetch, as in a running agent), and webpki with
`revocation: crl`. Prints CPU milliseconds per verdict (`time.process_time()`) for each.
Bounded: VERDICTS at most 10,000; nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probes import ProbeEnv
from probes.cert_path import PathOptions, Profile, RevocationMode, judge_path
from vigie.http import outbound_client
from vigie.lab.faults import Faults
from vigie.lab.pki import LabPki
from vigie.lab.pki_server import PkiServer

MODES = (
    ("webpki, no revocation", Profile.WEBPKI, RevocationMode.NONE),
    ("rfc5280, no revocation", Profile.RFC5280, RevocationMode.NONE),
    ("rfc5280, revocation crl", Profile.RFC5280, RevocationMode.CRL),
    ("webpki, revocation crl", Profile.WEBPKI, RevocationMode.CRL),
)


async def main(verdicts: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    async with PkiServer(Faults(), clock=lambda: now) as server:
        pki = LabPki.generate(server.url, now=now)
        server.attach(pki)
        leaf, intermediate, root = pki.endpoint("smp1").cert, pki.intermediate.cert, pki.root.cert
        async with outbound_client() as http:
            env = ProbeEnv(http=http)  # one agent: one CRL cache for every verdict
            for label, profile, revocation in MODES:
                options = PathOptions(profile=profile, revocation=revocation)
                first = await judge_path(
                    leaf, [intermediate], [root], at=now, options=options, env=env
                )
                assert first.ok, first.detail
                started = time.process_time()
                for _ in range(verdicts):
                    await judge_path(leaf, [intermediate], [root], at=now, options=options, env=env)
                spent = time.process_time() - started
                print(f"{label}: {spent / verdicts * 1000:.2f} CPU-ms per verdict")


if __name__ == "__main__":
    count = min(int(sys.argv[1]) if len(sys.argv) > 1 else 300, 10_000)
    asyncio.run(main(count))
