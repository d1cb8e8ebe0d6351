"""Reading and writing tickets inside one store transaction.

`TicketTx` is what `Store.transaction()` yields: the correlator, the SLA sweep and the API
do all their reads and writes of one unit of work through it, and it all commits or rolls
back together (a ticket change, its audit events and its outbox notification alike). It
must never decide anything (that is the lifecycle's and the correlator's job) and never
commit on its own. The correlator's own questions are in `correlation_queries`; the
mapping of a ticket to its row is in `ticket_rows`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ticket_sink import schema
from ticket_sink.bulk import insert_many
from ticket_sink.codec import notification_to_dict
from ticket_sink.model import (
    AuditEvent,
    Comment,
    KnownError,
    Notification,
    NotificationEvent,
    Ticket,
    stored_matchers,
)
from ticket_sink.ticket_rows import (
    Correlation,
    StoredTicket,
    correlation_values,
    stored_ticket,
    ticket_values,
)

__all__ = ["TicketTx"]

_T = schema.tickets
_ACTIVE = schema.ACTIVE_STATE_VALUES


class TicketTx:
    """One transaction's view of the tickets. Obtain it from `Store.transaction()`."""

    def __init__(
        self, connection: AsyncConnection, now: datetime, *, buffered: bool = False
    ) -> None:
        self.connection = connection
        self.now = now
        # Buffered: ticket rows, audit events and outbox rows are written in bulk (one
        # statement per kind) just before the next read through this object and at commit.
        # That is what lets one transaction take thousands of alerts; reads through
        # `connection` directly do not see the buffer, so only the correlator buffers.
        self._buffered = buffered
        self._inserts: dict[str, dict[str, Any]] = {}
        self._updates: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []

    async def flush(self) -> None:
        """Write what is buffered (a no-op when nothing is)."""
        if self._inserts:
            rows, self._inserts = list(self._inserts.values()), {}
            await insert_many(self.connection, _T, rows)
        if self._updates:
            updates, self._updates = list(self._updates.values()), {}
            by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in updates:
                by_shape.setdefault(tuple(sorted(row)), []).append(row)
            for shape, rows in by_shape.items():
                # Bound names must differ from the columns' (SQLAlchemy reserves those).
                columns: dict[str, Any] = {
                    name: sa.bindparam(f"v_{name}") for name in shape if name != "key"
                }
                statement = _T.update().where(_T.c.id == sa.bindparam("key")).values(columns)
                renamed = [
                    {name if name == "key" else f"v_{name}": value for name, value in row.items()}
                    for row in rows
                ]
                await self.connection.execute(statement, renamed)
        if self._events:
            events, self._events = self._events, []
            await insert_many(self.connection, schema.ticket_events, events)
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            await insert_many(self.connection, schema.outbox, outbox)

    async def _write_row(self, ticket_id: str, values: dict[str, Any]) -> None:
        """Update the ticket's row with `values` (buffered: merged into a pending insert
        or update of the same ticket)."""
        values["updated_at"] = self.now
        if not self._buffered:
            await self.connection.execute(_T.update().where(_T.c.id == ticket_id).values(**values))
        elif ticket_id in self._inserts:
            self._inserts[ticket_id].update(values)
        else:
            self._updates.setdefault(ticket_id, {"key": ticket_id}).update(values)

    # -- reading --

    async def select(
        self, where: Any, *, order: Sequence[Any] = (), limit: int | None = None
    ) -> list[StoredTicket]:
        """The tickets matching `where` (a condition on `schema.tickets`), oldest first
        after `order`."""
        await self.flush()
        query = sa.select(_T).where(where).order_by(*order, _T.c.created_at, _T.c.id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await self.connection.execute(query)).all()
        return [stored_ticket(row) for row in rows]

    async def lock(self, ticket_id: str) -> bool:
        """Take the row lock of a ticket about to change (PostgreSQL; SQLite's writer already
        holds the database lock), so a correlator writing the same ticket waits. False if
        the ticket does not exist."""
        await self.flush()
        query = sa.select(_T.c.id).where(_T.c.id == ticket_id).with_for_update()
        return (await self.connection.execute(query)).first() is not None

    async def get(self, ticket_id: str) -> StoredTicket | None:
        found = await self.select(_T.c.id == ticket_id)
        return found[0] if found else None

    async def get_many(self, ticket_ids: Collection[str]) -> dict[str, StoredTicket]:
        if not ticket_ids:
            return {}
        return {s.ticket.id: s for s in await self.select(_T.c.id.in_(list(ticket_ids)))}

    async def children(self, master_id: str, *, unclosed_only: bool = True) -> list[StoredTicket]:
        where = _T.c.master_id == master_id
        if unclosed_only:
            where = sa.and_(where, _T.c.state != "closed")
        return await self.select(where)

    async def count_children(self, master_ids: Collection[str]) -> dict[str, int]:
        await self.flush()
        if not master_ids:
            return {}
        query = (
            sa.select(_T.c.master_id, sa.func.count())
            .where(_T.c.master_id.in_(list(master_ids)))
            .group_by(_T.c.master_id)
        )
        return {row[0]: row[1] for row in (await self.connection.execute(query)).all()}

    async def sla_candidates(
        self,
        *,
        clocks_before: Mapping[int, datetime],
        hold_before: datetime,
        resolved_before: datetime,
    ) -> list[StoredTicket]:
        """The tickets an SLA action may be due for, a superset the caller judges exactly:
        masters still worked, of a severity with clocks, created before that severity's
        `clocks_before`; masters on hold since before `hold_before`; tickets resolved
        before `resolved_before`. Everything younger cannot be due yet, so a sweep over
        many fresh tickets reads none of them."""
        master = _T.c.master_id.is_(None)
        conditions = [
            sa.and_(master, _T.c.state == "on_hold", _T.c.on_hold_since <= hold_before),
            sa.and_(_T.c.state == "resolved", _T.c.resolved_at <= resolved_before),
        ]
        for severity, before in clocks_before.items():
            conditions.append(
                sa.and_(
                    master,
                    _T.c.severity == severity,
                    _T.c.state.in_(_ACTIVE),
                    _T.c.created_at <= before,
                )
            )
        return await self.select(sa.or_(*conditions))

    async def worked_without_known_error(self) -> list[StoredTicket]:
        """Tickets still being worked that have no workaround attached yet."""
        return await self.select(sa.and_(_T.c.state.in_(_ACTIVE), _T.c.known_error_id.is_(None)))

    async def recovered_before(self, moment: datetime) -> list[StoredTicket]:
        """Active tickets whose alert stopped firing at or before `moment`."""
        return await self.select(
            sa.and_(
                _T.c.state.in_(_ACTIVE),
                sa.not_(_T.c.firing),
                _T.c.recovered_at.is_not(None),
                _T.c.recovered_at <= moment,
            )
        )

    async def known_errors(self) -> list[KnownError]:
        await self.flush()
        query = sa.select(schema.known_errors).order_by(schema.known_errors.c.created_at)
        return [
            KnownError(
                row.id,
                stored_matchers(row.matchers),
                row.workaround,
            )
            for row in (await self.connection.execute(query)).all()
        ]

    # -- writing --

    async def insert(
        self, ticket: Ticket, correlation: Correlation, events: Iterable[AuditEvent]
    ) -> None:
        row = {**ticket_values(ticket), **correlation_values(correlation), "updated_at": self.now}
        if self._buffered:
            self._inserts[ticket.id] = row
        else:
            await self.connection.execute(_T.insert().values(**row))
        await self.add_events(events)

    async def save(
        self,
        ticket: Ticket,
        events: Iterable[AuditEvent] = (),
        correlation: Correlation | None = None,
    ) -> None:
        """Write every field of `ticket` (and of `correlation`, if given) over its row."""
        values = ticket_values(ticket)
        del values["id"]
        if correlation is not None:
            values.update(correlation_values(correlation))
        await self._write_row(ticket.id, values)
        await self.add_events(events)

    async def update_correlation(self, ticket_id: str, correlation: Correlation) -> None:
        await self._write_row(ticket_id, correlation_values(correlation))

    async def add_events(self, events: Iterable[AuditEvent]) -> None:
        rows = [
            {
                "ticket_id": e.ticket_id,
                "actor": e.actor,
                "at": e.at,
                "action": e.action,
                "field": e.field,
                "before": e.before,
                "after": e.after,
            }
            for e in events
        ]
        if self._buffered:
            self._events.extend(rows)
        elif rows:
            await self.connection.execute(schema.ticket_events.insert(), rows)

    async def add_comment(self, note: Comment, event: AuditEvent) -> None:
        await self.flush()
        await self.connection.execute(
            schema.comments.insert().values(
                ticket_id=note.ticket_id, author=note.author, at=note.at, text=note.text
            )
        )
        await self.add_events([event])
        await self.connection.execute(
            _T.update().where(_T.c.id == note.ticket_id).values(updated_at=self.now)
        )

    async def add_known_error(self, entry: KnownError, *, actor: str) -> None:
        await self.flush()
        await self.connection.execute(
            schema.known_errors.insert().values(
                id=entry.id,
                matchers=[[m.name, m.op.value, m.value] for m in entry.matchers],
                workaround=entry.workaround,
                created_at=self.now,
                created_by=actor,
            )
        )

    async def enqueue(
        self,
        event: NotificationEvent,
        ticket: Ticket,
        *,
        due_at: datetime | None = None,
        children: int = 0,
        detail: str = "",
    ) -> Notification:
        """Put a notification in the outbox, in this transaction."""
        notification = Notification(
            id=str(uuid.uuid4()),
            event=event,
            ticket=ticket,
            at=self.now,
            children=children,
            detail=detail,
        )
        row = {
            "id": notification.id,
            "ticket_id": ticket.id,
            "event": event.value,
            "at": notification.at,
            "due_at": due_at or notification.at,
            "payload": notification_to_dict(notification),
            "routed_at": None,
        }
        if self._buffered:
            self._outbox.append(row)
        else:
            await self.connection.execute(schema.outbox.insert().values(**row))
        return notification

    async def link(
        self, tickets: Sequence[StoredTicket], master_id: str, *, caused_by: str | None, actor: str
    ) -> list[StoredTicket]:
        """Hang `tickets` (and whatever hung under them) under `master_id`; they stop
        notifying on their own. The changed tickets come back."""
        moved: list[StoredTicket] = []
        ids = [stored.ticket.id for stored in tickets if stored.ticket.id != master_id]
        if not ids:
            return moved
        below = await self.select(sa.and_(_T.c.master_id.in_(ids), _T.c.state != "closed"))
        for stored in [*tickets, *below]:
            if stored.ticket.id == master_id or stored.ticket.master_id == master_id:
                continue
            ticket = replace(stored.ticket, master_id=master_id)
            correlation = replace(stored.correlation, notify=False, caused_by=caused_by)
            event = AuditEvent(
                ticket.id, actor, self.now, "link", "master_id", stored.ticket.master_id, master_id
            )
            await self.save(ticket, [event], correlation)
            moved.append(StoredTicket(ticket, correlation, self.now))
        return moved
