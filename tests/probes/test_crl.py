"""CRL checks: configuration, verdicts, the shared cache, and bad input from real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from probes import Check, FailureReason, ProbeEnv, ProbeResult
from probes.crl import CrlParams, CrlTarget, expand_crl, judge, probe_crl
from probes.crl_cache import CrlCache, FetchedCrl
from probes.crl_fetch import parse_crl
from tests.probes.local_server import LocalServer
from vigie.config import ConfigError, parse_config
from vigie.http import outbound_client
from vigie.lab.pki import LabPki, Revocation

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MIB = 2**20


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=NOW)


def crl_der(
    pki: LabPki,
    *,
    ca: str = "intermediate",
    revoked: tuple[str, ...] = (),
    this_update: timedelta = timedelta(hours=-1),
    next_update: timedelta = timedelta(hours=24),
    number: int = 7,
    forged: bool = False,
) -> bytes:
    entries = [
        Revocation(pki.by_name(name).cert.serial_number, NOW - timedelta(days=1))
        for name in revoked
    ]
    crl = pki.build_crl(
        ca, entries, NOW + this_update, NOW + next_update, crl_number=number,
        signer_key=pki.impostor_key if forged else None,
    )  # fmt: skip
    return crl.public_bytes(serialization.Encoding.DER)


def params(
    pki: LabPki,
    url: str = "http://127.0.0.1:9/crl/intermediate.crl",
    *,
    monitored: tuple[str, ...] = ("smp1", "ap1"),
    issuers: tuple[str, ...] = ("root", "intermediate"),
    max_size: int = 20 * MIB,
) -> CrlParams:
    return CrlParams(
        url,
        tuple(pki.by_name(name).cert for name in issuers),
        tuple(pki.by_name(name).cert for name in monitored),
        warn_before=6 * 3600.0,
        refresh=900.0,
        max_size=max_size,
    )


def fetched(der: bytes, previous_number: int | None = None) -> FetchedCrl:
    crl = parse_crl(der)
    serials = frozenset(entry.serial_number for entry in crl)
    return FetchedCrl(FailureReason.OK, crl=crl, serials=serials, previous_number=previous_number)


def verdict(der: bytes, pki: LabPki, at: datetime = NOW, **kwargs: Any) -> ProbeResult:
    return judge(fetched(der), params(pki, **kwargs), at.timestamp(), CrlCache())


# -- verdicts (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crl", "at", "expected", "detail"),
    [
        pytest.param({}, NOW, FailureReason.OK, "", id="fresh-verified-nothing-listed"),
        pytest.param(
            {"revoked": ("retired",)}, NOW, FailureReason.OK, "", id="unmonitored-serial-listed"
        ),
        pytest.param(
            {"revoked": ("smp1",)}, NOW, FailureReason.CERTIFICATE_REVOKED,
            "smp1.edelivery.test", id="monitored-serial-listed",
        ),
        pytest.param(
            {}, NOW + timedelta(hours=25), FailureReason.CRL_STALE, "passed",
            id="next-update-passed",
        ),
        pytest.param(
            {"this_update": timedelta(hours=1)}, NOW, FailureReason.CRL_STALE, "future",
            id="this-update-in-the-future",
        ),
        pytest.param(
            {}, NOW + timedelta(hours=20), FailureReason.CRL_EXPIRING, "nextUpdate in 4.0h",
            id="inside-warning-margin",
        ),
        pytest.param(
            {"forged": True, "revoked": ("smp1",)}, NOW, FailureReason.CRL_BAD_SIGNATURE,
            "does not verify", id="forged-listing-is-not-revoked",
        ),
        pytest.param(
            {"revoked": ("smp1",)}, NOW + timedelta(hours=30), FailureReason.CERTIFICATE_REVOKED,
            "smp1", id="stale-but-verified-listing-is-still-revoked",
        ),
    ],
)  # fmt: skip
def test_verdict(
    pki: LabPki, crl: dict[str, Any], at: datetime, expected: FailureReason, detail: str
) -> None:
    result = verdict(crl_der(pki, **crl), pki, at)
    assert result.reason is expected
    assert detail in result.detail
    assert result.values["next_update_timestamp_seconds"] == (NOW + timedelta(hours=24)).timestamp()
    assert result.values["number"] == 7


def test_a_crl_by_an_issuer_not_configured_fails_as_bad_signature(pki: LabPki) -> None:
    result = verdict(crl_der(pki, revoked=("smp1",)), pki, issuers=("root",))
    assert result.reason is FailureReason.CRL_BAD_SIGNATURE
    assert "no configured issuer is" in result.detail


def test_without_an_issuer_freshness_is_checked_but_nothing_is_reported_revoked(
    pki: LabPki,
) -> None:
    result = verdict(crl_der(pki, revoked=("smp1",)), pki, issuers=())
    assert result.reason is FailureReason.OK
    assert "signature not verified" in result.detail
    assert result.series == ()


def test_serials_of_another_ca_are_not_looked_up(pki: LabPki) -> None:
    # The root's CRL lists the intermediate; smp1's serial is only meaningful to its own CA.
    der = crl_der(pki, ca="root", revoked=("intermediate",))
    result = verdict(der, pki, monitored=("smp1", "ap1", "intermediate"))
    assert result.reason is FailureReason.CERTIFICATE_REVOKED
    assert [(s.labels["cn"], s.value) for s in result.series] == [("vigie lab issuing CA", 1.0)]


def test_per_certificate_series_say_which_monitored_certificate_is_listed(pki: LabPki) -> None:
    result = verdict(crl_der(pki, revoked=("ap1",)), pki)
    listed = {s.labels["cn"]: s.value for s in result.series if s.name == "certificate_revoked"}
    assert listed == {"smp1.edelivery.test": 0.0, "ap1.edelivery.test": 1.0}
    assert all(s.labels["serial"] for s in result.series)


def test_a_crl_number_going_backwards_is_its_own_reason(pki: LabPki) -> None:
    cache = CrlCache()
    check = params(pki)
    first = judge(fetched(crl_der(pki, number=9)), check, NOW.timestamp(), cache)
    assert first.reason is FailureReason.OK
    cache.note_number(check.url, 9)
    older = fetched(crl_der(pki, number=8), previous_number=9)
    result = judge(older, check, NOW.timestamp(), cache)
    assert result.reason is FailureReason.CRL_NUMBER_DECREASED
    assert "8 after 9" in result.detail


@pytest.mark.parametrize(
    "reason",
    [
        FailureReason.CRL_UNREACHABLE,
        FailureReason.CRL_HTTP_ERROR,
        FailureReason.CRL_TOO_LARGE,
        FailureReason.CRL_MALFORMED,
        FailureReason.INTERNAL_ERROR,
    ],
)
def test_no_fetch_failure_is_ever_reported_revoked_or_good(
    pki: LabPki, reason: FailureReason
) -> None:
    result = judge(FetchedCrl(reason, "x"), params(pki), NOW.timestamp(), CrlCache())
    assert result.reason is reason


def test_no_damaged_copy_of_a_crl_listing_a_monitored_certificate_says_revoked(
    pki: LabPki,
) -> None:
    """Every truncation and many single-bit flips: malformed or bad signature, never revoked."""
    der = crl_der(pki, revoked=("smp1",))
    damaged = [der[:cut] for cut in range(0, len(der), 3)]
    damaged += [
        der[:i] + bytes([der[i] ^ (1 << (i % 8))]) + der[i + 1 :] for i in range(0, len(der), 2)
    ]
    outcomes: set[FailureReason] = set()
    for data in damaged:
        try:
            fetch = fetched(data)
        except ValueError:
            outcomes.add(FailureReason.CRL_MALFORMED)
            continue
        result = judge(fetch, params(pki), NOW.timestamp(), CrlCache())
        if result.reason is FailureReason.CERTIFICATE_REVOKED:
            # Only a flip that leaves the signed content intact may still say revoked.
            assert fetch.crl is not None
            assert fetch.crl.tbs_certlist_bytes == parse_crl(der).tbs_certlist_bytes
        outcomes.add(result.reason)
    assert FailureReason.CRL_MALFORMED in outcomes
    assert FailureReason.CRL_BAD_SIGNATURE in outcomes


# -- configuration ---------------------------------------------------------------------


@pytest.fixture
def pem_dir(pki: LabPki, tmp_path: Path) -> Path:
    pki.write_pem_files(tmp_path)
    (tmp_path / "garbage.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n")
    return tmp_path


def test_monitored_certificates_become_one_check_per_distinct_distribution_point(
    pem_dir: Path, pki: LabPki
) -> None:
    target = CrlTarget.model_validate(
        {
            "url": pki.crl_url("root"),
            "issuer": [str(pem_dir / "root.pem"), str(pem_dir / "intermediate.pem")],
            "monitored": [
                str(pem_dir / name) for name in ("smp1.pem", "ap1.pem", "intermediate.pem")
            ],
        }
    )  # fmt: skip
    checks = list(expand_crl(target, _defaults()))
    assert [check.target for check in checks] == [
        pki.crl_url("root"),
        pki.crl_url("intermediate"),
    ]
    assert {check.kind for check in checks} == {"crl"}
    # Each certificate is watched by its own distribution point's check.
    watched = [[cert.subject.rfc4514_string() for cert in c.params.monitored] for c in checks]
    assert watched == [
        ["CN=vigie lab issuing CA,O=vigie lab"],
        ["CN=smp1.edelivery.test,O=vigie lab", "CN=ap1.edelivery.test,O=vigie lab"],
    ]


def _defaults() -> Any:
    from probes import CheckDefaults

    return CheckDefaults()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param({"issuer": "root.pem"}, "no url, and no monitored certificate", id="nothing"),
        pytest.param(
            {"monitored": "smp1.pem"}, "need an issuer to trust", id="monitored-without-issuer"
        ),
        pytest.param({"url": "ftp://x/y.crl"}, "is not an http(s) URL with a host", id="not-http"),
        pytest.param(
            {"url": "http://x/y.crl", "issuer": "missing.pem"}, "No such file", id="missing-file"
        ),
        pytest.param(
            {"url": "http://x/y.crl", "issuer": "garbage.pem"}, "garbage.pem", id="garbage-pem"
        ),
        pytest.param({"url": "http://x/y.crl", "max_size": 10}, "greater than or equal", id="cap"),
        pytest.param({"url": "http://x/y.crl", "refresh": "0s"}, "longer than 0s", id="refresh"),
        pytest.param({"url": "http://x/y.crl", "urll": "x"}, "unknown key", id="unknown-key"),
    ],
)
def test_invalid_crl_targets_are_located_errors(
    pem_dir: Path, entry: dict[str, Any], message: str
) -> None:
    def absolute(value: Any) -> Any:
        return str(pem_dir / value) if isinstance(value, str) and value.endswith(".pem") else value

    item = {key: absolute(value) for key, value in entry.items()}
    lines = ["targets:", "  crl:", "    - " + str(item).replace("'", '"')]
    with pytest.raises(ConfigError) as raised:
        parse_config("\n".join(lines))
    assert message in str(raised.value)
    assert "targets.crl[0]" in str(raised.value)


# -- the cache -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_checks_of_one_url_share_one_fetch() -> None:
    cache = CrlCache()
    release = asyncio.Event()
    calls = 0

    async def fetch() -> FetchedCrl:
        nonlocal calls
        calls += 1
        await release.wait()
        return FetchedCrl(FailureReason.OK, fetched_at=0.0)

    waiters = [asyncio.create_task(cache.get("u", 60.0, 0.0, fetch)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters)
    assert calls == 1 == cache.fetches
    assert len({id(result) for result in results}) == 1


async def test_refetches_only_after_the_refresh_interval_and_never_keeps_failures() -> None:
    cache, clock = CrlCache(), Clock()
    outcomes = [FailureReason.OK, FailureReason.CRL_UNREACHABLE, FailureReason.OK]

    def fetch() -> Awaitable[FetchedCrl]:
        async def run() -> FetchedCrl:
            return FetchedCrl(outcomes.pop(0), fetched_at=clock.now)

        return run()

    assert (await cache.get("u", 60.0, clock.now, fetch)).reason is FailureReason.OK
    clock.now += 59
    assert (await cache.get("u", 60.0, clock.now, fetch)).reason is FailureReason.OK
    assert cache.fetches == 1
    clock.now += 2
    assert (await cache.get("u", 60.0, clock.now, fetch)).reason is FailureReason.CRL_UNREACHABLE
    assert (await cache.get("u", 60.0, clock.now, fetch)).reason is FailureReason.OK
    assert cache.fetches == 3


async def test_a_waiter_that_gives_up_does_not_cancel_the_fetch_others_wait_for() -> None:
    cache = CrlCache()
    release = asyncio.Event()

    async def fetch() -> FetchedCrl:
        await release.wait()
        return FetchedCrl(FailureReason.OK, fetched_at=0.0)

    impatient = asyncio.create_task(cache.get("u", 60.0, 0.0, fetch))
    patient = asyncio.create_task(cache.get("u", 60.0, 0.0, fetch))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert (await patient).reason is FailureReason.OK
    assert cache.fetches == 1


async def test_the_cache_keeps_at_most_max_entries_urls() -> None:
    cache = CrlCache(max_entries=2)

    async def fetch() -> FetchedCrl:
        return FetchedCrl(FailureReason.OK, fetched_at=0.0)

    for url in ("a", "b", "c", "a"):
        await cache.get(url, 60.0, 1.0, fetch)
    assert cache.fetches == 4  # "a" was evicted by "c"


# -- bad input from a real server ------------------------------------------------------


class BadServer(LocalServer):
    """Serves one route per misbehaviour on 127.0.0.1, and counts requests."""

    def __init__(self, pki: LabPki) -> None:
        super().__init__()
        self.pki = pki
        self.hits = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        name = request.match_info["name"]
        der = crl_der(self.pki, revoked=("smp1",), next_update=timedelta(days=3650))
        bodies: dict[str, bytes] = {
            "good.crl": der,
            "truncated.crl": der[: len(der) // 2],
            "pem.crl": b"garbage before\n"
            + x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
            + b"garbage after\n",
            "pem-garbage.crl": b"-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n",
            "html.crl": b"<html><body>Service temporarily unavailable</body></html>",
            "empty.crl": b"",
        }
        if name in bodies:
            return web.Response(body=bodies[name], content_type="application/pkix-crl")
        if name == "missing.crl":
            raise web.HTTPNotFound()
        if name == "busy.crl":
            raise web.HTTPServiceUnavailable()
        if name == "moved.crl":
            raise web.HTTPFound("/good.crl")
        if name == "declared-50mb.crl":
            response = web.StreamResponse(headers={"Content-Length": str(50 * MIB)})
            await response.prepare(request)
            await self._stream(response, 1 * MIB)
            return response
        if name == "chunked-50mb.crl":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            await self._stream(response, 50 * MIB)
            return response
        if name == "drop.crl":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=444)
        if name == "hang.crl":
            await self.release.wait()
            return web.Response(body=der)
        raise web.HTTPNotFound()

    async def _stream(self, response: web.StreamResponse, total: int) -> None:
        chunk = b"\x30" * (256 * 1024)
        try:
            for _ in range(total // len(chunk)):
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client stopped reading at its cap, as it should


@pytest.fixture
async def bad_server(pki: LabPki) -> AsyncIterator[BadServer]:
    async with BadServer(pki) as server:
        yield server


async def run_crl(
    url: str, pki: LabPki, *, check_timeout: float = 10.0, env: ProbeEnv | None = None
) -> ProbeResult:
    check = Check("crl", "pki", url, params(pki, url), 60.0, check_timeout)
    if env is not None:
        return await probe_crl(check, env)
    async with outbound_client() as http:
        return await probe_crl(check, ProbeEnv(http=http, wall_clock=NOW.timestamp))


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        pytest.param("good.crl", FailureReason.CERTIFICATE_REVOKED, id="good-der-lists-smp1"),
        pytest.param("pem.crl", FailureReason.CERTIFICATE_REVOKED, id="pem-with-garbage-around"),
        pytest.param("truncated.crl", FailureReason.CRL_MALFORMED, id="truncated-der"),
        pytest.param("pem-garbage.crl", FailureReason.CRL_MALFORMED, id="pem-block-of-garbage"),
        pytest.param("html.crl", FailureReason.CRL_MALFORMED, id="html-error-page"),
        pytest.param("empty.crl", FailureReason.CRL_MALFORMED, id="empty-body"),
        pytest.param("missing.crl", FailureReason.CRL_HTTP_ERROR, id="404"),
        pytest.param("busy.crl", FailureReason.CRL_HTTP_ERROR, id="503"),
        pytest.param("moved.crl", FailureReason.CRL_HTTP_ERROR, id="redirect-not-followed"),
        pytest.param("declared-50mb.crl", FailureReason.CRL_TOO_LARGE, id="50mb-declared"),
        pytest.param("chunked-50mb.crl", FailureReason.CRL_TOO_LARGE, id="50mb-chunked"),
        pytest.param("drop.crl", FailureReason.CRL_UNREACHABLE, id="connection-dropped"),
    ],
)
async def test_bad_input_is_a_reason_never_a_crash(
    bad_server: BadServer, pki: LabPki, route: str, expected: FailureReason
) -> None:
    result = await run_crl(f"{bad_server.url}/{route}", pki)
    assert result.reason is expected, result.detail
    assert "fetch" in result.phases


async def test_a_hanging_distribution_point_is_unreachable_not_a_generic_timeout(
    bad_server: BadServer, pki: LabPki
) -> None:
    result = await run_crl(f"{bad_server.url}/hang.crl", pki, check_timeout=0.3)
    assert result.reason is FailureReason.CRL_UNREACHABLE
    assert "no complete answer" in result.detail


async def test_a_closed_port_is_unreachable(pki: LabPki) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await run_crl(f"http://127.0.0.1:{port}/x.crl", pki)
    assert result.reason is FailureReason.CRL_UNREACHABLE


async def test_many_checks_pointing_at_one_url_fetch_it_once_per_refresh(
    bad_server: BadServer, pki: LabPki
) -> None:
    async with outbound_client() as http:
        env = ProbeEnv(http=http, wall_clock=NOW.timestamp)
        url = f"{bad_server.url}/good.crl"
        results = await asyncio.gather(*(run_crl(url, pki, env=env) for _ in range(20)))
        results.append(await run_crl(url, pki, env=env))
    assert {result.reason for result in results} == {FailureReason.CERTIFICATE_REVOKED}
    assert bad_server.hits == 1
    assert env.crl_cache.fetches == 1
