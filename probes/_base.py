"""Types every prober shares: the check, its result, the failure reasons, the environment.

A prober is `async def probe(check, env) -> ProbeResult`. A target's failure is data (a
`ProbeResult` with a `FailureReason`), never an exception; exceptions out of a prober are
bugs, and the runner turns them into `internal_error` results. Probers never touch the
metrics registry: the runner and the collector own metrics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from probes.crl_cache import CrlCache
    from probes.endpoint_clients import EndpointClients

__all__ = [
    "HIDDEN",
    "Check",
    "CheckDefaults",
    "FailureReason",
    "Findings",
    "FindingsView",
    "Histogram",
    "Objective",
    "PhaseTimer",
    "ProbeEnv",
    "ProbeResult",
    "Prober",
    "Series",
    "to_plain",
]


class FailureReason(StrEnum):
    """Why a check failed (or `ok`). A small, stable set: these are metric label values.

    Later probers add their members here, so the whole vocabulary stays in one place.
    """

    OK = "ok"
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    NETWORK_ERROR = "network_error"
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    NODATA = "nodata"
    NOT_AUTHORITATIVE = "not_authoritative"
    MALFORMED_RESPONSE = "malformed_response"
    TRUNCATED_NO_TCP = "truncated_no_tcp"
    DNS_ERROR = "dns_error"
    INTERNAL_ERROR = "internal_error"
    # -- SML participant lookups, zone health and sweeps (probes/dns_*.py) --
    NO_META_SMP_RECORD = "no_meta_smp_record"  # NAPTRs, but none U + Meta:SMP
    MALFORMED_RECORD = "malformed_record"  # a NAPTR/CNAME that does not give an SMP
    WRONG_SMP = "wrong_smp"  # the participant points to another SMP than expected
    SERIAL_MISMATCH = "serial_mismatch"  # the zone's name servers serve different serials
    # -- SMP metadata (probes/smp_run.py) --
    SMP_HTTP_ERROR = "smp_http_error"  # an HTTP status other than 200 and 404
    SMP_SATURATED = "smp_saturated"  # 429, or 503 with Retry-After: overloaded, not broken
    SMP_NOT_FOUND = "smp_not_found"  # 404: participant or document type not there
    SMP_NOT_XML = "smp_not_xml"  # an HTML page, JSON, a non-XML content type
    SMP_MALFORMED_XML = "smp_malformed_xml"  # not well-formed, a DOCTYPE, not an SMP document
    SMP_UNSUPPORTED_FORMAT = "smp_unsupported_format"  # an SMP format vigie does not read
    SMP_TOO_LARGE = "smp_too_large"  # an answer longer than max_body
    SMP_REDIRECT_LOOP = "smp_redirect_loop"  # a URL seen twice, too many, a Redirect to a Redirect
    SMP_BAD_SIGNATURE = "smp_bad_signature"  # unsigned, or the signature does not verify
    SMP_SIGNER_EXPIRED = "smp_signer_expired"  # the signer is outside its validity period
    SMP_UNTRUSTED_SIGNER = "smp_untrusted_signer"  # not chaining to the anchors, or not as named
    SMP_NO_ENDPOINT = "smp_no_endpoint"  # metadata without an endpoint
    SMP_WRONG_METADATA = "smp_wrong_metadata"  # signed metadata of another participant/type
    SMP_UNHEALTHY = "smp_unhealthy"  # the implementation's health URL says it is not fine
    # -- certificates and chains (probes/x509.py) --
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"
    CERT_MALFORMED = "cert_malformed"
    CERT_EXPIRED = "cert_expired"
    CERT_NOT_YET_VALID = "cert_not_yet_valid"
    CHAIN_UNTRUSTED = "chain_untrusted"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    WEAK_KEY = "weak_key"
    WEAK_SIGNATURE = "weak_signature"
    CERT_EXPIRING = "cert_expiring"
    # -- CRLs and OCSP (probes/crl.py, probes/ocsp.py) --
    CRL_UNREACHABLE = "crl_unreachable"  # timeout, refused, dropped: never read as revoked
    CRL_HTTP_ERROR = "crl_http_error"  # the distribution point answered non-2xx
    CRL_TOO_LARGE = "crl_too_large"  # the body passed the size cap (download stopped)
    CRL_MALFORMED = "crl_malformed"  # neither DER nor PEM, truncated, no nextUpdate
    CRL_BAD_SIGNATURE = "crl_bad_signature"  # no configured issuer verifies it
    CRL_NUMBER_DECREASED = "crl_number_decreased"  # an older CRL than one already seen
    CRL_STALE = "crl_stale"  # outside thisUpdate..nextUpdate
    CRL_EXPIRING = "crl_expiring"  # nextUpdate within the warning margin
    CRL_UNUSABLE = (
        "crl_unusable"  # RFC 5280 forbids using it: critical extension, delta, no cRLSign
    )
    CRL_NOT_AUTHORITATIVE = "crl_not_authoritative"  # cannot speak for a monitored certificate
    REVOCATION_UNDETERMINED = "revocation_undetermined"  # no usable CRL/OCSP for a path's element
    CERTIFICATE_REVOKED = "revoked"  # by a verified CRL or OCSP answer (the kind says which)
    OCSP_UNREACHABLE = "ocsp_unreachable"
    OCSP_HTTP_ERROR = "ocsp_http_error"
    OCSP_MALFORMED = "ocsp_malformed"  # not an OCSP response, or too large
    OCSP_TRY_LATER = "ocsp_try_later"
    OCSP_UNAUTHORIZED = "ocsp_unauthorized"
    OCSP_ERROR = "ocsp_error"  # malformedRequest, internalError, sigRequired
    OCSP_WRONG_CERTIFICATE = "ocsp_wrong_certificate"  # answers for another certificate
    OCSP_BAD_SIGNATURE = "ocsp_bad_signature"  # neither the issuer nor a delegate it signed
    OCSP_STALE = "ocsp_stale"  # outside thisUpdate..nextUpdate
    OCSP_UNKNOWN = "ocsp_unknown"  # the responder does not know the certificate
    # -- HTTP endpoints and capacity (probes/http.py, probes/capacity.py) --
    HTTP_STATUS = "http_status"  # a status code outside the expected ones
    HTTP_BODY_MISMATCH = "http_body_mismatch"  # the body fails its regex, JSON or XML check
    HTTP_TOO_LARGE = "http_too_large"  # an answer longer than max_body (download stopped)
    HTTP_REDIRECT_LOOP = "http_redirect_loop"  # a URL seen twice, or more than max_redirects
    CAPACITY_DEGRADED = "capacity_degraded"  # a burst missed its latency or error targets
    CAPACITY_SATURATED = "capacity_saturated"  # throughput plateaued as latency rose, or 429/503


@dataclass(frozen=True, slots=True)
class Objective:
    """A check's service objectives. The runner counts its runs, good runs and good runs
    within `latency`, and times them into a histogram; the collector exports those and
    these targets as `probe_<kind>_*` series, so availability and error-budget burn are
    plain PromQL."""

    availability: float  # share of runs that must succeed over `window`
    latency: float  # seconds: a good run within this long is fast enough
    latency_ratio: float  # share of runs that must be fast enough
    window: float  # seconds


@dataclass(frozen=True, slots=True)
class Check:
    """One thing to probe on a schedule.

    `kind`, `service` and `target` become the labels of its metrics, so they must be
    stable and low-cardinality; `key` identifies the check across restarts and machines
    (it is what sharding hashes).
    """

    kind: str
    service: str
    target: str
    params: Any
    interval: float
    timeout: float
    retries: int = 0
    objective: Objective | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}"


@dataclass(frozen=True, slots=True)
class CheckDefaults:
    """What a target inherits when it does not set its own."""

    interval: float = 60.0
    timeout: float = 10.0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    """One labelled sample a prober reports, exported as `probe_<kind>_<name>{labels}`.

    Its labels join the check's own (kind, service, target); keep them bounded (a name
    server, a reason, a certificate serial of a monitored certificate), never free text.
    Every series of one name must carry the same label names.
    """

    name: str
    labels: Mapping[str, str]
    value: float
    # A running total since the agent started (exported as a counter, `_total` appended)
    # rather than a gauge; every series of one name must agree.
    counter: bool = False


@dataclass(frozen=True, slots=True)
class Histogram:
    """A distribution a prober reports, exported as the histogram `probe_<kind>_<name>`
    with the check's labels only: a running total since the agent started."""

    name: str
    bounds: tuple[float, ...]  # the buckets' upper bounds, ascending (+Inf is implied)
    counts: tuple[int, ...]  # observations per bucket, not cumulative: one more than bounds
    sum: float


# Field metadata of a finding kept for the checks that build on it but never shown
# (certificate bytes, parsed objects): `field(metadata=HIDDEN)`.
HIDDEN: Mapping[str, bool] = {"shown": False}


class Findings:
    """What a check found: each prober's own frozen dataclass subclasses this one.

    Consumers import the producer's class and read its fields (never a key in a dict).
    `document()` is the JSON form (`vigie probe --json`, the diagnosis): dates as ISO 8601,
    enums by value, nested dataclasses as objects; `lines()` the human one.
    """

    __slots__ = ()

    def document(self) -> dict[str, Any]:
        return _plain_fields(self)

    def lines(self) -> list[str]:
        out = []
        for name, value in self.document().items():
            if value in (None, "", [], {}):
                continue
            if isinstance(value, list):
                out.append(f"{name}:")
                out.extend(f"  - {_one_line(item)}" for item in value)
            else:
                out.append(f"{name}: {_one_line(value)}")
        return out


def _plain_fields(value: Any) -> dict[str, Any]:
    return {
        item.name: to_plain(getattr(value, item.name))
        for item in dataclasses.fields(value)
        if item.metadata.get("shown", True)
    }


def to_plain(value: Any) -> Any:
    """`value` as JSON types: dataclasses as objects, dates ISO 8601, enums by value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain_fields(value)
    if isinstance(value, tuple | list | frozenset | set):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    return str(value)


def _one_line(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(
            f"{key} {_one_line(item)}" for key, item in value.items() if item not in (None, "", [])
        )
    if isinstance(value, list):
        return "; ".join(_one_line(item) for item in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one run of a check found."""

    reason: FailureReason
    detail: str = ""
    phases: Mapping[str, float] = field(default_factory=dict)
    # Numeric facts of the prober's own, exported as probe_<kind>_<name> gauges.
    values: Mapping[str, float] = field(default_factory=dict)
    # Facts that need labels of their own (per name server, per certificate, per reason).
    series: tuple[Series, ...] = ()
    histograms: tuple[Histogram, ...] = ()
    # What the check found, typed by its prober: shown to people, and what other checks
    # build on (the SMP URL from the SML, endpoint certificates from SMP metadata). Kept
    # with the latest result, never exported as metrics.
    findings: Findings | None = None

    @property
    def success(self) -> bool:
        return self.reason is FailureReason.OK

    @classmethod
    def failure(cls, reason: FailureReason, detail: str, **kwargs: Any) -> ProbeResult:
        return cls(reason=reason, detail=detail, **kwargs)


class PhaseTimer:
    """Measures consecutive phases of one probe run (resolve, connect, tls, ...)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._mark = clock()
        self.phases: dict[str, float] = {}

    def lap(self, phase: str) -> float:
        now = self._clock()
        elapsed = now - self._mark
        self.phases[phase] = self.phases.get(phase, 0.0) + elapsed
        self._mark = now
        return elapsed


# The latest findings of every check that has a result (the consumer tells them apart by
# their class).
FindingsView = Callable[[], Iterable[Findings]]


def _crl_cache() -> CrlCache:
    from probes.crl_cache import CrlCache  # the state's modules are loaded when first made

    return CrlCache()


def _endpoint_clients() -> EndpointClients:
    from probes.endpoint_clients import EndpointClients

    return EndpointClients()


@dataclass(frozen=True, slots=True)
class ProbeEnv:
    """Injected dependencies of probers: nothing here is global, so tests swap any part.

    The agent makes one per process and closes it (`aclose`) when it stops; the shared
    state below is made empty with it, and a test that builds its own gets its own.
    """

    # Where a DNS query for a zone goes when no name server is configured: (host, port).
    resolver: tuple[str, int] | None = None
    # The process's one outbound HTTP client (limits, timeouts, TLS settings set once);
    # probers that speak HTTP use it and never create their own.
    http: httpx.AsyncClient | None = None
    # What requests a prober sends on its own connections (the fresh-connection GET of
    # `probes.http_fast`) say they are; the agent gives the shared client's User-Agent.
    user_agent: str = "vigie"
    # -- state shared by the checks of one agent --
    # CRLs by URL: one fetch per refresh interval however many checks read one.
    crl_cache: CrlCache = field(default_factory=_crl_cache)
    # Clients and TLS settings by trust, HTTP/2 and keep-alive (the endpoint and SMP checks).
    clients: EndpointClients = field(default_factory=_endpoint_clients)
    # Every check's latest findings (`probes.http_discovery.findings_view` of the agent's
    # result book), for checks that build on what others found; None: there is no agent.
    findings: FindingsView | None = None
    monotonic: Callable[[], float] = time.perf_counter
    wall_clock: Callable[[], float] = time.time

    async def aclose(self) -> None:
        """Close what the shared state holds open: the CRL fetches in flight, then the
        kept connections of clients."""
        await self.crl_cache.aclose()
        await self.clients.aclose()


class Prober(Protocol):
    def __call__(self, check: Check, env: ProbeEnv) -> Awaitable[ProbeResult]: ...
