"""The outbox in the database: routing due notifications into deliveries, claiming due
deliveries, recording how each attempt went, and reading it all back for a ticket.

Each step is one short transaction; none is held open while a sink talks to the network.
A claimed delivery is leased (its `next_attempt_at` moved `claim_seconds` ahead and its
`attempts` counted), so an agent killed mid-send leaves it to be sent again, by itself
after a restart or by another agent: delivery is at least once, and a repeat carries the
same notification id. With several agents on PostgreSQL, rows are claimed with
`FOR UPDATE SKIP LOCKED` so two agents never route or send the same row at once (SQLite
has one writer at a time, which is enough). Nothing here is ever deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ticket_sink import schema
from ticket_sink.codec import iso, notification_from_dict, notification_to_dict
from ticket_sink.model import AuditEvent, Notification
from ticket_sink.outbound.config import NotificationsConfig
from ticket_sink.outbound.retry import Outcome, RetryPolicy, Verdict, next_attempt_at
from ticket_sink.outbound.routing import hold_until, plan, routes_by_sink
from ticket_sink.outbound.silences import active_silences
from ticket_sink.store import Store
from ticket_sink.tickets import TicketTx

__all__ = [
    "Claimed",
    "DeliveryRecord",
    "NotificationRecord",
    "backlog",
    "claim_due",
    "fail_removed_sinks",
    "notification_record_to_dict",
    "record_outcomes",
    "retry_failed",
    "route_due",
    "ticket_notifications",
]

_O = schema.outbox
_D = schema.deliveries
_A = schema.agents

PENDING, HELD, DELIVERED, FAILED = "pending", "held", "delivered", "failed"


def _skip_locked(query: sa.Select[Any], connection: AsyncConnection, *of: Any) -> sa.Select[Any]:
    if connection.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=list(of) or None)
    return query


async def route_due(tx: TicketTx, config: NotificationsConfig, *, limit: int) -> int:
    """Turn up to `limit` due, unrouted notifications into deliveries and mark them
    routed; the number routed comes back. A notification of a ticket that no longer
    notifies on its own (it became a child meanwhile) is routed to no sink."""
    now = tx.now
    query = (
        sa.select(_O.c.id, _O.c.payload)
        .where(_O.c.routed_at.is_(None), _O.c.due_at <= now)
        .order_by(_O.c.due_at, _O.c.id)
        .limit(limit)
    )
    rows = (await tx.connection.execute(_skip_locked(query, tx.connection))).all()
    if not rows:
        return 0
    notifications = [notification_from_dict(row.payload) for row in rows]
    tickets = await tx.get_many({n.ticket.id for n in notifications})
    children = await tx.count_children(list(tickets))
    silences = await active_silences(tx.connection, now)
    deliveries: list[dict[str, Any]] = []
    routed: list[dict[str, Any]] = []
    for notification in notifications:
        ticket_id = notification.ticket.id
        # A new master's notification waited for its group to gather: say how big it got.
        notification = replace(
            notification, children=children.get(ticket_id, notification.children)
        )
        for planned in plan(notification, tickets.get(ticket_id), config, silences, now):
            held = planned.held_until is not None
            deliveries.append(
                {
                    "notification_id": notification.id,
                    "sink": planned.sink,
                    "ticket_id": ticket_id,
                    "state": HELD if held else PENDING,
                    "attempts": 0,
                    "next_attempt_at": planned.held_until if held else now,
                    "last_error": None,
                    "updated_at": now,
                }
            )
        routed.append({"key": notification.id, "body": notification_to_dict(notification)})
    if deliveries:
        await tx.connection.execute(_D.insert(), deliveries)
    await tx.connection.execute(
        _O.update()
        .where(_O.c.id == sa.bindparam("key"))
        .values(routed_at=now, payload=sa.bindparam("body")),
        routed,
    )
    return len(rows)


async def fail_removed_sinks(tx: TicketTx, sinks: Sequence[str]) -> int:
    """Fail the undone deliveries of sinks no longer configured, saying so on the ticket
    rather than leaving them to wait forever; how many comes back."""
    result = await tx.connection.execute(
        _D.update()
        .where(_D.c.state.in_((PENDING, HELD)), _D.c.sink.not_in(list(sinks)))
        .values(
            state=FAILED,
            next_attempt_at=None,
            last_error="sink removed",
            claimed_by=None,
            updated_at=tx.now,
        )
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this agent is about to attempt; `attempts` counts this attempt and is
    the lease token (an outcome is recorded only if nobody claimed it since)."""

    notification: Notification
    sink: str
    attempts: int


async def claim_due(
    tx: TicketTx,
    config: NotificationsConfig,
    sinks: Sequence[str],
    *,
    limit: int,
    only: str | None = None,
    agent_id: str | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due deliveries (pending, or held whose hold ended, or claimed
    by an agent known dead), of sink `only` or of any, for agent `agent_id`. Those still
    held (a silence was extended, quiet hours began) get their new hold instead; those of
    a sink no longer in `sinks` fail."""
    now = tx.now
    due = _D.c.state.in_((PENDING, HELD)) & (_D.c.next_attempt_at <= now)
    # An agent that stopped, or whose heartbeat is older than `dead_agent_seconds`, will
    # never record the outcome of what it claimed: take its claims over now.
    dead = sa.select(_A.c.id).where(
        _A.c.stopped_at.is_not(None)
        | (_A.c.last_seen_at < now - timedelta(seconds=config.dead_agent_seconds))
    )
    orphaned = (_D.c.state == PENDING) & _D.c.claimed_by.in_(dead)
    query = (
        sa.select(_D.c.notification_id, _D.c.sink, _D.c.state, _D.c.attempts, _O.c.payload)
        .join(_O, _O.c.id == _D.c.notification_id)
        .where(due | orphaned)
        .order_by(_D.c.next_attempt_at, _D.c.notification_id, _D.c.sink)
        .limit(limit)
    )
    if only is not None:
        query = query.where(_D.c.sink == only)
    rows = (await tx.connection.execute(_skip_locked(query, tx.connection, _D))).all()
    if not rows:
        return []
    silences = await active_silences(tx.connection, now)
    claimed: list[Claimed] = []
    lease_end = now + timedelta(seconds=config.claim_seconds)
    for row in rows:
        notification = notification_from_dict(row.payload)
        values: dict[str, Any]
        if row.sink not in sinks:
            # Its configuration was removed: say so on the ticket rather than wait forever.
            values = {
                "state": FAILED,
                "next_attempt_at": None,
                "last_error": "sink removed",
                "claimed_by": None,
            }
        else:
            routes = routes_by_sink(notification, config).get(row.sink, [])
            held = hold_until(notification, routes, config, silences, now)
            if held is not None:
                values = {"state": HELD, "next_attempt_at": held, "claimed_by": None}
            else:
                values = {"state": PENDING, "attempts": row.attempts + 1, "claimed_by": agent_id}
                values["next_attempt_at"] = lease_end
                claimed.append(Claimed(notification, row.sink, row.attempts + 1))
        await tx.connection.execute(
            _D.update()
            .where(_D.c.notification_id == row.notification_id, _D.c.sink == row.sink)
            .values(**values, updated_at=now)
        )
    return claimed


async def record_outcomes(
    tx: TicketTx, results: Sequence[tuple[Claimed, Outcome]], policy: RetryPolicy
) -> list[str]:
    """Record each attempt's outcome; the metric outcome of each comes back (delivered,
    retried or failed; `lost_claim` when another agent re-claimed it meanwhile)."""
    now = tx.now
    labels: list[str] = []
    for claimed, outcome in results:
        values: dict[str, Any]
        if outcome.verdict is Verdict.DELIVERED:
            label = DELIVERED
            values = {"state": DELIVERED, "next_attempt_at": None, "last_error": None}
        else:
            retry_at = next_attempt_at(policy, claimed.attempts, outcome, now)
            if retry_at is not None:
                label = "retried"
                values = {"state": PENDING, "next_attempt_at": retry_at}
            else:
                label = FAILED
                values = {"state": FAILED, "next_attempt_at": None}
            reason = outcome.reason
            if outcome.verdict is Verdict.RETRY and retry_at is None:
                reason = f"gave up after {claimed.attempts} attempts: {reason}"
            values["last_error"] = reason
        result = await tx.connection.execute(
            _D.update()
            .where(
                _D.c.notification_id == claimed.notification.id,
                _D.c.sink == claimed.sink,
                _D.c.attempts == claimed.attempts,
                _D.c.state == PENDING,
            )
            .values(**values, claimed_by=None, updated_at=now)
        )
        labels.append(label if result.rowcount else "lost_claim")
    return labels


async def retry_failed(
    tx: TicketTx, ticket_id: str, notification_id: str, *, actor: str
) -> list[str] | None:
    """Make the failed deliveries of notification `notification_id` of ticket `ticket_id`
    due now, with a fresh count of attempts, and record each on the ticket's audit trail.
    The sinks retried come back (empty: none had failed); None: no such notification."""
    known = await tx.connection.scalar(
        sa.select(_O.c.id).where(_O.c.id == notification_id, _O.c.ticket_id == ticket_id)
    )
    if known is None:
        return None
    failed = (
        await tx.connection.scalars(
            sa.select(_D.c.sink)
            .where(_D.c.notification_id == notification_id, _D.c.state == FAILED)
            .order_by(_D.c.sink)
        )
    ).all()
    if not failed:
        return []
    now = tx.now
    await tx.connection.execute(
        _D.update()
        .where(_D.c.notification_id == notification_id, _D.c.state == FAILED)
        .values(
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            last_error=None,
            claimed_by=None,
            updated_at=now,
        )
    )
    await tx.add_events(
        AuditEvent(ticket_id, actor, now, "retry_delivery", f"delivery:{sink}", FAILED, PENDING)
        for sink in failed
    )
    return list(failed)


async def backlog(connection: AsyncConnection) -> dict[str, int]:
    """Notifications not yet given to sinks (`unrouted`) and deliveries not yet done
    (`pending`, `held`)."""
    unrouted = await connection.scalar(
        sa.select(sa.func.count()).select_from(_O).where(_O.c.routed_at.is_(None))
    )
    counts = {
        state: count
        for state, count in (
            await connection.execute(
                sa.select(_D.c.state, sa.func.count())
                .where(_D.c.state.in_((PENDING, HELD)))
                .group_by(_D.c.state)
            )
        ).all()
    }
    return {
        "unrouted": int(unrouted or 0),
        PENDING: counts.get(PENDING, 0),
        HELD: counts.get(HELD, 0),
    }


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    sink: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One notification of a ticket and what became of it at each sink. No deliveries
    and `routed_at` None: it still waits in the outbox (until `due_at`)."""

    id: str
    event: str
    at: datetime
    due_at: datetime
    routed_at: datetime | None
    deliveries: tuple[DeliveryRecord, ...]


async def ticket_notifications(store: Store, ticket_id: str) -> list[NotificationRecord]:
    """Every notification of `ticket_id`, oldest first, with its delivery state per sink."""
    async with store.transaction(write=False) as tx:
        outbox_rows = (
            await tx.connection.execute(
                sa.select(_O.c.id, _O.c.event, _O.c.at, _O.c.due_at, _O.c.routed_at)
                .where(_O.c.ticket_id == ticket_id)
                .order_by(_O.c.at, _O.c.id)
            )
        ).all()
        delivery_rows = (
            await tx.connection.execute(
                sa.select(_D).where(_D.c.ticket_id == ticket_id).order_by(_D.c.sink)
            )
        ).all()
    by_notification: dict[str, list[DeliveryRecord]] = {}
    for row in delivery_rows:
        by_notification.setdefault(row.notification_id, []).append(
            DeliveryRecord(
                row.sink,
                row.state,
                row.attempts,
                row.next_attempt_at,
                row.last_error,
                row.updated_at,
            )
        )
    return [
        NotificationRecord(
            row.id,
            row.event,
            row.at,
            row.due_at,
            row.routed_at,
            tuple(by_notification.get(row.id, ())),
        )
        for row in outbox_rows
    ]


def _opt_iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def notification_record_to_dict(record: NotificationRecord) -> Mapping[str, Any]:
    """The JSON the API shows for a ticket's notifications."""
    return {
        "id": record.id,
        "event": record.event,
        "at": iso(record.at),
        "due_at": iso(record.due_at),
        "routed_at": _opt_iso(record.routed_at),
        "deliveries": [
            {
                "sink": d.sink,
                "state": d.state,
                "attempts": d.attempts,
                "next_attempt_at": _opt_iso(d.next_attempt_at),
                "last_error": d.last_error,
                "updated_at": iso(d.updated_at),
            }
            for d in record.deliveries
        ],
    }
