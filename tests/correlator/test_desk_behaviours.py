"""What a service desk expects when people act on a ticket whose alert still fires, played
on a simulated clock through the correlator and the service layer every interface uses
(docs/tickets.md, "When people act on an alert's ticket"):

- closed while firing: the next firing occurrence (Alertmanager re-sends a firing alert
  with the same `startsAt`) opens a new ticket that refers to the closed one;
- resolved by hand while firing: refused, naming the alerts that fire; once they clear,
  the resolution is accepted;
- the zone sweep's alert, on the same node as the zone's health alert, hangs under the
  zone's master: one incident, one page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.rules import Alert
from tests.support import SteppedClock
from ticket_sink import Store, schema
from ticket_sink.lifecycle import Action
from ticket_sink.model import CloseReason, Severity
from ticket_sink.service import Refused, TicketService
from ticket_sink.sla import default_policy
from vigie.config import parse_config
from vigie.correlation_config import sml_edges

from .conftest import T0
from .test_regional_desk import LABELS

PARTICIPANT = "iso6523-actorid-upis::0088:1"


def firing(starts: datetime = T0, **labels: str) -> Alert:
    return Alert({**LABELS, **labels}, {}, Severity.MAJOR, starts)


def recovered(ends: datetime, starts: datetime = T0, **labels: str) -> Alert:
    return Alert({**LABELS, **labels}, {}, Severity.MAJOR, starts, ends)


async def all_rows(store: Store, table: sa.Table) -> list[sa.Row[tuple[object, ...]]]:
    """Every row of `table`, oldest first (tickets by creation, notifications by time)."""
    order = table.c.created_at if table is schema.tickets else table.c.at
    async with store.transaction(write=False) as tx:
        return list((await tx.connection.execute(sa.select(table).order_by(order))).all())


async def test_closed_while_firing_the_next_occurrence_opens_a_ticket_referring_to_it(
    store: Store, clock: SteppedClock
) -> None:
    driver = Correlator(store, default_policy(), CorrelationPolicy(group_by=()))
    desk = TicketService(store)
    (first,) = (await driver.ingest([firing()], source="alertmanager")).created
    clock.at(minutes=5)
    # Re-sent while the ticket is open: the episode is recorded, nothing changes (and the
    # correlator now knows it without reading the store).
    assert (await driver.ingest([firing()])).counts == {"unchanged": 1}
    assert (await driver.ingest([firing()])).counts == {"unchanged": 1}

    clock.at(minutes=10)
    await desk.transition(first, Action.ACKNOWLEDGE, actor="alice")
    await desk.transition(first, Action.CLOSE, actor="alice", reason=CloseReason.WITHDRAWN)

    clock.at(minutes=15)  # Alertmanager re-sends the alert, still firing since T0
    result = await driver.ingest([firing()], source="alertmanager")
    (second,) = result.created
    clock.at(minutes=20)
    assert (await driver.ingest([firing()])).counts == {"unchanged": 1}

    by_id = {row.id: row for row in await all_rows(store, schema.tickets)}
    assert set(by_id) == {first, second}
    assert (by_id[first].state, by_id[first].close_reason) == ("closed", "withdrawn")
    assert by_id[second].state == "new"
    assert by_id[second].refers_to == first
    assert by_id[second].created_at == T0 + timedelta(minutes=15)
    assert by_id[second].last_seen == T0  # the same episode, now on a live ticket
    assert [(n.ticket_id, n.event) for n in await all_rows(store, schema.outbox)] == [
        (first, "created"),
        (second, "created"),
    ]


async def test_a_close_long_after_the_only_batch_is_still_seen(
    store: Store, clock: SteppedClock
) -> None:
    """The correlator looks for closes only when a batch holds an alert it knows; the look
    then reaches back to its first batch, however many batches of unknown alerts passed."""
    driver = Correlator(store, default_policy(), CorrelationPolicy(group_by=()))
    desk = TicketService(store)
    (first,) = (await driver.ingest([firing()])).created
    for minutes in (20, 40):  # other alerts only: nothing known, no look
        clock.at(minutes=minutes)
        await driver.ingest([firing(target=f"other-{minutes}")])
    clock.at(minutes=50)
    await desk.transition(first, Action.CLOSE, actor="alice", reason=CloseReason.DUPLICATE)
    clock.at(hours=3)
    await driver.ingest([firing(target="other-60")])
    clock.at(hours=4)
    (second,) = (await driver.ingest([firing()])).created
    (row,) = [row for row in await all_rows(store, schema.tickets) if row.id == second]
    assert row.refers_to == first


async def test_closed_while_firing_then_recovered_opens_nothing(
    store: Store, clock: SteppedClock
) -> None:
    driver = Correlator(store, default_policy(), CorrelationPolicy(group_by=()))
    desk = TicketService(store)
    (first,) = (await driver.ingest([firing()])).created
    clock.at(minutes=10)
    await desk.transition(first, Action.CLOSE, actor="alice", reason=CloseReason.INVALID)
    clock.at(minutes=12)
    assert (await driver.ingest([recovered(clock.now)])).counts == {"recovered": 1}
    # The old episode heard of again (a late copy): the problem is over, no ticket.
    assert (await driver.ingest([firing()])).counts == {"unchanged": 1}
    assert len(await all_rows(store, schema.tickets)) == 1
    # A new episode is a new problem: a new ticket that refers to the closed one.
    clock.at(minutes=30)
    (second,) = (await driver.ingest([firing(clock.now)])).created
    (row,) = [row for row in await all_rows(store, schema.tickets) if row.id == second]
    assert row.refers_to == first


async def test_resolving_by_hand_while_the_alert_fires_is_refused_until_it_clears(
    store: Store, clock: SteppedClock
) -> None:
    driver = Correlator(store, default_policy(), CorrelationPolicy(group_by=()))
    desk = TicketService(store)
    (ticket,) = (await driver.ingest([firing()])).created
    clock.at(minutes=5)
    await desk.transition(ticket, Action.ACKNOWLEDGE, actor="alice")
    with pytest.raises(Refused, match="resolve is refused while its alert still fires"):
        await desk.transition(ticket, Action.RESOLVE, actor="alice", resolution="restarted")

    clock.at(minutes=20)
    await driver.ingest([recovered(clock.now)])
    clock.at(minutes=21)  # inside the quiet period: the desk may resolve before the correlator
    resolved = await desk.transition(
        ticket, Action.RESOLVE, actor="alice", resolution="restarted the SMP"
    )
    assert resolved.state == "resolved"
    clock.at(minutes=30)
    assert not (await driver.sweep()).resolved  # already resolved, by alice


async def test_a_master_is_not_resolved_by_hand_while_an_alert_under_it_fires(
    store: Store, clock: SteppedClock
) -> None:
    config = parse_config(
        """
targets:
  sml: [{zone: sml.example.test, nameservers: ["192.0.2.1:53"],
         participants: [{id: "iso6523-actorid-upis::0088:1"}]}]
correlator: {group_by: []}
"""
    )
    policy = config.correlator.policy(config.targets.sml)
    driver = Correlator(store, default_policy(), policy)
    desk = TicketService(store)
    server = "sml.example.test@192.0.2.1:53"
    participant = "iso6523-actorid-upis::0088:1@sml.example.test"
    (master,) = (await driver.ingest([firing(target=server)])).created
    (child,) = (await driver.ingest([firing(target=participant)])).created
    clock.at(minutes=5)
    await driver.ingest([recovered(clock.now, target=server)])
    await desk.transition(master, Action.ACKNOWLEDGE, actor="alice")
    with pytest.raises(Refused, match=f"while the alerts of {child} still fire"):
        await desk.transition(master, Action.RESOLVE, actor="alice", resolution="fixed")


async def test_the_zone_sweep_alert_hangs_under_the_zone_master_one_page(
    store: Store, clock: SteppedClock
) -> None:
    config = parse_config(
        """
targets:
  sml: [{zone: sml.example.test, nameservers: ["192.0.2.1:53", "192.0.2.2:53"],
         participants: [{id: "iso6523-actorid-upis::0088:1"}]}]
"""
    )
    zone = "sml.example.test"
    driver = Correlator(store, default_policy(), config.correlator.policy(config.targets.sml))

    def sml_alert(name: str, kind: str, target: str) -> Alert:
        labels = {"alertname": name, "kind": kind, "service": "sml", "target": target}
        return Alert({**labels, "reason": "timeout"}, {}, Severity.MAJOR, T0)

    assert set(sml_edges(config.targets.sml)) >= {(zone, f"{zone}@192.0.2.1:53")}
    await driver.ingest(
        [
            sml_alert("SmlNameServerFailing", "dns_soa", f"{zone}@192.0.2.1:53"),
            sml_alert("SmlNameServerFailing", "dns_soa", f"{zone}@192.0.2.2:53"),
            sml_alert("SmlNameServerFailing", "dns_zone", zone),
            sml_alert("ParticipantLookupFailed", "dns_participant", f"{PARTICIPANT}@{zone}"),
        ]
    )
    clock.at(minutes=10)  # the sweep's batch ends later, with its own alert for the zone
    result = await driver.ingest([sml_alert("ParticipantLookupFailed", "dns_sweep", zone)])
    assert result.counts == {"created": 1}

    rows = await all_rows(store, schema.tickets)
    (master,) = [row for row in rows if row.master_id is None]
    assert (master.node, master.labels["kind"]) == (zone, "dns_zone")
    sweep = next(row for row in rows if row.labels["kind"] == "dns_sweep")
    assert (sweep.master_id, sweep.notify, sweep.caused_by) == (master.id, False, zone)
    assert all(row.master_id == master.id for row in rows if row is not master)
    created = [n.ticket_id for n in await all_rows(store, schema.outbox) if n.event == "created"]
    # Tickets that led for a moment inside the batch queued nothing that routing would
    # send: only masters notify, and the zone's is the only one.
    masters = {row.id for row in rows if row.master_id is None}
    assert [ticket for ticket in created if ticket in masters] == [master.id]
