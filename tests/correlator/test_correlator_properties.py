"""Properties of the production correlator (its decisions carried out by its executor) on a
real store, SQLite and PostgreSQL, over random histories of alerts, sweeps, replays and
people's closes by two agents (hypothesis): never two unclosed tickets for one fingerprint;
every firing alert in exactly one worked ticket, except one closed while it fired until its
next occurrence, which opens a ticket referring to the closed one; replays change nothing;
a closed ticket never changes. (The SLA clock's pause on hold is a property of
`ticket_sink.sla`, tested there.)"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.fingerprint import fingerprint
from correlator.rules import Alert
from tests.ticket_sink.conftest import create_postgres_database
from ticket_sink import Store, correlation_queries, schema
from ticket_sink.lifecycle import Action, apply
from ticket_sink.model import ACTIVE_STATES, CloseReason, Severity, Ticket, TicketState
from ticket_sink.service import TicketService
from ticket_sink.sla import default_policy

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
TARGETS = ("a", "b", "c")
POLICY = CorrelationPolicy(
    reopen_window=timedelta(minutes=30),
    group_by=("service",),
    quiet_period=timedelta(minutes=2),
    flap_window=timedelta(minutes=20),
    flap_max_changes=3,
)

# Each step is done by one of two agents (two correlators on one store, each with what
# it remembers of the store): what one knows must never keep the other's work away.
AGENTS = st.integers(0, 1)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("fire"), st.sampled_from(TARGETS), AGENTS),
        st.tuples(st.just("recover"), st.sampled_from(TARGETS), AGENTS),
        st.tuples(st.just("advance"), st.integers(1, 90), AGENTS),
        st.tuples(st.just("sweep"), st.none(), AGENTS),
        st.tuples(st.just("replay"), st.none(), AGENTS),
        st.tuples(st.just("close"), st.sampled_from(TARGETS), AGENTS),
        st.tuples(st.just("withdraw"), st.sampled_from(TARGETS), AGENTS),
    ),
    min_size=1,
    max_size=25,
)


def labels(target: str) -> dict[str, str]:
    return {"alertname": "X", "kind": "http", "service": "smp", "target": target}


@dataclass
class World:
    now: datetime = T0
    firing: dict[str, datetime] = field(default_factory=dict)  # target → episode start
    last_batch: list[Alert] = field(default_factory=list)
    # Targets whose worked ticket people closed while the alert fired: no ticket until
    # the alert is heard of again; then one that refers to the closed ticket.
    closed_firing: dict[str, str] = field(default_factory=dict)  # target → closed ticket


async def rows(store: Store, table: sa.Table) -> list[Any]:
    async with store.transaction(write=False) as tx:
        return list((await tx.connection.execute(sa.select(table))).all())


async def state(store: Store) -> tuple[list[Any], list[Any], list[Any]]:
    tickets = sorted(await rows(store, schema.tickets), key=lambda row: row.id)
    events = sorted(await rows(store, schema.ticket_events), key=lambda row: row.id)
    outbox = sorted(await rows(store, schema.outbox), key=lambda row: row.id)
    return tickets, events, outbox


async def close_resolved(store: Store, target: str) -> None:
    async with store.transaction() as tx:
        found = (
            await correlation_queries.unclosed_by_fingerprint(tx, [fingerprint(labels(target))])
        ).values()
        for stored in found:
            if stored.ticket.state is TicketState.RESOLVED:
                reason = CloseReason.RESOLVED
                closed, events = apply(
                    stored.ticket, Action.CLOSE, actor="desk", at=tx.now, reason=reason
                )
                await tx.save(closed, events)


async def withdraw(store: Store, world: World, target: str) -> None:
    """The desk closes the worked ticket of `target`, as the API and console do."""
    async with store.transaction(write=False) as tx:
        found = (
            await correlation_queries.unclosed_by_fingerprint(tx, [fingerprint(labels(target))])
        ).values()
    for stored in found:
        if stored.ticket.state in ACTIVE_STATES:
            await TicketService(store).transition(
                stored.ticket.id, Action.CLOSE, actor="desk", reason=CloseReason.DUPLICATE
            )
            if target in world.firing:
                world.closed_firing[target] = stored.ticket.id


# What a ticket is, as opposed to the correlator's bookkeeping of its alert beside it.
TICKET_COLUMNS = [field.name for field in dataclasses.fields(Ticket)]


async def check_invariants(store: Store, world: World, closed_before: dict[str, Any]) -> None:
    tickets = await rows(store, schema.tickets)
    unclosed: dict[str, list[Any]] = {}
    for row in tickets:
        if row.state != "closed":
            unclosed.setdefault(row.fingerprint, []).append(row)
    assert all(len(found) == 1 for found in unclosed.values()), "two unclosed tickets"
    by_id = {row.id: row for row in tickets}
    for target in world.firing:
        if target in world.closed_firing:
            assert fingerprint(labels(target)) not in unclosed
            continue
        (ticket,) = unclosed[fingerprint(labels(target))]
        assert ticket.firing, ticket
        assert ticket.state in ACTIVE_STATES, ticket
        # A ticket opened after a close while its alert fired refers to the closed one.
        if ticket.refers_to is not None and by_id[ticket.refers_to].last_seen == ticket.last_seen:
            assert by_id[ticket.refers_to].close_reason == "duplicate", ticket
    for ticket_id, row in closed_before.items():
        after = by_id[ticket_id]
        changed = [name for name in TICKET_COLUMNS if getattr(after, name) != getattr(row, name)]
        assert not changed, f"closed ticket {ticket_id} changed: {changed}"


def heard_of(world: World, batch: list[Alert]) -> None:
    """The alerts of `batch` reached the store: a closed-while-firing one has its ticket."""
    for alert in batch:
        if alert.firing:
            world.closed_firing.pop(alert.labels["target"], None)


async def run_history(history: list[tuple[str, Any, int]], url: str) -> None:
    world = World()
    async with Store(url, clock=lambda: world.now) as store:
        async with store.transaction() as tx:  # a database reused across examples
            for table in reversed(schema.metadata.sorted_tables):
                await tx.connection.execute(table.delete())
        drivers = [Correlator(store, default_policy(), POLICY) for _ in range(2)]
        for op, argument, agent in history:
            driver = drivers[agent]
            closed_before = {
                row.id: row for row in await rows(store, schema.tickets) if row.state == "closed"
            }
            if op == "fire":
                start = world.firing.setdefault(argument, world.now)
                world.last_batch = [Alert(labels(argument), {}, Severity.MAJOR, start)]
                await driver.ingest(world.last_batch)
                heard_of(world, world.last_batch)
            elif op == "recover" and argument in world.firing:
                start = world.firing.pop(argument)
                world.closed_firing.pop(argument, None)
                alert = Alert(labels(argument), {}, Severity.MAJOR, start, world.now)
                world.last_batch = [alert]
                await driver.ingest(world.last_batch)
                # A check fails again at its next run at the earliest: a new episode
                # starts after the recovery, never at the same instant.
                world.now += timedelta(seconds=1)
            elif op == "advance":
                world.now += timedelta(minutes=argument)
            elif op == "sweep":
                await driver.sweep()
            elif op == "replay" and world.last_batch:
                reopens = any(a.labels["target"] in world.closed_firing for a in world.last_batch)
                before = await state(store)
                await driver.ingest(world.last_batch)
                if not reopens:
                    assert await state(store) == before, "a replay changed the store"
                heard_of(world, world.last_batch)
            elif op == "close":
                await close_resolved(store, argument)
            elif op == "withdraw":
                await withdraw(store, world, argument)
            await check_invariants(store, world, closed_before)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One database for every example of a test (emptied by each): creating and migrating
    a PostgreSQL database per example would take most of the time."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db"
    cluster = request.getfixturevalue("postgres_cluster")
    return asyncio.run(create_postgres_database(cluster))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(history=operations)
def test_random_histories_keep_the_invariants(
    history: list[tuple[str, Any, int]], database: str
) -> None:
    asyncio.run(run_history(history, database))
