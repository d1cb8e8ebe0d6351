"""The scheduler: runs every check at its interval, with jitter, bounded per kind.

Due times live in one heap, so a million checks cost a million heap entries, not a
million sleeping tasks. Each check kind has a fixed pool of workers (its concurrency
limit). A check is never run twice at once: the next run is scheduled when the current
one ends, and a run that overshoots its interval skips the missed slots instead of
bunching them. It never decides what a result means; the runner does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

import structlog

from probes import Check

__all__ = [
    "Clock",
    "MonotonicClock",
    "Scheduler",
    "in_shard",
    "parse_shard",
    "stable_fraction",
]

log = structlog.get_logger("vigie.scheduler")


def stable_fraction(key: str) -> float:
    """A number in [0, 1) from `key`, the same on every machine and every run."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_shard(key: str, shard: tuple[int, int]) -> bool:
    """Whether the check `key` belongs to shard `index` of `count` (stable hash mod count)."""
    index, count = shard
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count == index


def parse_shard(text: str) -> tuple[int, int]:
    """(i, n) from "i/n", with 0 <= i < n."""
    index_text, slash, count_text = text.partition("/")
    if not slash or not index_text.isdigit() or not count_text.isdigit():
        raise ValueError(f"invalid shard {text!r}: expected I/N, for example 0/3")
    index, count = int(index_text), int(count_text)
    if count < 1 or index >= count:
        raise ValueError(f"invalid shard {text!r}: I must be between 0 and N-1")
    return index, count


class Clock(Protocol):
    """The scheduler's time, read and waited on through one object: a test gives it a clock
    that it moves by hand, and no run waits for real time."""

    def now(self) -> float:
        """Seconds since any fixed point; never goes back."""
        ...

    async def wait(self, wakeup: asyncio.Event, deadline: float | None) -> None:
        """Return once `wakeup` is set or `now()` reached `deadline` (None: no deadline),
        whichever comes first."""
        ...


class MonotonicClock:
    """`time.monotonic`, waited on with the event loop's timers."""

    def now(self) -> float:
        return time.monotonic()

    async def wait(self, wakeup: asyncio.Event, deadline: float | None) -> None:
        delay = None if deadline is None else deadline - self.now()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await wakeup.wait()


class Scheduler:
    def __init__(
        self,
        checks: Iterable[Check],
        run: Callable[[Check], Awaitable[object]],
        *,
        limits: Mapping[str, int] | Callable[[str], int],
        jitter: float = 0.1,
        initial_spread: float = 10.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._run = run
        self._limit = limits if callable(limits) else (lambda kind: limits.get(kind, 1))
        self._jitter = jitter
        self._clock = clock or MonotonicClock()
        self._rng = rng or random.Random()
        self._sequence = itertools.count()
        self._heap: list[tuple[float, int, Check]] = []
        self._queues: dict[str, asyncio.Queue[tuple[float, Check]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._wakeup = asyncio.Event()
        self._stopping = False
        self.checks: list[Check] = list(checks)
        self.running = False
        self.runs_started = 0
        # How late the last run of each kind started compared with its due time.
        self.start_delay: dict[str, float] = {}
        now = self._clock.now()
        for check in self.checks:
            # Stable offsets spread first runs evenly; every agent restart keeps the shape.
            offset = stable_fraction(check.key) * min(check.interval, initial_spread)
            self._push(now + offset, check)

    async def run(self) -> None:
        """Dispatch due checks until `stop()`; cancelled workers are awaited on the way out."""
        kinds = sorted({check.kind for check in self.checks})
        for kind in kinds:
            queue: asyncio.Queue[tuple[float, Check]] = asyncio.Queue()
            self._queues[kind] = queue
            for number in range(max(1, self._limit(kind))):
                self._tasks.append(
                    asyncio.create_task(self._worker(queue), name=f"vigie-{kind}-{number}")
                )
        self.running = True
        log.info("scheduler_started", checks=len(self.checks), kinds=kinds)
        try:
            await self._dispatch()
        finally:
            self.running = False
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def _dispatch(self) -> None:
        while not self._stopping:
            if self._heap and self._heap[0][0] <= self._clock.now():
                due, _, check = heapq.heappop(self._heap)
                self._queues[check.kind].put_nowait((due, check))
                continue
            self._wakeup.clear()
            await self._clock.wait(self._wakeup, self._heap[0][0] if self._heap else None)

    async def _worker(self, queue: asyncio.Queue[tuple[float, Check]]) -> None:
        while True:
            due, check = await queue.get()
            started = self._clock.now()
            self.start_delay[check.kind] = max(0.0, started - due)
            self.runs_started += 1
            try:
                await self._run(check)
            except Exception:  # the runner turns prober faults into results; this is a bug
                log.exception("run_failed", kind=check.kind, target=check.target)
            self._push(self._next_due(due, check), check)

    def _next_due(self, due: float, check: Check) -> float:
        spread = check.interval * self._jitter
        following = due + check.interval + self._rng.uniform(-spread, spread)
        now = self._clock.now()
        while following <= now:  # the run overshot: skip missed slots, never bunch them
            following += check.interval
        return following

    def _push(self, due: float, check: Check) -> None:
        heapq.heappush(self._heap, (due, next(self._sequence), check))
        if self._heap[0][2] is check:
            self._wakeup.set()
