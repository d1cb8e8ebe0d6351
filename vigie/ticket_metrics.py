"""The `vigie_ticket*` metrics: a collector that yields fresh families on each scrape from
the latest ticket snapshot (taken by the correlator's sweep, never by the scrape itself,
so a slow database never slows /metrics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from ticket_sink.reports import TicketSnapshot
from vigie.correlation import AlertPump

__all__ = ["TicketCollector"]

# Every value of the bounded labels starts at zero (dicts, not Counter's `|`, which drops
# zeros), as Prometheus advises for known label
# sets: a rate or a ratio over them then has data before the first event.
_SEVERITIES = ("1", "2", "3", "4")
_CLOCKS = ("response", "resolution")
_ZERO_SLA = Counter(
    {(s, c, o): 0 for s in _SEVERITIES for c in _CLOCKS for o in ("met", "breached")}
)
_ZERO_BREACHED = Counter({(s, c): 0 for s in _SEVERITIES for c in _CLOCKS})
_ZERO_ESCALATIONS = Counter({str(level): 0 for level in (2, 3, 4)})
_ZERO_SUMS = {severity: (0.0, 0) for severity in _SEVERITIES}


class TicketCollector(Collector):
    def __init__(self, pump: AlertPump) -> None:
        self._pump = pump

    def collect(self) -> Iterator[Metric]:
        pump = self._pump
        received = CounterMetricFamily(
            "vigie_alerts_received", "Alerts received by the correlator", labels=["source"]
        )
        for source, count in sorted(pump.correlator.received.items()):
            received.add_metric([source], float(count))
        yield received
        yield CounterMetricFamily(
            "vigie_alerts_dropped",
            "Alerts dropped while the store could not take them",
            value=float(pump.dropped),
        )
        # Before the first sweep: the families with their zero series, so dashboards and
        # rules see every name from the first scrape.
        snap = pump.snapshot or TicketSnapshot()
        open_ = GaugeMetricFamily(
            "vigie_tickets_open",
            "Unclosed tickets",
            labels=["severity", "state", "type", "service", "role"],
        )
        for open_key, open_count in sorted(snap.open.items()):
            open_.add_metric(list(open_key), float(open_count))
        yield open_
        info = GaugeMetricFamily(
            "vigie_ticket_info",
            "The most urgent open master tickets (at most 50), 1 each",
            labels=["id", "title", "severity", "state", "service", "escalation_level"],
        )
        for row in snap.info:
            info.add_metric(list(row), 1.0)
        yield info
        for name, text, counts in (
            ("vigie_tickets_created", "Tickets created", snap.created),
            # Every kind of ticket created shows its resolutions, zero included.
            (
                "vigie_tickets_resolved",
                "Tickets resolved",
                {**dict.fromkeys(snap.created, 0), **snap.resolved},
            ),
        ):
            family = CounterMetricFamily(name, text, labels=["severity", "type", "service"])
            for count_key, n in sorted(counts.items()):
                family.add_metric(list(count_key), float(n))
            yield family
        for name, text, sums in (
            (
                "vigie_ticket_time_to_acknowledge_seconds",
                "Time from creation to acknowledgement, of acknowledged tickets",
                snap.acknowledge_seconds,
            ),
            (
                "vigie_ticket_time_to_resolve_seconds",
                "Time from creation to resolution, of resolved tickets",
                snap.resolve_seconds,
            ),
        ):
            # A summary without quantiles: _sum and _count, so MTTA = sum / count.
            summary = SummaryMetricFamily(name, text, labels=["severity"])
            for severity, (seconds, tickets) in sorted((_ZERO_SUMS | sums).items()):
                summary.add_metric([severity], count_value=tickets, sum_value=seconds)
            yield summary
        sla = CounterMetricFamily(
            "vigie_ticket_sla",
            "SLA clocks that stopped in time (met) or ran over (breached)",
            labels=["severity", "clock", "outcome"],
        )
        for sla_key, n in sorted({**_ZERO_SLA, **snap.sla}.items()):
            sla.add_metric(list(sla_key), float(n))
        yield sla
        breached = GaugeMetricFamily(
            "vigie_ticket_sla_breached",
            "Open master tickets whose SLA clock is breached now",
            labels=["severity", "clock"],
        )
        for breach_key, n in sorted({**_ZERO_BREACHED, **snap.sla_breached_open}.items()):
            breached.add_metric(list(breach_key), float(n))
        yield breached
        escalations = CounterMetricFamily(
            "vigie_ticket_escalations", "Escalations, by the level reached", labels=["level"]
        )
        for level, n in sorted({**_ZERO_ESCALATIONS, **snap.escalations}.items()):
            escalations.add_metric([level], float(n))
        yield escalations
