"""The agent's own metrics (vigie_*), next to the probes' (probe_*), in one registry.

The registry is created per application, never global, so each test gets a fresh one.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from probes import ProbeCollector, ResultBook
from vigie import __version__
from vigie.scheduler import Scheduler

__all__ = ["build_registry"]


class AgentCollector(Collector):
    """What the agent itself is doing: configured checks, scheduling lag, build."""

    def __init__(self, scheduler_ref: list[Scheduler], shard: tuple[int, int]) -> None:
        # A one-element list: the scheduler is created after the registry, at start-up.
        self._scheduler_ref = scheduler_ref
        self._shard = shard

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        yield InfoMetricFamily(
            "vigie_build",
            "vigie's version and the Python running it",
            value={"version": __version__, "python": platform.python_version()},
        )
        shard = GaugeMetricFamily(
            "vigie_shard", "Which shard of the targets this agent runs", labels=["index", "count"]
        )
        shard.add_metric([str(self._shard[0]), str(self._shard[1])], 1.0)
        yield shard
        if not self._scheduler_ref:
            return
        scheduler = self._scheduler_ref[0]
        checks = GaugeMetricFamily(
            "vigie_checks", "Checks scheduled by this agent, by kind", labels=["kind"]
        )
        for kind, count in sorted(Counter(check.kind for check in scheduler.checks).items()):
            checks.add_metric([kind], float(count))
        yield checks
        delay = GaugeMetricFamily(
            "vigie_check_start_delay_seconds",
            "How late the last run of a kind started after its due time (saturation)",
            labels=["kind"],
        )
        for kind, seconds in sorted(scheduler.start_delay.items()):
            delay.add_metric([kind], seconds)
        yield delay
        yield CounterMetricFamily(
            "vigie_check_runs",
            "Check runs started since the agent started",
            value=float(scheduler.runs_started),
        )
        yield GaugeMetricFamily(
            "vigie_scheduler_running",
            "1 while the scheduler dispatches checks",
            value=1.0 if scheduler.running else 0.0,
        )


def build_registry(
    book: ResultBook, scheduler_ref: list[Scheduler], shard: tuple[int, int]
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(ProbeCollector(book))
    registry.register(AgentCollector(scheduler_ref, shard))
    return registry
