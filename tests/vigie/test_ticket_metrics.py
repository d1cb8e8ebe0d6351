"""The ticket metrics: every bounded label set from the first scrape, zeros included (a
rate or a ratio needs a series before the first event), and the snapshot's counts."""

from __future__ import annotations

from collections import Counter
from unittest.mock import MagicMock

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ticket_sink.reports import TicketSnapshot
from vigie.ticket_metrics import TicketCollector


def scrape(snapshot: TicketSnapshot | None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    pump = MagicMock()
    pump.snapshot = snapshot
    pump.dropped = 0
    pump.correlator.received = Counter({"probe": 3})
    registry = CollectorRegistry()
    registry.register(TicketCollector(pump))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_before_the_first_sweep_the_bounded_series_are_zero() -> None:
    samples = scrape(None)
    sla = {key: v for key, v in samples.items() if key[0] == "vigie_ticket_sla_total"}
    assert len(sla) == 4 * 2 * 2
    assert set(sla.values()) == {0.0}
    breached = [v for (name, _), v in samples.items() if name == "vigie_ticket_sla_breached"]
    assert breached == [0.0] * 8
    levels = {
        dict(labels)["level"]
        for (name, labels) in samples
        if name == "vigie_ticket_escalations_total"
    }
    assert levels == {"2", "3", "4"}
    assert samples["vigie_alerts_received_total", (("source", "probe"),)] == 3.0
    assert samples["vigie_ticket_time_to_acknowledge_seconds_count", (("severity", "1"),)] == 0


def test_the_snapshot_counts_and_resolutions_of_every_kind_created() -> None:
    snapshot = TicketSnapshot(created=Counter({("2", "incident", "sml"): 5}))
    snapshot.sla[("2", "response", "met")] = 4
    samples = scrape(snapshot)
    labels = (("service", "sml"), ("severity", "2"), ("type", "incident"))
    assert samples["vigie_tickets_created_total", labels] == 5.0
    assert samples["vigie_tickets_resolved_total", labels] == 0.0
    met = (("clock", "response"), ("outcome", "met"), ("severity", "2"))
    assert samples["vigie_ticket_sla_total", met] == 4.0
