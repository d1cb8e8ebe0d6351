"""Capacity bursts against a local server throttled to N in flight with a fixed service time.

Service times are 50-100 ms and the verdicts rest on ratios (throughput doubling or not,
p50 doubling or not), so a loaded 2-core machine does not change them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ResultBook, Runner
from probes.capacity import (
    CapacityState,
    CapacityTarget,
    StepStats,
    Thresholds,
    classify,
    expand_capacity,
    step_stats,
)
from probes.http_burst import Sample


@dataclass
class Throttle:
    """At most `slots` requests served at once, each for `service` s; others queue."""

    slots: int
    service: float
    status: int = 200
    url: str = ""

    def __post_init__(self) -> None:
        self._gate = asyncio.Semaphore(self.slots)

    async def handle(self, request: web.Request) -> web.Response:
        async with self._gate:
            await asyncio.sleep(self.service)
        return web.Response(status=self.status, text="ok\n")


@pytest.fixture
async def serve() -> AsyncIterator[object]:
    runners: list[web.AppRunner] = []

    async def start(throttle: Throttle) -> Throttle:
        app = web.Application()
        app.router.add_get("/", throttle.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        throttle.url = f"http://{host}:{port}/"
        return throttle

    yield start
    for runner in runners:
        await runner.cleanup()


async def burst(url: str, **settings: object) -> tuple[FailureReason, str, dict[str, float]]:
    target = CapacityTarget.model_validate({"url": url, **settings})
    (check,) = expand_capacity(target, CheckDefaults())
    result = await Runner(PROBERS, ProbeEnv(), ResultBook()).run(check)
    return result.reason, result.detail, dict(result.values)


GENTLE = {"concurrency": 8, "duration": 1.5, "rate": 400}


@pytest.mark.parametrize(
    ("slots", "service", "settings", "expected"),
    [
        pytest.param(64, 0.05, {}, FailureReason.OK, id="under-capacity-healthy"),
        pytest.param(
            64,
            0.1,
            {"thresholds": {"max_p95": "50ms"}},
            FailureReason.CAPACITY_DEGRADED,
            id="latency-target-missed-degraded",
        ),
        pytest.param(2, 0.05, {}, FailureReason.CAPACITY_SATURATED, id="plateau-saturated"),
        pytest.param(
            2,
            0.05,
            {"rate": 10},
            FailureReason.OK,
            id="our-rate-cap-is-not-a-plateau",
        ),
    ],
)
async def test_verdicts_on_a_throttled_server(
    serve: object,
    slots: int,
    service: float,
    settings: dict[str, object],
    expected: FailureReason,
) -> None:
    throttle = await serve(Throttle(slots, service))  # type: ignore[operator]
    reason, detail, values = await burst(throttle.url, **{**GENTLE, **settings})
    assert reason is expected, detail
    assert values["requests"] > 0
    assert values["latency_p50_seconds"] >= service


async def test_429_answers_are_saturation(serve: object) -> None:
    throttle = await serve(Throttle(64, 0.0, status=429))  # type: ignore[operator]
    reason, detail, values = await burst(throttle.url, **GENTLE)
    assert reason is FailureReason.CAPACITY_SATURATED
    assert "429/503" in detail
    assert values["overload_ratio"] == 1.0


async def test_a_closed_port_is_refused_before_any_burst() -> None:
    reason, detail, _ = await burst("http://127.0.0.1:9/", concurrency=2, duration=1)
    assert reason is FailureReason.CONNECTION_REFUSED
    assert "baseline" in detail


def stats(concurrency: int, throughput: float, p50: float, **more: float) -> StepStats:
    base = {"p95": p50, "p99": p50, "error_ratio": 0.0, "overload_ratio": 0.0}
    return StepStats(
        concurrency,
        100,
        throughput,
        p50,
        rate_limited=bool(more.pop("rate_limited", 0)),
        **{**base, **more},  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        pytest.param([stats(2, 40, 0.05), stats(4, 80, 0.05)], "healthy", id="linear"),
        pytest.param([stats(2, 40, 0.05), stats(4, 42, 0.1)], "saturated", id="plateau"),
        pytest.param(
            [stats(2, 40, 0.05), stats(4, 42, 0.1, rate_limited=1)], "healthy", id="our-cap"
        ),
        pytest.param([stats(2, 40, 0.05), stats(4, 44, 0.06)], "healthy", id="flat-latency"),
        pytest.param([stats(4, 80, 0.6, p95=0.7)], "degraded", id="slow"),
        pytest.param([stats(4, 80, 0.01, error_ratio=0.2)], "degraded", id="errors"),
        pytest.param([stats(4, 80, 0.01, overload_ratio=0.05)], "saturated", id="503s"),
    ],
)
def test_classify(steps: list[StepStats], state: str) -> None:
    assert classify(steps, Thresholds())[0] is CapacityState(state)


def test_percentiles_are_nearest_rank_over_answers_only() -> None:
    samples = [Sample(i / 1000, 200) for i in range(1, 101)] + [Sample(9.0, 0, "reset")]
    figures = step_stats(4, samples, wall=1.0, rate=1000)
    assert (figures.p50, figures.p95, figures.p99) == (0.05, 0.095, 0.099)
    assert figures.requests == 101
    assert figures.error_ratio == pytest.approx(1 / 101)
