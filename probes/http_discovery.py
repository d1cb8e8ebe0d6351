"""Endpoints from discovery: availability of the SMPs and Access Points other checks found.

Checks are expanded once at start-up, but the URLs to watch here are only known once the
SML checks (`ParticipantFindings.smp_url`) and the SMP checks (`SmpFindings.endpoints`,
each with its Access Point `url`) have run. So discovery is one check of its own: each run
reads the latest findings through a read-only view the agent puts in
`ProbeEnv.findings` (`findings_view(book)`: a function, so this module never holds the
book nor sees anything but findings), takes at most `max` distinct
URLs in a stable order, and probes each with the `http` prober's own fetch, a few at a
time. Per-URL series stay within `max` (a cardinality budget, as the SML sweep's); what
lies beyond it is only counted. The alternative, adding checks to the scheduler at run
time, would make the check set change under the scheduler and the shard split.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from probes._base import (
    Check,
    CheckDefaults,
    FailureReason,
    Findings,
    FindingsView,
    ProbeEnv,
    ProbeResult,
    Series,
)
from probes._config import TargetBase
from probes.certs import CertificatesPath
from probes.dns_participant import ParticipantFindings
from probes.http import HttpParams, Objectives, fetch_and_judge
from probes.smp import SmpFindings
from vocab import http_url

__all__ = [
    "FindingsView",
    "HttpDiscoveryTarget",
    "discovered_urls",
    "expand_http_discovery",
    "findings_view",
    "probe_http_discovery",
]

MAX_DISCOVERED = 500
_IN_FLIGHT = 8


def findings_view(records: Iterable[Any]) -> FindingsView:
    """The view of a `ResultBook` (anything iterating over records with .check/.result)."""

    def view() -> Iterator[Findings]:
        for record in records:
            if record.result is not None and record.result.findings is not None:
                yield record.result.findings

    return view


class HttpDiscoveryTarget(TargetBase):
    """Watch the SMPs the SML points to and the Access Points SMP metadata names."""

    smp: bool = Field(True, description="SMP URLs found by the SML participant checks")
    smp_path: str = Field(
        "", description="appended to each SMP URL (e.g. /monitor/is-alive); empty: the URL"
    )
    access_points: bool = Field(True, description="Access Point URLs found in SMP metadata")
    max: int = Field(50, ge=1, le=MAX_DISCOVERED, description="most URLs watched (a budget)")
    ca_file: CertificatesPath | None = Field(
        None, description="CA certificates for TLS (private PKI)"
    )
    valid_status_codes: list[int] = Field(
        default_factory=list,
        description="statuses that count as up; empty: any 2xx (an AS4 URL often answers "
        "GET with 405: list it here)",
    )
    objectives: Objectives = Field(
        default_factory=Objectives,
        description="of the check's runs: a run is good when every watched URL is up, and "
        "its latency is the whole run's",
    )


@dataclass(frozen=True, slots=True)
class DiscoveryParams:
    target: HttpDiscoveryTarget


def expand_http_discovery(target: HttpDiscoveryTarget, defaults: CheckDefaults) -> Iterator[Check]:
    timing = target.timing(defaults)
    sources = "+".join(
        name for name, on in (("smp", target.smp), ("ap", target.access_points)) if on
    )
    yield Check(
        kind="http_discovery",
        service="endpoint",
        target=f"discovered:{sources or 'none'}",
        params=DiscoveryParams(target),
        interval=timing.interval,
        timeout=timing.timeout,
        retries=timing.retries,
        objective=target.objectives.objective(),
    )


def discovered_urls(view: FindingsView, target: HttpDiscoveryTarget) -> list[str]:
    """Every distinct http(s) URL the findings name, sorted (so the budget is stable)."""
    found: set[str] = set()
    for findings in view():
        if target.smp and isinstance(findings, ParticipantFindings) and findings.smp_url:
            found.add(findings.smp_url.rstrip("/") + target.smp_path)
        if target.access_points and isinstance(findings, SmpFindings):
            found.update(endpoint.url for endpoint in findings.endpoints)
    valid = set()
    for url in found:
        try:
            valid.add(http_url(url))
        except ValueError:
            continue
    return sorted(valid)


async def probe_http_discovery(check: Check, env: ProbeEnv) -> ProbeResult:
    target: HttpDiscoveryTarget = check.params.target
    view = env.findings
    if view is None:
        return ProbeResult.failure(
            FailureReason.INTERNAL_ERROR, "no findings view in the probe environment"
        )
    urls = discovered_urls(view, target)
    watched = urls[: target.max]
    gate = asyncio.Semaphore(_IN_FLIGHT)
    # Each URL gets an equal share of the run's time, so one stalled URL cannot starve
    # the others; the runner's timeout bounds the whole.
    share = check.timeout * _IN_FLIGHT / max(_IN_FLIGHT, len(watched)) * 0.9

    async def one(url: str) -> tuple[str, ProbeResult, float]:
        async with gate:
            params = HttpParams(
                url=url,
                valid_status_codes=frozenset(target.valid_status_codes),
                body_regex=None,
                json_path=None,
                json_value=None,
                xml_path=None,
                ca_file=target.ca_file,
                verify=True,
                http2=False,
                keep_alive=False,
                max_redirects=3,
                max_body=64 * 1024,
            )
            started = env.monotonic()
            try:
                async with asyncio.timeout(share):
                    result = await fetch_and_judge(params, env, share)
            except TimeoutError:
                result = ProbeResult.failure(FailureReason.TIMEOUT, f"no answer in {share:.1f}s")
            return url, result, env.monotonic() - started

    outcomes = await asyncio.gather(*(one(url) for url in watched))
    series: list[Series] = []
    reasons: Counter[FailureReason] = Counter()
    for url, result, seconds in outcomes:
        reasons[result.reason] += 1
        series.append(Series("endpoint_up", {"endpoint": url}, float(result.success)))
        series.append(Series("endpoint_duration_seconds", {"endpoint": url}, seconds))
    failing = {reason: count for reason, count in reasons.items() if reason is not FailureReason.OK}
    values = {
        "discovered": float(len(urls)),
        "watched": float(len(watched)),
        "over_budget": float(len(urls) - len(watched)),
        "failing": float(sum(failing.values())),
    }
    if failing:
        worst = max(failing, key=lambda reason: failing[reason])
        detail = ", ".join(f"{reason} {count}" for reason, count in sorted(failing.items()))
        return ProbeResult.failure(
            worst, f"{sum(failing.values())} of {len(watched)} failing: {detail}",
            values=values, series=tuple(series),
        )  # fmt: skip
    return ProbeResult(FailureReason.OK, values=values, series=tuple(series))
