"""The notification metrics: deliveries by sink and outcome, and the outbox backlog.

A prometheus_client Collector that reports what the worker tells it; it is registered in
the application's registry (never a global one) and never queries the database itself
(a scrape must not wait for it): the worker refreshes the backlog on each round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["OUTCOMES", "NotificationMetrics"]

OUTCOMES = ("delivered", "retried", "failed")


class NotificationMetrics(Collector):
    def __init__(self, sinks: Iterable[str] = ()) -> None:
        # Every configured sink shows zeros from the start, so rate() works at once.
        self._counts: Counter[tuple[str, str]] = Counter(
            {(sink, outcome): 0 for sink in sinks for outcome in OUTCOMES}
        )
        self._backlog: dict[str, int] = {}

    def declare(self, sinks: Iterable[str]) -> None:
        """Show zeros for `sinks` from now on (those configured once the worker starts)."""
        for sink in sinks:
            for outcome in OUTCOMES:
                self._counts.setdefault((sink, outcome), 0)

    def count(self, sink: str, outcome: str) -> None:
        if outcome in OUTCOMES:
            self._counts[sink, outcome] += 1

    def set_backlog(self, backlog: Mapping[str, int]) -> None:
        self._backlog = dict(backlog)

    def value(self, sink: str, outcome: str) -> int:
        return self._counts[sink, outcome]

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        total = CounterMetricFamily(
            "vigie_notifications",
            "Delivery attempts of notifications, by sink and outcome",
            labels=["sink", "outcome"],
        )
        for (sink, outcome), count in sorted(self._counts.items()):
            total.add_metric([sink, outcome], float(count))
        yield total
        pending = GaugeMetricFamily(
            "vigie_outbox_pending",
            "Notifications not yet delivered: unrouted, or deliveries pending or held",
            labels=["state"],
        )
        for state, count in sorted(self._backlog.items()):
            pending.add_metric([state], float(count))
        yield pending
