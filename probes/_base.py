"""Types every prober shares: the check, its result, the failure reasons, the environment.

A prober is `async def probe(check, env) -> ProbeResult`. A target's failure is data (a
`ProbeResult` with a `FailureReason`), never an exception; exceptions out of a prober are
bugs, and the runner turns them into `internal_error` results. Probers never touch the
metrics registry: the runner and the collector own metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx

__all__ = [
    "Check",
    "CheckDefaults",
    "FailureReason",
    "PhaseTimer",
    "ProbeEnv",
    "ProbeResult",
    "Prober",
    "Series",
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
    # -- SML participant lookups, zone health and sweeps (probes/dns.py) --
    # -- SMP metadata (probes/smp.py) --
    # -- certificates and chains (probes/x509.py) --
    # -- CRLs and OCSP (probes/crl.py, probes/ocsp.py) --


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
    # What the check found that other checks build on (SMP URLs from the SML, endpoint
    # certificates from SMP metadata). Kept with the latest result, never exported.
    artifacts: Mapping[str, Any] = field(default_factory=dict)

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


@dataclass(frozen=True, slots=True)
class ProbeEnv:
    """Injected dependencies of probers: nothing here is global, so tests swap any part."""

    # Where a DNS query for a zone goes when no name server is configured: (host, port).
    resolver: tuple[str, int] | None = None
    # The process's one outbound HTTP client (limits, timeouts, TLS settings set once);
    # probers that speak HTTP use it and never create their own.
    http: httpx.AsyncClient | None = None
    # -- shared state of prober families (caches), one object per agent --
    monotonic: Callable[[], float] = time.perf_counter
    wall_clock: Callable[[], float] = time.time


class Prober(Protocol):
    def __call__(self, check: Check, env: ProbeEnv) -> Awaitable[ProbeResult]: ...
