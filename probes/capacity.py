"""Endpoint capacity: a bounded burst, its latency percentiles, and a verdict.

Not a load test of production: on a schedule much rarer than the availability checks
(hourly by default), a burst of at most `concurrency` workers, `duration` seconds and
`rate` requests/s — all three capped here, with gentle defaults. First a few sequential
requests give the single-request baseline; then the burst ramps its concurrency in steps
(K/4, K/2, K; `ramp: false` runs K alone) over the duration. From the last step:
p50/p95/p99 (from the raw latencies), error and overload ratios, throughput, and the
ratio of its p50 to the baseline. The verdict (`classify`, a pure function):

- `saturated`: at least `overload_ratio` of the answers are 429 or 503, or the last ramp
  step's throughput grew by less than `plateau_growth` of its concurrency's growth while
  its p50 rose by at least `latency_climb` times (and our own rate cap was not the limit);
- `degraded`: otherwise, p95 above `max_p95` or an error ratio above `max_error_ratio`;
- `healthy`: otherwise.

Requests go through `probes.http_burst`, never through httpx (see there why). This
module never raises for a target's fault and never touches the metrics registry.
"""

from __future__ import annotations

import ssl
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import Field, field_validator

from probes._base import (
    Check,
    CheckDefaults,
    FailureReason,
    Findings,
    ProbeEnv,
    ProbeResult,
    Series,
)
from probes._config import TargetBase
from probes.certs import CertificateParseError, CertificatesPath, read_certificates
from probes.http_burst import TRANSPORT_ERROR, BurstTarget, Sample, run_burst
from vocab import CheckUrl, PositiveDuration, StrictModel

__all__ = [
    "LIMITS",
    "CapacityFindings",
    "CapacityState",
    "CapacityTarget",
    "StepStats",
    "Thresholds",
    "classify",
    "expand_capacity",
    "probe_capacity",
    "step_stats",
]


@dataclass(frozen=True, slots=True)
class _Limits:
    concurrency: int = 64
    duration: float = 60.0
    rate: float = 500.0


LIMITS = _Limits()  # the most any configuration may ask for
BASELINE_REQUESTS = 5
_ERRORS_TO_REASONS = {
    "refused": FailureReason.CONNECTION_REFUSED,
    "timeout": FailureReason.TIMEOUT,
    "tls": FailureReason.TLS_HANDSHAKE_FAILED,
    "malformed": FailureReason.MALFORMED_RESPONSE,
    "too_large": FailureReason.HTTP_TOO_LARGE,
}


class CapacityState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    SATURATED = "saturated"


class Thresholds(StrictModel):
    """Where healthy ends (the defaults suit an SMP or Access Point health URL)."""

    max_p95: PositiveDuration = Field(0.5, description="degraded: burst p95 above this")
    max_error_ratio: float = Field(
        0.01, ge=0, le=1, description="degraded: more answers than this not 2xx/3xx"
    )
    overload_ratio: float = Field(
        0.01, ge=0, le=1, description="saturated: at least this share of answers 429/503"
    )
    plateau_growth: float = Field(
        0.25,
        ge=0,
        le=1,
        description="saturated: throughput grew by less than this share of the "
        "concurrency's growth in the last ramp step...",
    )
    latency_climb: float = Field(
        1.5, ge=1, description="...while its p50 grew at least this many times"
    )


class CapacityTarget(TargetBase):
    """A bounded burst against one endpoint, on a rare schedule."""

    interval: PositiveDuration | None = Field(
        3600.0, description="time between two bursts (rarer than the availability checks)"
    )
    url: CheckUrl = Field(description="the http(s) URL to GET during the burst")
    name: str | None = Field(None, description="the target label; unset: the URL")
    concurrency: int = Field(4, ge=1, le=LIMITS.concurrency, description="K concurrent")
    duration: PositiveDuration = Field(5.0, description=f"at most T (≤ {LIMITS.duration:g}s)")
    rate: float = Field(20.0, gt=0, le=LIMITS.rate, description="at most R requests/s")
    max_requests: int = Field(10_000, ge=1, le=100_000, description="at most this many")
    request_timeout: PositiveDuration = Field(5.0, description="time limit of one request")
    ramp: bool = Field(True, description="ramp K/4, K/2, K; false: K for the whole burst")
    ca_file: CertificatesPath | None = Field(
        None, description="CA certificates for TLS (private PKI)"
    )
    max_body: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="bytes")
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @field_validator("duration")
    @classmethod
    def _short(cls, value: float) -> float:
        if value > LIMITS.duration:
            raise ValueError(f"at most {LIMITS.duration:g}s")
        return value


@dataclass(frozen=True, slots=True)
class CapacityParams:
    target: BurstTarget | str  # a string: why no burst can be made (unreadable CA file)
    concurrency: int
    duration: float
    rate: float
    max_requests: int
    ramp: bool
    thresholds: Thresholds


def expand_capacity(target: CapacityTarget, defaults: CheckDefaults) -> Iterator[Check]:
    timing = target.timing(defaults)
    # The burst, the baseline and the last requests in flight must all fit in one run.
    needed = target.duration + (BASELINE_REQUESTS + 2) * target.request_timeout
    yield Check(
        kind="capacity",
        service="endpoint",
        target=target.name or target.url,
        params=CapacityParams(
            target=_burst_target(target),
            concurrency=target.concurrency,
            duration=target.duration,
            rate=target.rate,
            max_requests=target.max_requests,
            ramp=target.ramp,
            thresholds=target.thresholds,
        ),
        interval=timing.interval,
        timeout=max(timing.timeout, needed),
        retries=0,  # a second burst right after the first would only add load
    )


def _burst_target(target: CapacityTarget) -> BurstTarget | str:
    context = None
    if target.ca_file is not None:
        try:
            certificates = read_certificates(target.ca_file)
        except CertificateParseError as exc:
            return f"ca_file {target.ca_file}: {exc}"
        pem = "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)
        context = ssl.create_default_context(cadata=pem)
    return BurstTarget.of(
        target.url, context, max_body=target.max_body, timeout=target.request_timeout
    )


@dataclass(frozen=True, slots=True)
class StepStats:
    """One burst step's figures (latencies in seconds, over answers with a status)."""

    concurrency: int
    requests: int
    throughput: float
    p50: float
    p95: float
    p99: float
    error_ratio: float
    overload_ratio: float
    rate_limited: bool


@dataclass(frozen=True, slots=True)
class CapacityFindings(Findings):
    """Each step of the burst, in the order run."""

    steps: tuple[StepStats, ...]


def step_stats(concurrency: int, samples: Sequence[Sample], wall: float, rate: float) -> StepStats:
    answered = sorted(s.latency for s in samples if s.status != TRANSPORT_ERROR)
    count = len(samples)
    bad = sum(1 for s in samples if not 200 <= s.status < 400)
    overloaded = sum(1 for s in samples if s.status in {429, 503})
    throughput = count / wall if wall > 0 else 0.0
    return StepStats(
        concurrency=concurrency,
        requests=count,
        throughput=throughput,
        p50=_quantile(answered, 0.50),
        p95=_quantile(answered, 0.95),
        p99=_quantile(answered, 0.99),
        error_ratio=bad / count if count else 1.0,
        overload_ratio=overloaded / count if count else 0.0,
        rate_limited=throughput >= 0.9 * rate,
    )


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values (what wrk and most load tools report)."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q)
    return ordered[int(rank) - 1]


def classify(steps: Sequence[StepStats], thresholds: Thresholds) -> tuple[CapacityState, str]:
    """The verdict on a burst, from its steps (last = full concurrency), and why."""
    last = steps[-1]
    overload = max(step.overload_ratio for step in steps)
    if overload > 0 and overload >= thresholds.overload_ratio:
        return CapacityState.SATURATED, f"{overload:.0%} of answers were 429/503"
    if all(step.error_ratio > thresholds.max_error_ratio for step in steps):
        # Failing at every load, the lightest included: the endpoint is broken, and how
        # fast it fails says nothing of its capacity (a busy prober could pass for a
        # plateau).
        return CapacityState.DEGRADED, (
            f"{last.error_ratio:.1%} of answers not 2xx/3xx, at every concurrency"
        )
    if len(steps) >= 2:
        before = steps[-2]
        if before.throughput > 0 and before.p50 > 0 and not last.rate_limited:
            growth = last.concurrency / before.concurrency - 1
            gained = last.throughput / before.throughput - 1
            climb = last.p50 / before.p50
            if gained < thresholds.plateau_growth * growth and climb >= thresholds.latency_climb:
                return CapacityState.SATURATED, (
                    f"concurrency {before.concurrency}->{last.concurrency}: throughput "
                    f"{before.throughput:.0f}->{last.throughput:.0f}/s, p50 x{climb:.1f}"
                )
    if last.p95 > thresholds.max_p95:
        return CapacityState.DEGRADED, f"p95 {last.p95 * 1000:.0f} ms > {thresholds.max_p95:g}s"
    if last.error_ratio > thresholds.max_error_ratio:
        return CapacityState.DEGRADED, f"{last.error_ratio:.1%} of answers not 2xx/3xx"
    return CapacityState.HEALTHY, ""


def _concurrency_steps(concurrency: int, ramp: bool) -> list[int]:
    if not ramp:
        return [concurrency]
    return sorted({max(1, concurrency // 4), max(1, concurrency // 2), concurrency})


async def probe_capacity(check: Check, env: ProbeEnv) -> ProbeResult:
    params: CapacityParams = check.params
    if isinstance(params.target, str):
        return ProbeResult.failure(FailureReason.TLS_HANDSHAKE_FAILED, params.target)
    target = params.target
    baseline, _ = await run_burst(
        target,
        concurrency=1,
        duration=BASELINE_REQUESTS * target.request_timeout,
        rate=params.rate,
        max_requests=BASELINE_REQUESTS,
        clock=env.monotonic,
    )
    failed = [sample for sample in baseline if sample.status == TRANSPORT_ERROR]
    if len(failed) == len(baseline):
        error = failed[0].error if failed else "timeout"
        reason = _ERRORS_TO_REASONS.get(error, FailureReason.NETWORK_ERROR)
        return ProbeResult.failure(reason, f"baseline request failed: {error}")
    baseline_p50 = statistics.median(s.latency for s in baseline if s.status != TRANSPORT_ERROR)
    levels = _concurrency_steps(params.concurrency, params.ramp)
    steps: list[StepStats] = []
    phases: dict[str, float] = {}
    for level in levels:
        samples, wall = await run_burst(
            target,
            concurrency=level,
            duration=params.duration / len(levels),
            rate=params.rate,
            max_requests=max(1, params.max_requests // len(levels)),
            clock=env.monotonic,
        )
        steps.append(step_stats(level, samples, wall, params.rate))
        phases[f"burst_c{level}"] = wall
    state, why = classify(steps, params.thresholds)
    return _result(state, why, steps, baseline_p50, phases)


def _result(
    state: CapacityState,
    why: str,
    steps: list[StepStats],
    baseline: float,
    phases: dict[str, float],
) -> ProbeResult:
    last = steps[-1]
    values = {
        "latency_p50_seconds": last.p50,
        "latency_p95_seconds": last.p95,
        "latency_p99_seconds": last.p99,
        "error_ratio": last.error_ratio,
        "overload_ratio": last.overload_ratio,
        "throughput_requests_per_second": last.throughput,
        "baseline_latency_seconds": baseline,
        "latency_to_baseline_ratio": last.p50 / baseline if baseline > 0 else 0.0,
        "concurrency": float(last.concurrency),
        "requests": float(sum(step.requests for step in steps)),
    }
    series = tuple(
        Series("state", {"state": str(each)}, 1.0 if each is state else 0.0)
        for each in CapacityState
    )
    reason = {
        CapacityState.HEALTHY: FailureReason.OK,
        CapacityState.DEGRADED: FailureReason.CAPACITY_DEGRADED,
        CapacityState.SATURATED: FailureReason.CAPACITY_SATURATED,
    }[state]
    return ProbeResult(
        reason,
        why,
        phases=phases,
        values=values,
        series=series,
        findings=CapacityFindings(tuple(steps)),
    )
