"""An alert storm: 10,000 participant alerts under one failing name server, and the zone
sweep's alert for the zone, through the correlator and the outbox worker, make one
notification per sink, not 10,000 (nor two)."""

from __future__ import annotations

import httpx
import pytest

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.decide import Topology
from correlator.rules import Alert
from tests.support import SteppedClock
from ticket_sink import Store
from ticket_sink.model import Severity
from ticket_sink.outbound import OutboxWorker, build_sinks
from ticket_sink.sla import default_policy

from .outbox_data import T0, webhooks
from .receivers import receiver

PARTICIPANTS = 10_000


def alert(target: str, **labels: str) -> Alert:
    merged = {
        "alertname": "DnsLookupFailed",
        "kind": "dns_participant",
        "service": "sml",
        "target": target,
        **labels,
    }
    return Alert(merged, {"summary": "x"}, Severity.MAJOR, T0, None)


@pytest.mark.timeout(600)
async def test_an_alert_storm_makes_one_notification_per_sink(
    store: Store, clock: SteppedClock
) -> None:
    participants = [f"p{i}@zone" for i in range(PARTICIPANTS)]
    # The SML zone's dependencies (vigie.correlation_config.sml_edges): the name server
    # and every participant depend on the zone, every participant on the name server.
    edges = [("zone", "zone@ns1")]
    edges += [(parent, node) for node in participants for parent in ("zone", "zone@ns1")]
    topology = Topology.from_edges(edges)
    correlator = Correlator(
        store, default_policy(), CorrelationPolicy(topology=topology, group_by=())
    )
    await correlator.ingest([alert("zone@ns1", kind="dns_soa", alertname="SoaFailed")])
    await correlator.ingest([alert(node) for node in participants])
    clock.advance(seconds=10)  # the sweep's batch of lookups ends a little later
    sweep = alert("zone", kind="dns_sweep", alertname="ParticipantLookupFailed")
    assert (await correlator.ingest([sweep])).counts == {"created": 1}
    clock.advance(minutes=1)  # past the group wait
    async with receiver() as a, receiver() as b, receiver() as c, httpx.AsyncClient() as http:
        config = webhooks(a.url, b.url, c.url)
        worker = OutboxWorker(store, config, build_sinks(config, http))
        assert await worker.run_once() == 3
    for sink in (a, b, c):
        (request,) = sink.requests
        body = request.json()
        assert body["event"] == "created"
        # The zone leads: its name server's ticket, and every participant's, hang under it.
        assert body["ticket"]["labels"]["target"] == "zone"
        assert body["children"] == PARTICIPANTS + 1
