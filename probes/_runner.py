"""The runner: runs one check with its timeout and retries, times it, records the result.

It owns what every check has in common, so probers only report what is their own. A
prober that raises is a bug: the runner logs it and records `internal_error`, and the
other checks go on.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import structlog

from probes._base import Check, FailureReason, ProbeEnv, Prober, ProbeResult

__all__ = ["CheckRecord", "ResultBook", "Runner"]

log = structlog.get_logger("vigie.runner")


@dataclass(slots=True)
class CheckRecord:
    """The latest result of one check, and how its runs have ended so far."""

    check: Check
    result: ProbeResult | None = None
    duration: float = 0.0
    finished_at: float = 0.0
    outcomes: Counter[FailureReason] = field(default_factory=Counter)


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
