"""The runner: runs one check with its timeout and retries, times it, records the result.

It owns what every check has in common, so probers only report what is their own: the
latest result, how runs ended, and for a check with a `Check.objective` the running
totals of its attempts (runs, good, fast, a latency histogram), a timed-out attempt
included. A prober that raises is a bug: the runner logs it and records
`internal_error`, and the other checks go on.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import structlog

from probes._base import (
    Check,
    FailureReason,
    Histogram,
    Objective,
    ProbeEnv,
    Prober,
    ProbeResult,
)

__all__ = ["LATENCY_BUCKETS", "CheckRecord", "ObjectiveTotals", "ResultBook", "Runner"]

log = structlog.get_logger("vigie.runner")

# Attempt duration buckets (seconds): loopback in a millisecond, a far endpoint in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class ObjectiveTotals:
    """Running totals of the attempts of a check with an objective, since the agent
    started (exported as counters and a histogram)."""

    runs: int = 0
    good: int = 0
    fast: int = 0  # good and within the latency objective
    # Attempts per bucket of LATENCY_BUCKETS, the last one past them all (not cumulative).
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    seconds: float = 0.0

    def add(self, good: bool, seconds: float, objective: Objective) -> None:
        self.runs += 1
        self.good += good
        self.fast += good and seconds <= objective.latency
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.seconds += seconds

    def histogram(self) -> Histogram:
        return Histogram("duration_seconds", LATENCY_BUCKETS, tuple(self.buckets), self.seconds)


@dataclass(slots=True)
class CheckRecord:
    """The latest result of one check, and how its runs have ended so far."""

    check: Check
    result: ProbeResult | None = None
    duration: float = 0.0
    finished_at: float = 0.0
    outcomes: Counter[FailureReason] = field(default_factory=Counter)
    totals: ObjectiveTotals | None = None  # for a check with an objective


class ResultBook:
    """Latest result per check. Read on every scrape; written once per run."""

    def __init__(self) -> None:
        self._records: dict[str, CheckRecord] = {}

    def register(self, check: Check) -> None:
        self._records.setdefault(check.key, CheckRecord(check))

    def record(self, check: Check, result: ProbeResult, duration: float, at: float) -> None:
        entry = self._records.get(check.key)
        if entry is None:
            entry = self._records[check.key] = CheckRecord(check)
        entry.result = result
        entry.duration = duration
        entry.finished_at = at
        entry.outcomes[result.reason] += 1

    def count_attempt(self, check: Check, good: bool, seconds: float) -> None:
        """Add one attempt of `check` to its objective's totals (a check with one only)."""
        if check.objective is None:
            return
        entry = self._records.get(check.key)
        if entry is None:
            entry = self._records[check.key] = CheckRecord(check)
        if entry.totals is None:
            entry.totals = ObjectiveTotals()
        entry.totals.add(good, seconds, check.objective)

    def get(self, key: str) -> CheckRecord | None:
        return self._records.get(key)

    def __iter__(self) -> Iterator[CheckRecord]:
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        return len(self._records)


class Runner:
    """Runs checks through the prober registered for their kind."""

    def __init__(
        self,
        probers: Mapping[str, Prober],
        env: ProbeEnv,
        book: ResultBook,
        *,
        monotonic: Callable[[], float] = time.perf_counter,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._probers = probers
        self._env = env
        self._book = book
        self._monotonic = monotonic
        self._wall_clock = wall_clock

    async def run(self, check: Check) -> ProbeResult:
        """Run `check` until it succeeds or its retries are spent; record the last result."""
        started = self._monotonic()
        result = await self._attempt(check)
        for _ in range(check.retries):
            if result.success:
                break
            result = await self._attempt(check)
        duration = self._monotonic() - started
        previous = self._book.get(check.key)
        before = None if previous is None or previous.result is None else previous.result.reason
        self._book.record(check, result, duration, self._wall_clock())
        # One event per run, carrying the check's labels: at info when the outcome changed
        # (the first run included), at debug otherwise, so a steady agent stays quiet.
        emit = log.debug if before is result.reason else log.info
        emit(
            "check",
            kind=check.kind,
            service=check.service,
            target=check.target,
            reason=str(result.reason),
            previous=None if before is None else str(before),
            duration=round(duration, 6),
            detail=result.detail or None,
        )
        return result

    async def _attempt(self, check: Check) -> ProbeResult:
        if check.objective is None:
            return await self._call(check)
        started = self._monotonic()
        result = await self._call(check)
        self._book.count_attempt(check, result.success, self._monotonic() - started)
        return result

    async def _call(self, check: Check) -> ProbeResult:
        prober = self._probers.get(check.kind)
        if prober is None:
            return ProbeResult.failure(FailureReason.INTERNAL_ERROR, f"no prober {check.kind!r}")
        try:
            async with asyncio.timeout(check.timeout):
                return await prober(check, self._env)
        except TimeoutError:
            return ProbeResult.failure(
                FailureReason.TIMEOUT, f"no result within {check.timeout:g}s"
            )
        except Exception as exc:  # a prober bug must not stop the other checks
            log.exception("prober_failed", kind=check.kind, target=check.target)
            return ProbeResult.failure(FailureReason.INTERNAL_ERROR, type(exc).__name__)
