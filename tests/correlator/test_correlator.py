"""The correlator's driver against a real store (SQLite, and PostgreSQL when installed):
alerts become tickets, repeats change nothing, recoveries resolve, recurrences reopen or
refer, topology and grouping make one master, and the SLA sweep escalates."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.decide import Topology
from correlator.rules import Alert
from tests.support import SteppedClock
from ticket_sink import Store, schema
from ticket_sink.model import Severity, TicketState
from ticket_sink.sla import default_policy

from .conftest import T0


def correlator(store: Store, **policy: object) -> Correlator:
    return Correlator(store, default_policy(), CorrelationPolicy(**policy))  # type: ignore[arg-type]


def alert(
    target: str, starts: datetime = T0, *, ends: datetime | None = None, **labels: str
) -> Alert:
    merged = {
        "alertname": "DnsLookupFailed",
        "kind": "dns_participant",
        "service": "sml",
        "target": target,
        "reason": "timeout",
        **labels,
    }
    return Alert(merged, {"summary": "x"}, Severity.MAJOR, starts, ends)


async def rows(store: Store, table: sa.Table) -> list[sa.Row[tuple[object, ...]]]:
    async with store.transaction(write=False) as tx:
        return list((await tx.connection.execute(sa.select(table))).all())


async def tickets(store: Store) -> dict[str, sa.Row[tuple[object, ...]]]:
    return {row.node: row for row in await rows(store, schema.tickets)}


async def test_a_firing_alert_opens_one_ticket_and_queues_its_notification(
    store: Store, clock: SteppedClock
) -> None:
    result = await correlator(store).ingest([alert("p1@zone")])
    assert result.counts["created"] == 1
    (ticket,) = await rows(store, schema.tickets)
    assert (ticket.state, ticket.severity, ticket.firing, ticket.node) == (
        "new",
        2,
        True,
        "p1@zone",
    )
    assert ticket.title == "DnsLookupFailed: p1@zone (timeout)"
    (notification,) = await rows(store, schema.outbox)
    assert (notification.event, notification.ticket_id) == ("created", ticket.id)
    assert notification.due_at == T0 + timedelta(seconds=30)  # the group's wait
    events = await rows(store, schema.ticket_events)
    assert [(e.action, e.field, e.after) for e in events] == [("create", "state", "new")]


async def test_repeats_of_a_firing_alert_change_nothing(store: Store, clock: SteppedClock) -> None:
    driver = correlator(store)
    await driver.ingest([alert("p1@zone")])
    before = await rows(store, schema.ticket_events), await rows(store, schema.tickets)
    clock.advance(minutes=1)
    result = await driver.ingest([alert("p1@zone")] * 3)
    assert result.counts == {"unchanged": 3}
    assert (await rows(store, schema.ticket_events), await rows(store, schema.tickets)) == before


async def test_a_new_episode_counts_an_occurrence(store: Store, clock: SteppedClock) -> None:
    driver = correlator(store)
    await driver.ingest([alert("p1@zone")])
    later = clock.advance(minutes=10)
    await driver.ingest([alert("p1@zone", T0, ends=T0 + timedelta(minutes=5))])
    result = await driver.ingest([alert("p1@zone", later)])
    assert result.counts == {"updated": 1}
    ticket = (await tickets(store))["p1@zone"]
    assert (ticket.occurrences, ticket.last_seen, ticket.firing) == (2, later, True)


async def test_recovery_resolves_after_the_quiet_period_and_notifies(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store, quiet_period=timedelta(minutes=2))
    await driver.ingest([alert("p1@zone")])
    ended = clock.advance(minutes=5)
    await driver.ingest([alert("p1@zone", T0, ends=ended)])
    clock.advance(minutes=1)
    assert (await driver.sweep()).resolved == []  # still inside the quiet period
    clock.advance(minutes=1, seconds=1)
    assert len((await driver.sweep()).resolved) == 1
    ticket = (await tickets(store))["p1@zone"]
    assert ticket.state == "resolved"
    assert ticket.resolution == "recovered: every alert stayed clear for 2 min"
    assert [row.event for row in await rows(store, schema.outbox)] == ["created", "resolved"]


async def test_recurrence_inside_the_reopen_window_reopens(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store, quiet_period=timedelta(0))
    await driver.ingest([alert("p1@zone")])
    await driver.ingest([alert("p1@zone", T0, ends=clock.advance(minutes=1))])
    await driver.sweep()
    again = clock.advance(minutes=30)
    result = await driver.ingest([alert("p1@zone", again)])
    assert result.counts == {"reopened": 1}
    ticket = (await tickets(store))["p1@zone"]
    assert (ticket.state, ticket.occurrences, ticket.resolved_at) == ("open", 2, None)
    assert [row.event for row in await rows(store, schema.outbox)][-1] == "reopened"
    actions = {e.action for e in await rows(store, schema.ticket_events)}
    assert "reopen" in actions


async def test_recurrence_after_the_reopen_window_opens_a_ticket_that_refers_to_the_old(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store, quiet_period=timedelta(0), reopen_window=timedelta(hours=1))
    await driver.ingest([alert("p1@zone")])
    await driver.ingest([alert("p1@zone", T0, ends=clock.advance(minutes=1))])
    await driver.sweep()
    again = clock.advance(hours=2)
    result = await driver.ingest([alert("p1@zone", again)])
    assert result.counts == {"created": 1}
    all_rows = sorted(await rows(store, schema.tickets), key=lambda row: row.created_at)
    old, new = all_rows
    assert (old.state, old.close_reason) == ("closed", "resolved")
    assert (new.state, new.refers_to) == ("new", old.id)


TOPOLOGY = Topology.from_edges(
    [
        ("zone", "zone@ns1"),
        ("zone", "p1@zone"),
        ("zone", "p2@zone"),
        ("zone@ns1", "p1@zone"),
        ("zone@ns1", "p2@zone"),
    ]
)


async def test_dependants_of_a_failing_parent_hang_under_its_master_silently(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store, topology=TOPOLOGY, group_by=())
    await driver.ingest([alert("zone@ns1", kind="dns_soa", alertname="SoaFailed")])
    await driver.ingest([alert("p1@zone"), alert("p2@zone")])
    found = await tickets(store)
    master = found["zone@ns1"]
    assert master.master_id is None
    for node in ("p1@zone", "p2@zone"):
        assert (found[node].master_id, found[node].notify, found[node].caused_by) == (
            master.id,
            False,
            "zone@ns1",
        )
    assert [row.ticket_id for row in await rows(store, schema.outbox)] == [master.id]


async def test_a_parent_failing_after_its_dependants_adopts_their_tickets(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store, topology=TOPOLOGY, group_by=())
    await driver.ingest([alert("p1@zone"), alert("p2@zone")])
    await driver.ingest([alert("zone@ns1", kind="dns_soa", alertname="SoaFailed")])
    await driver.ingest([alert("zone", kind="dns_zone", alertname="ZoneUnhealthy")])
    found = await tickets(store)
    root = found["zone"]
    assert root.master_id is None
    assert {found[n].master_id for n in ("zone@ns1", "p1@zone", "p2@zone")} == {root.id}
    links = [e for e in await rows(store, schema.ticket_events) if e.action == "link"]
    assert len(links) == 5  # p1, p2 under zone@ns1; then all three under zone


async def test_alerts_of_one_group_inside_the_window_share_a_master(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store, group_by=("service", "alertname"), group_window=timedelta(minutes=5))
    await driver.ingest([alert("p1@zone")])
    clock.advance(minutes=2)
    await driver.ingest([alert("p2@zone")])
    clock.advance(minutes=10)
    await driver.ingest([alert("p3@zone")])
    found = await tickets(store)
    assert found["p2@zone"].master_id == found["p1@zone"].id
    assert found["p3@zone"].master_id is None  # the window had closed: a new group


async def test_a_flapping_alert_keeps_its_ticket_open(store: Store, clock: SteppedClock) -> None:
    driver = correlator(
        store, quiet_period=timedelta(0), flap_window=timedelta(hours=1), flap_max_changes=3
    )
    start = T0
    for _ in range(3):
        await driver.ingest([alert("p1@zone", start)])
        await driver.ingest([alert("p1@zone", start, ends=clock.advance(minutes=1))])
        start = clock.advance(minutes=1)
    ticket = (await tickets(store))["p1@zone"]
    assert ticket.flapping
    assert (await driver.sweep()).resolved == []
    clock.advance(hours=2)  # stable since: no longer flapping
    assert len((await driver.sweep()).resolved) == 1


async def test_the_sla_sweep_escalates_an_unacknowledged_severity_1(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store)
    blocking = Alert(
        {
            "alertname": "SmlDown",
            "kind": "dns_zone",
            "service": "sml",
            "target": "zone",
            "reason": "timeout",
        },
        {},
        Severity.BLOCKING,
        T0,
    )
    await driver.ingest([blocking])
    clock.advance(minutes=44)
    assert not (await driver.sweep()).actions
    clock.advance(minutes=2)  # past 75 % of the 1 h response target
    assert (await driver.sweep()).actions == {"escalate": 1}
    events = [row.event for row in await rows(store, schema.outbox)]
    assert events == ["created", "escalated", "sla_at_risk"]
    ticket = (await tickets(store))["zone"]
    assert (ticket.escalation_level, ticket.sla_marks) == (3, ["response:at_risk"])


async def test_two_agents_racing_on_the_same_fingerprints_make_one_ticket_each(
    url: str, clock: SteppedClock
) -> None:
    async with Store(url, clock=clock) as first, Store(url, clock=clock) as second:
        batch = [alert(f"p{i}@zone") for i in range(50)]
        await asyncio.gather(
            *(correlator(s).ingest(batch[i::2] + batch) for s in (first, second) for i in (0, 1))
        )
        found = await rows(first, schema.tickets)
    assert len(found) == 50
    assert len({row.fingerprint for row in found}) == 50
    assert all(row.state == "new" and row.occurrences == 1 for row in found)


def test_states_the_driver_treats_as_active_match_the_schema() -> None:
    assert {state.value for state in TicketState} - set(schema.ACTIVE_STATE_VALUES) == {
        "resolved",
        "closed",
    }


async def test_a_parent_joining_its_dependants_group_leads_it(
    store: Store, clock: SteppedClock
) -> None:
    driver = correlator(store, topology=TOPOLOGY, group_by=("service", "alertname"))
    await driver.ingest([alert("zone@ns1", alertname="SmlNameServerFailing")])
    await driver.ingest([alert("p1@zone")])
    await driver.ingest([alert("zone", alertname="SmlNameServerFailing")])
    found = await tickets(store)
    root = found["zone"]
    assert root.master_id is None
    assert {found[n].master_id for n in ("zone@ns1", "p1@zone")} == {root.id}


class CountingStore(Store):
    """A store that counts the transactions asked of it."""

    opened = 0

    def transaction(self, **options: Any) -> Any:
        self.opened += 1
        return super().transaction(**options)


async def test_repeats_of_what_is_recorded_do_not_reach_the_store(
    tmp_path: Path, clock: SteppedClock
) -> None:
    async with CountingStore(f"sqlite:///{tmp_path}/vigie.db", clock=clock) as store:
        driver = correlator(store)
        batch = [alert(f"p{i}@zone") for i in range(20)]
        await driver.ingest(batch)
        # The database changed since the correlator last looked: one read, for tickets
        # closed meanwhile (whose firing alerts must reach the store again).
        opened = store.opened
        assert (await driver.ingest(batch)).counts == {"unchanged": 20}
        assert store.opened == opened + 1
        opened = store.opened
        result = await driver.ingest(batch)
        assert result.counts == {"unchanged": 20}
        assert store.opened == opened  # known to be recorded: no read, no transaction
        ended = clock.advance(minutes=1)
        resolved = [alert(f"p{i}@zone", ends=ended) for i in range(20)]
        assert (await driver.ingest(resolved)).counts == {"recovered": 20}
        assert (await driver.ingest(resolved)).counts == {"unchanged": 20}
        again = clock.advance(minutes=1)
        assert (await driver.ingest([alert("p0@zone", again)])).counts == {"updated": 1}
        # Each write: its transaction, then the look for closes of the next ingest.
        assert store.opened == opened + 3
