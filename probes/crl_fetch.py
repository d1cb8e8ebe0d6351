"""Fetching CRLs for `probes.crl`: a capped HTTP download, DER/PEM parsing, and the cache.

The cache fetches each URL at most once per refresh interval, with one fetch in flight
however many checks ask, and never lets one check's timeout cancel a fetch others await.
Failures are values (`Fetched.reason`); nothing here decides whether a certificate is
revoked. `fetch_http` is shared with the OCSP prober.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID

from probes._base import FailureReason, ProbeEnv

__all__ = [
    "CrlCache",
    "Fetched",
    "HttpOutcome",
    "crl_cache",
    "entry_problem",
    "fetch_crl",
    "fetch_http",
    "parse_crl",
    "parse_crl_serials",
    "parse_crls",
]

MEBIBYTE = 2**20
# Parsing a CRL this large blocks the event loop for a noticeable time: do it in a thread.
THREAD_PARSE_BYTES = MEBIBYTE
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----\r?\n.*?-----END X509 CRL-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    """An HTTP exchange: `problem` is None when a 2xx body of at most the cap arrived."""

    problem: Literal["unreachable", "http_error", "too_large"] | None
    detail: str = ""
    body: bytes = b""
    duration: float = 0.0


async def fetch_http(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    max_size: int,
    budget: float,
    monotonic: Callable[[], float],
) -> HttpOutcome:
    """Send `request` and read a capped body within `budget` seconds; failures are values."""
    started = monotonic()
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(budget):
            response = await client.send(request, stream=True)
            try:
                if not 200 <= response.status_code < 300:
                    text = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                    return HttpOutcome("http_error", text, duration=monotonic() - started)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_size:
                    return _too_large(f"declares {declared} bytes", max_size)
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_size:  # closing mid-body drops the connection
                        return _too_large(f"more than {max_size} bytes", max_size)
                    chunks.append(chunk)
            finally:
                await response.aclose()
    except TimeoutError:
        return HttpOutcome("unreachable", f"no complete answer within {budget:.3g}s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return HttpOutcome("unreachable", f"{type(exc).__name__}: {exc}".rstrip(": "))
    return HttpOutcome(None, body=b"".join(chunks), duration=monotonic() - started)


def _too_large(what: str, max_size: int) -> HttpOutcome:
    return HttpOutcome("too_large", f"{what}, over the {max_size}-byte cap")


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from DER, else from the first PEM block; ValueError says why not."""
    try:
        return x509.load_der_x509_crl(data)
    except ValueError as der_error:
        block = _PEM_CRL.search(data)
        if block is None:
            raise ValueError(f"neither DER nor PEM: {der_error}") from None
        return x509.load_pem_x509_crl(block.group(0))


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """Every CRL in `data`: one DER CRL, or each PEM block; ValueError says why not."""
    blocks = _PEM_CRL.findall(data)
    if not blocks:
        return [parse_crl(data)]
    try:
        return [x509.load_pem_x509_crl(block) for block in blocks]
    except ValueError as exc:
        raise ValueError(f"malformed PEM CRL: {exc}") from None


@dataclass(frozen=True, slots=True)
class Fetched:
    """One fetch of a CRL URL, shared by every check that points at it."""

    reason: FailureReason  # OK, or why there is no CRL to judge
    detail: str = ""
    crl: x509.CertificateRevocationList | None = None
    serials: frozenset[int] = frozenset()
    size: int = 0
    duration: float = 0.0
    fetched_at: float = 0.0
    # Highest CRL number of this URL verified before this fetch (rollback detection).
    previous_number: int | None = None
    # Signature verdicts by issuer fingerprint, so N checks verify a CRL once.
    verdicts: dict[bytes, bool] = field(default_factory=dict, compare=False)
    # Why RFC 5280 forbids using any of its entries ("" when none forbids it): an entry
    # extension that is critical and not understood.
    entry_problem: str = ""


_HTTP_REASONS = {
    "unreachable": FailureReason.CRL_UNREACHABLE,
    "http_error": FailureReason.CRL_HTTP_ERROR,
    "too_large": FailureReason.CRL_TOO_LARGE,
}


async def fetch_crl(url: str, env: ProbeEnv, max_size: int, budget: float) -> Fetched:
    if env.http is None:
        return Fetched(FailureReason.INTERNAL_ERROR, "no HTTP client in the probe environment")
    try:
        request = env.http.build_request("GET", url)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Fetched(FailureReason.CRL_UNREACHABLE, f"{type(exc).__name__}: {exc}")
    outcome = await fetch_http(
        env.http, request, max_size=max_size, budget=budget, monotonic=env.monotonic
    )
    now = env.monotonic()
    if outcome.problem is not None:
        return Fetched(_HTTP_REASONS[outcome.problem], outcome.detail, fetched_at=now)
    body = outcome.body
    try:
        if len(body) > THREAD_PARSE_BYTES:
            crl, serials, problem = await asyncio.to_thread(_parse, body)
        else:
            crl, serials, problem = _parse(body)
    except ValueError as exc:
        return Fetched(FailureReason.CRL_MALFORMED, str(exc)[:200], fetched_at=now)
    return Fetched(
        FailureReason.OK, crl=crl, serials=serials, size=len(body),
        duration=outcome.duration, fetched_at=now, entry_problem=problem,
    )  # fmt: skip


def _parse(data: bytes) -> tuple[x509.CertificateRevocationList, frozenset[int], str]:
    crl, serials = parse_crl_serials(data)
    return crl, serials, entry_problem(crl)


# Entry extensions a CRL check understands (RFC 5280 5.3). certificateIssuer belongs to
# indirect CRLs, which the CRL check does not use (the whole-path verdict does).
_ENTRY_EXTENSIONS = frozenset(
    {CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE}
)


def entry_problem(crl: x509.CertificateRevocationList) -> str:
    """Why no entry of `crl` may be used: an unrecognised critical entry extension (RFC
    5280 5.3 forbids using such a CRL for any certificate), or "" when none is."""
    for entry in crl:
        try:
            extensions = entry.extensions
        except ValueError as exc:
            return f"an entry's extensions cannot be parsed: {str(exc)[:120]}"
        for extension in extensions:
            if extension.critical and extension.oid not in _ENTRY_EXTENSIONS:
                oid = extension.oid.dotted_string
                return f"entry {entry.serial_number:x} has critical extension {oid}, not understood"
    return ""


def parse_crl_serials(
    data: bytes,
) -> tuple[x509.CertificateRevocationList, frozenset[int]]:
    crl = parse_crl(data)
    # Lookups by serial in the CRL itself are linear; a set makes each one O(1). Reading
    # every entry here also surfaces damage inside the list as crl_malformed.
    serials = frozenset(entry.serial_number for entry in crl)
    if crl.next_update_utc is None:
        raise ValueError("no nextUpdate (RFC 5280 requires it)")
    return crl, serials


class CrlCache:
    """The agent's CRLs by URL: one fetch per refresh interval and one fetch in flight.

    Failed fetches are shared by the checks waiting on them but not kept, so a recovered
    distribution point is seen on the next run. At most `max_entries` URLs are kept.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self.fetches = 0  # fetches started, for tests and benchmarks
        self._entries: OrderedDict[str, Fetched] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[Fetched]] = {}
        self._highest_number: dict[str, int] = {}

    async def get(
        self, url: str, refresh: float, now: float, fetch: Callable[[], Awaitable[Fetched]]
    ) -> Fetched:
        entry = self._entries.get(url)
        if entry is not None and now - entry.fetched_at < refresh:
            self._entries.move_to_end(url)
            return entry
        task = self._in_flight.get(url)
        if task is None:
            self.fetches += 1
            task = asyncio.create_task(self._fetch(url, fetch), name=f"crl-fetch {url}")
            self._in_flight[url] = task
        # Shielded: a check that times out must not cancel the fetch others wait on.
        return await asyncio.shield(task)

    async def _fetch(self, url: str, fetch: Callable[[], Awaitable[Fetched]]) -> Fetched:
        try:
            fetched = dataclasses.replace(
                await fetch(), previous_number=self._highest_number.get(url)
            )
            if fetched.reason is FailureReason.OK:
                self._entries[url] = fetched
                self._entries.move_to_end(url)
                while len(self._entries) > self.max_entries:
                    evicted, _ = self._entries.popitem(last=False)
                    self._highest_number.pop(evicted, None)
            else:
                self._entries.pop(url, None)
            return fetched
        finally:
            del self._in_flight[url]

    def note_number(self, url: str, number: int) -> None:
        """Remember a verified CRL number, so that a later, lower one is noticed."""
        self._highest_number[url] = max(number, self._highest_number.get(url, number))


def crl_cache(env: ProbeEnv) -> CrlCache:
    cache = env.caches.get("crl")
    if not isinstance(cache, CrlCache):
        cache = env.caches["crl"] = CrlCache()
    return cache
