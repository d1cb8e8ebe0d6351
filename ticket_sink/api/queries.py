"""The API's reads: ticket lists with filters and cursors, audit events, comments.

They run inside a `TicketTx` on its connection, with the store's tables, so they see the
same transaction as any write beside them. Reads only: nothing here may write, and
nothing here decides what a change means.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ticket_sink import schema
from ticket_sink.model import (
    AuditEvent,
    Comment,
    KnownError,
    Matcher,
    MatchOp,
    Ticket,
    stored_matchers,
)
from ticket_sink.tickets import TicketTx
from vocab.errors import InputError

__all__ = [
    "KnownErrorRow",
    "TicketFilter",
    "comments_of",
    "decode_cursor",
    "events_after",
    "history_of",
    "known_errors",
    "last_event_id",
    "list_tickets",
    "parse_matcher",
    "where_clauses",
]

_T = schema.tickets
_E = schema.ticket_events
# Label matchers are evaluated here, not in SQL (labels are JSON, spelled differently by
# each database): a page scans at most this many rows, so one request stays cheap.
MAX_SCANNED_ROWS = 2_000
# Any text of this shape is a valid position (the OpenAPI document says so): 16 digits of
# microseconds reach the year 2286.
CURSOR = re.compile(r"^([0-9]{1,16})\.([A-Za-z0-9]{1,64})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MATCHER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)(.*)$", re.DOTALL)


class CursorError(InputError, ValueError):
    pass


def parse_matcher(text: str) -> Matcher:
    """`name=value`, `name!=value`, `name=~regex` or `name!~regex` (ValueError if not)."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a label matcher (name=value, !=, =~ or !~)")
    name, op, value = found.groups()
    return Matcher(name, MatchOp(op), value)


def encode_cursor(created_at: datetime, ticket_id: str) -> str:
    """`<microseconds since the epoch>.<ticket id>`: the position after that ticket."""
    delta = created_at.astimezone(UTC) - _EPOCH
    return f"{delta // timedelta(microseconds=1)}.{ticket_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    found = CURSOR.fullmatch(cursor)
    if found is None:
        raise CursorError("not a cursor this API returned")
    micros, ticket_id = found.groups()
    return _EPOCH + timedelta(microseconds=int(micros)), ticket_id


@dataclass(frozen=True)
class TicketFilter:
    states: Sequence[str] = ()
    severities: Sequence[int] = ()
    types: Sequence[str] = ()
    matchers: Sequence[Matcher] = ()
    master: str | None = None  # "none": tickets under no master
    updated_since: datetime | None = None
    text: str | None = None


def where_clauses(where: TicketFilter) -> list[Any]:
    clauses: list[Any] = []
    if where.states:
        clauses.append(_T.c.state.in_(list(where.states)))
    if where.severities:
        clauses.append(_T.c.severity.in_(list(where.severities)))
    if where.types:
        clauses.append(_T.c.type.in_(list(where.types)))
    if where.master == "none":
        clauses.append(_T.c.master_id.is_(None))
    elif where.master is not None:
        clauses.append(_T.c.master_id == where.master)
    if where.updated_since is not None:
        clauses.append(_T.c.updated_at >= where.updated_since)
    if where.text:
        clauses.append(_T.c.title.icontains(where.text, autoescape=True))
    return clauses


async def list_tickets(
    tx: TicketTx, where: TicketFilter, *, limit: int, cursor: str | None
) -> tuple[list[Ticket], str | None]:
    """Newest first; the page and the cursor of the next one (None after the last)."""
    clauses = where_clauses(where)
    if cursor is not None:
        created_at, ticket_id = decode_cursor(cursor)
        clauses.append(
            sa.or_(
                _T.c.created_at < created_at,
                sa.and_(_T.c.created_at == created_at, _T.c.id < ticket_id),
            )
        )
    # One row more than a page tells whether another page follows.
    scan = limit + 1 if not where.matchers else min(MAX_SCANNED_ROWS, max(limit * 10, 100))
    query = (
        sa.select(_T.c.id, _T.c.created_at, _T.c.labels)
        .where(*clauses)
        .order_by(_T.c.created_at.desc(), _T.c.id.desc())
        .limit(scan)
    )
    rows = (await tx.connection.execute(query)).all()
    chosen: list[str] = []
    consumed = 0
    for row in rows:
        consumed += 1
        if all(m.matches(row.labels) for m in where.matchers):
            chosen.append(row.id)
            if len(chosen) == limit:
                break
    more = consumed < len(rows) or len(rows) == scan
    next_cursor = None
    if more and consumed:
        last = rows[consumed - 1]
        next_cursor = encode_cursor(last.created_at, last.id)
    found = await tx.get_many(chosen)
    return [found[ticket_id].ticket for ticket_id in chosen], next_cursor


def _event(row: Any) -> tuple[int, AuditEvent]:
    return row.id, AuditEvent(
        row.ticket_id, row.actor, row.at, row.action, row.field, row.before, row.after
    )


async def history_of(tx: TicketTx, ticket_id: str, *, newest: int) -> list[tuple[int, AuditEvent]]:
    """The newest `newest` audit events of one ticket, oldest first."""
    query = sa.select(_E).where(_E.c.ticket_id == ticket_id).order_by(_E.c.id.desc()).limit(newest)
    rows = (await tx.connection.execute(query)).all()
    return [_event(row) for row in reversed(rows)]


async def events_after(tx: TicketTx, after: int, *, limit: int) -> list[tuple[int, AuditEvent]]:
    """Audit events of every ticket with an id above `after`, in order."""
    query = sa.select(_E).where(_E.c.id > after).order_by(_E.c.id).limit(limit)
    return [_event(row) for row in (await tx.connection.execute(query)).all()]


async def last_event_id(tx: TicketTx) -> int:
    found = (await tx.connection.execute(sa.select(sa.func.max(_E.c.id)))).scalar()
    return int(found or 0)


async def comments_of(tx: TicketTx, ticket_id: str) -> list[Comment]:
    table = schema.comments
    query = sa.select(table).where(table.c.ticket_id == ticket_id).order_by(table.c.id)
    return [
        Comment(row.ticket_id, row.author, row.at, row.text)
        for row in (await tx.connection.execute(query)).all()
    ]


@dataclass(frozen=True)
class KnownErrorRow:
    entry: KnownError
    created_at: datetime
    created_by: str


async def known_errors(tx: TicketTx) -> list[KnownErrorRow]:
    table = schema.known_errors
    query = sa.select(table).order_by(table.c.created_at, table.c.id)
    return [
        KnownErrorRow(
            KnownError(
                row.id,
                stored_matchers(row.matchers),
                row.workaround,
            ),
            row.created_at,
            row.created_by,
        )
        for row in (await tx.connection.execute(query)).all()
    ]
