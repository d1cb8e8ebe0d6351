"""The scheduler runs each check at its interval, within its kind's concurrency, never
twice at once, and stops promptly; shards split checks the same way on every machine."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from probes import Check
from vigie.scheduler import MonotonicClock, Scheduler, in_shard, parse_shard, stable_fraction

# Guards against a hang, never an assertion on how long something took.
DEADLINE_SECONDS = 5.0
# How many times the loop lets every ready task run before the clock moves on: more than
# the steps from a due time to a run's first wait (dispatch, queue, worker, run).
SETTLE_STEPS = 20


def make_check(target: str, kind: str = "k", interval: float = 0.02) -> Check:
    return Check(kind, "test", target, None, interval=interval, timeout=interval)


class VirtualClock:
    """The scheduler's clock in these tests: time moves only when the test moves it, so
    every interval and run time is exact and nothing waits for real time."""

    def __init__(self, now: float = 1000.0) -> None:
        self._now = now
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    async def wait(self, wakeup: asyncio.Event, deadline: float | None) -> None:
        if deadline is not None and deadline <= self._now:
            return
        woken = asyncio.ensure_future(wakeup.wait())
        waits: set[asyncio.Future[Any]] = {woken}
        if deadline is not None:
            waits.add(self._timer(deadline))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def sleep(self, seconds: float) -> None:
        timer = self._timer(self._now + seconds)
        try:
            await timer
        finally:
            timer.cancel()

    def move_to(self, moment: float) -> None:
        """Time is now `moment` (never back): what waited until then wakes."""
        self._now = max(self._now, moment)
        while self._timers and self._timers[0][0] <= self._now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.done():
                timer.set_result(None)

    def move_to_next(self) -> None:
        """Time moves to the next moment something waits for, if anything does."""
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)
        if self._timers:
            self.move_to(self._timers[0][0])

    async def run_until(self, condition: Callable[[], bool]) -> None:
        """Let the tasks run, moving time on whenever they have all settled, until
        `condition` holds."""
        async with asyncio.timeout(DEADLINE_SECONDS):
            while not condition():
                for _ in range(SETTLE_STEPS):
                    await asyncio.sleep(0)
                if not condition():
                    self.move_to_next()

    def _timer(self, deadline: float) -> asyncio.Future[None]:
        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (deadline, next(self._sequence), timer))
        return timer


class Recorder:
    """The run callback: records runs and what was in flight; each run lasts `hold`
    seconds of the clock."""

    def __init__(
        self, clock: VirtualClock, hold: float = 0.0, failing: frozenset[str] = frozenset()
    ) -> None:
        self.clock = clock
        self.hold = hold
        self.failing = failing
        self.order: list[str] = []
        self.runs: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()  # by kind
        self.most_in_flight: Counter[str] = Counter()  # by kind
        self.overlaps: list[str] = []
        self._running: set[str] = set()

    async def __call__(self, check: Check) -> None:
        if check.target in self._running:
            self.overlaps.append(check.target)
        self._running.add(check.target)
        self.order.append(check.target)
        self.in_flight[check.kind] += 1
        self.most_in_flight[check.kind] = max(
            self.most_in_flight[check.kind], self.in_flight[check.kind]
        )
        try:
            await self.clock.sleep(self.hold)
        finally:
            self.in_flight[check.kind] -= 1
            self._running.discard(check.target)
            self.runs[check.target] += 1
        if check.target in self.failing:
            raise RuntimeError(f"bug while running {check.target}")

    async def until(self, condition: Callable[[Recorder], bool]) -> None:
        await self.clock.run_until(lambda: condition(self))


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(scheduler.run())
    try:
        yield task
    finally:
        scheduler.stop()
        async with asyncio.timeout(DEADLINE_SECONDS):
            await task


def scheduler_for(checks: list[Check], recorder: Recorder, **options: object) -> Scheduler:
    options.setdefault("limits", {"k": 4})
    options.setdefault("initial_spread", 0.0)
    return Scheduler(checks, recorder, clock=recorder.clock, **options)  # type: ignore[arg-type]


async def test_checks_run_at_their_interval() -> None:
    recorder = Recorder(VirtualClock())
    fast = make_check("fast", interval=0.01)
    slow = make_check("slow", interval=3600.0)
    scheduler = scheduler_for([fast, slow], recorder)

    async with running(scheduler):
        await recorder.until(lambda r: r.runs["fast"] >= 5)
        assert scheduler.running

    # The slow check ran once, at start, while the fast one ran again and again.
    assert recorder.runs["slow"] == 1
    assert scheduler.runs_started >= 6
    assert not scheduler.running


async def test_first_runs_are_spread_in_a_stable_order() -> None:
    recorder = Recorder(VirtualClock())
    # stable_fraction: k:a 0.39, k:b 0.68, k:g 0.94 of the initial spread.
    checks = [make_check(name, interval=60.0) for name in ("g", "b", "a")]
    scheduler = scheduler_for(checks, recorder, initial_spread=0.3)

    async with running(scheduler):
        await recorder.until(lambda r: len(r.order) == 3)

    assert recorder.order == ["a", "b", "g"]


async def test_concurrency_per_kind_is_never_exceeded() -> None:
    recorder = Recorder(VirtualClock(), hold=0.005)
    checks = [make_check(f"dns-{n}", kind="dns_soa", interval=0.01) for n in range(8)]
    checks += [make_check(f"http-{n}", kind="http", interval=0.01) for n in range(3)]
    limits = {"dns_soa": 3, "http": 1}
    scheduler = scheduler_for(checks, recorder, limits=limits.__getitem__)

    async with running(scheduler):
        await recorder.until(lambda r: r.runs.total() >= 60)

    assert recorder.most_in_flight == limits


async def test_unlisted_kind_runs_one_at_a_time() -> None:
    recorder = Recorder(VirtualClock(), hold=0.005)
    scheduler = scheduler_for(
        [make_check(f"c{n}", kind="other") for n in range(4)], recorder, limits={}
    )

    async with running(scheduler):
        await recorder.until(lambda r: r.runs.total() >= 12)

    assert recorder.most_in_flight == {"other": 1}


async def test_a_check_never_overlaps_itself() -> None:
    # Each run takes longer than the interval, and free workers are waiting.
    recorder = Recorder(VirtualClock(), hold=0.03)
    scheduler = scheduler_for([make_check("slow-run", interval=0.005)], recorder)

    async with running(scheduler):
        await recorder.until(lambda r: r.runs["slow-run"] >= 4)

    assert recorder.overlaps == []


async def test_a_run_that_raises_does_not_stop_the_others() -> None:
    recorder = Recorder(VirtualClock(), failing=frozenset({"broken"}))
    checks = [make_check("broken"), make_check("healthy")]
    scheduler = scheduler_for(checks, recorder, limits={"k": 1})

    with capture_logs() as logs:
        async with running(scheduler):
            await recorder.until(lambda r: min(r.runs["broken"], r.runs["healthy"]) >= 3)

    failures = [entry for entry in logs if entry["event"] == "run_failed"]
    assert len(failures) >= 3
    assert {entry["target"] for entry in failures} == {"broken"}


async def test_stop_ends_run_and_cancels_runs_in_flight() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def run_forever(check: Check) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    scheduler = Scheduler([make_check("stuck")], run_forever, limits={"k": 1}, initial_spread=0)
    task = asyncio.create_task(scheduler.run())
    async with asyncio.timeout(DEADLINE_SECONDS):
        await started.wait()

        scheduler.stop()
        await task

    assert cancelled.is_set()
    assert not scheduler.running


@pytest.mark.parametrize(
    "checks",
    [
        pytest.param([], id="no-checks"),
        pytest.param([make_check("later", interval=3600.0)], id="next-run-far-away"),
    ],
)
async def test_stop_wakes_an_idle_scheduler(checks: list[Check]) -> None:
    recorder = Recorder(VirtualClock())
    scheduler = Scheduler(checks, recorder, limits={"k": 1}, initial_spread=3600.0)
    task = asyncio.create_task(scheduler.run())
    async with asyncio.timeout(DEADLINE_SECONDS):
        while not scheduler.running:  # noqa: ASYNC110 - a flag, not an event; under a deadline
            await asyncio.sleep(0)
        scheduler.stop()
        await task
    assert recorder.runs.total() == 0


async def test_the_monotonic_clock_waits_for_the_wakeup_or_the_deadline() -> None:
    clock = MonotonicClock()
    wakeup = asyncio.Event()
    async with asyncio.timeout(DEADLINE_SECONDS):
        await clock.wait(wakeup, clock.now() - 1.0)  # a deadline already passed
        wakeup.set()
        await clock.wait(wakeup, None)
        await clock.wait(wakeup, clock.now() + 3600.0)


# --- when the next run is due (virtual clock, fake randomness) ------------------------


class ExtremeRandom(random.Random):
    """`uniform` returns one end of its range: the largest jitter either way."""

    def __init__(self, end: str) -> None:
        super().__init__(0)
        self.end = end

    def uniform(self, a: float, b: float) -> float:
        return a if self.end == "low" else b


async def run_starts(
    count: int, *, lasting: float, interval: float, jitter: float, rng: random.Random
) -> list[float]:
    """When the first `count` runs of one check start, the first due at 1000.0 and each
    run lasting `lasting` seconds."""
    clock = VirtualClock(1000.0)
    starts: list[float] = []

    async def run(check: Check) -> None:
        starts.append(clock.now())
        clock.move_to(clock.now() + lasting)

    check = make_check("c", interval=interval)
    scheduler = Scheduler(
        [check], run, limits={}, jitter=jitter, initial_spread=0.0, clock=clock, rng=rng
    )
    async with running(scheduler):
        await clock.run_until(lambda: len(starts) >= count)
    return starts[:count]


async def next_due(*, now: float, interval: float, jitter: float, rng: random.Random) -> float:
    """When a check runs again whose run was due at 1000.0 and ended at `now`."""
    first, second = await run_starts(
        2, lasting=now - 1000.0, interval=interval, jitter=jitter, rng=rng
    )
    assert first == 1000.0
    return second


@pytest.mark.parametrize(
    ("end", "jitter", "expected"),
    [
        pytest.param("low", 0.1, 1054.0, id="shortest"),
        pytest.param("high", 0.1, 1066.0, id="longest"),
        pytest.param("low", 0.5, 1030.0, id="shortest-at-most-jitter"),
        pytest.param("high", 0.0, 1060.0, id="no-jitter"),
    ],
)
async def test_jitter_extremes(end: str, jitter: float, expected: float) -> None:
    assert await next_due(
        now=1000.5, interval=60.0, jitter=jitter, rng=ExtremeRandom(end)
    ) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(20))
async def test_jitter_stays_within_bounds(seed: int) -> None:
    """Each of 100 runs in a row, lasting a second, is followed by the next 48 to 72
    seconds after it started."""
    starts = await run_starts(101, lasting=1.0, interval=60.0, jitter=0.2, rng=random.Random(seed))
    for started, following in itertools.pairwise(starts):
        assert 48.0 <= following - started <= 72.0


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(1059.0, 1060.0, id="on-time"),
        pytest.param(1060.0, 1120.0, id="ended-at-next-slot"),
        pytest.param(1200.5, 1240.0, id="overshot-three-slots"),
    ],
)
async def test_overshooting_run_skips_missed_slots(now: float, expected: float) -> None:
    due = await next_due(now=now, interval=60.0, jitter=0.0, rng=random.Random(0))
    assert due == expected


# --- shards --------------------------------------------------------------------------

KEYS = [f"dns_soa:zone{n}.example@192.0.2.{n % 250}:53" for n in range(10_000)]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_shards_partition_every_key_exactly_once_and_evenly(count: int) -> None:
    sizes: Counter[int] = Counter()
    for key in KEYS:
        owners = [index for index in range(count) if in_shard(key, (index, count))]
        assert len(owners) == 1, key
        sizes[owners[0]] += 1
    expected = len(KEYS) / count
    assert set(sizes) == set(range(count))
    assert all(abs(size - expected) <= 0.15 * expected for size in sizes.values()), sizes


# Computed once; a change here moves checks between agents at the next upgrade.
STABLE = [
    pytest.param(
        "dns_soa:acc.edelivery.tech.ec.europa.eu@resolver", 0.008904775433352857, 1, 2, id="acc"
    ),
    pytest.param(
        "dns_soa:edelivery.tech.ec.europa.eu@10.0.0.1:53", 0.005493610283701813, 0, 1, id="prod"
    ),
    pytest.param(
        "dns_soa:participant.sml.prod.tech.peppol.org@resolver",
        0.6391920050385107,
        0,
        6,
        id="peppol",
    ),
]


@pytest.mark.parametrize(("key", "fraction", "of_three", "of_seven"), STABLE)
def test_hashing_is_the_same_on_every_machine(
    key: str, fraction: float, of_three: int, of_seven: int
) -> None:
    assert stable_fraction(key) == fraction
    assert in_shard(key, (of_three, 3))
    assert in_shard(key, (of_seven, 7))


@settings(database=None, max_examples=50)
@given(st.text())
def test_stable_fraction_is_in_unit_interval(key: str) -> None:
    assert 0.0 <= stable_fraction(key) < 1.0


@pytest.mark.parametrize(
    ("text", "shard"),
    [
        pytest.param("0/1", (0, 1), id="everything"),
        pytest.param("2/3", (2, 3), id="last-of-three"),
        pytest.param("0/16", (0, 16), id="first-of-sixteen"),
    ],
)
def test_parse_shard(text: str, shard: tuple[int, int]) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("3", "expected I/N, for example 0/3", id="no-slash"),
        pytest.param("a/b", "expected I/N", id="not-numbers"),
        pytest.param("-1/2", "expected I/N", id="negative"),
        pytest.param("1/", "expected I/N", id="no-count"),
        pytest.param("/2", "expected I/N", id="no-index"),
        pytest.param("", "expected I/N", id="empty"),
        pytest.param("3/3", "I must be between 0 and N-1", id="index-too-high"),
        pytest.param("0/0", "I must be between 0 and N-1", id="zero-shards"),
    ],
)
def test_parse_shard_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_shard(text)
    assert repr(text) in str(caught.value)
