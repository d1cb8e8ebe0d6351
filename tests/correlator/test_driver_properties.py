"""Properties of the correlator on a real store, over random histories of alerts, sweeps,
replays and manual closes by two agents (hypothesis): never two unclosed tickets for one
fingerprint, every firing alert in exactly one worked ticket, replays change nothing, closed tickets
never change. (The SLA clock's pause on hold is a property of `ticket_sink.sla`, tested
there.)"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlator.driver import CorrelationPolicy, Correlator
from correlator.fingerprint import fingerprint
from correlator.rules import Alert
from ticket_sink import Store, schema
from ticket_sink.lifecycle import Action, apply
from ticket_sink.model import ACTIVE_STATES, CloseReason, Severity, TicketState
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
        found = (await tx.unclosed_by_fingerprint([fingerprint(labels(target))])).values()
        for stored in found:
            if stored.ticket.state is TicketState.RESOLVED:
                reason = CloseReason.RESOLVED
                closed, events = apply(
                    stored.ticket, Action.CLOSE, actor="desk", at=tx.now, reason=reason
                )
                await tx.save(closed, events)


async def check_invariants(store: Store, world: World, closed_before: dict[str, Any]) -> None:
    tickets = await rows(store, schema.tickets)
    unclosed: dict[str, list[Any]] = {}
    for row in tickets:
        if row.state != "closed":
            unclosed.setdefault(row.fingerprint, []).append(row)
    assert all(len(found) == 1 for found in unclosed.values()), "two unclosed tickets"
    for target in world.firing:
        (ticket,) = unclosed[fingerprint(labels(target))]
        assert ticket.firing, ticket
        assert ticket.state in ACTIVE_STATES, ticket
    by_id = {row.id: row for row in tickets}
    for ticket_id, row in closed_before.items():
        assert by_id[ticket_id] == row, "a closed ticket changed"


async def run_history(history: list[tuple[str, Any, int]], url: str) -> None:
    world = World()
    async with Store(url, clock=lambda: world.now) as store:
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
            elif op == "recover" and argument in world.firing:
                start = world.firing.pop(argument)
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
                before = await state(store)
                await driver.ingest(world.last_batch)
                assert await state(store) == before, "a replay changed the store"
            elif op == "close":
                await close_resolved(store, argument)
            await check_invariants(store, world, closed_before)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=operations)
def test_random_histories_keep_the_invariants(
    history: list[tuple[str, Any, int]], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db"  # one fresh store per example
    asyncio.run(run_history(history, url))
