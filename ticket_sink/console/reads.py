"""The console's reads: the incidents page (masters with their children, counts per state)
and what the ticket page shows beside the ticket (recurrences, similar tickets).

They run inside a `TicketTx` on its connection, with the store's tables. Reads only:
nothing here may write or decide what a change means.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ticket_sink import schema
from ticket_sink.api.queries import MAX_SCANNED_ROWS, TicketFilter, where_clauses
from ticket_sink.model import Severity, Ticket, TicketState
from ticket_sink.tickets import TicketTx

__all__ = [
    "CLOCKED_CHILDREN",
    "IncidentFilter",
    "IncidentPage",
    "TicketLine",
    "children_of",
    "incidents",
    "recurrences",
    "similar_tickets",
]

_T = schema.tickets
_E = schema.ticket_events
CHILDREN_SHOWN = 10  # per master on the incidents page; the ticket page shows them all
SIMILAR_SHOWN = 8
SIMILAR_CANDIDATES = 100
# On a ticket's page, the most urgent children get live SLA clocks; a master's thousand
# children are listed, but planning each one's clocks would cost more than the page.
CLOCKED_CHILDREN = 50
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{3,}")


@dataclass(frozen=True, slots=True)
class TicketLine:
    """What a list of related tickets shows of each one (children, similar tickets)."""

    id: str
    title: str
    state: TicketState
    severity: Severity
    created_at: Any
    resolution: str | None


_LINE = (_T.c.id, _T.c.title, _T.c.state, _T.c.severity, _T.c.created_at, _T.c.resolution)


def _line(row: Any) -> TicketLine:
    return TicketLine(
        row.id,
        row.title,
        TicketState(row.state),
        Severity(row.severity),
        row.created_at,
        row.resolution,
    )


@dataclass(frozen=True)
class IncidentFilter:
    tickets: TicketFilter  # states, severities, label matchers, text
    group: str | None = None  # assignee group
    mine: str | None = None  # a person's name: tickets they changed or commented on


@dataclass(frozen=True)
class IncidentPage:
    masters: list[Ticket]
    children: dict[str, list[Ticket]]  # the first CHILDREN_SHOWN of each master, by urgency
    child_counts: dict[str, int]
    counts: dict[str, int]  # tickets per state, under every filter but the states
    more: bool  # another page follows
    scanned: bool = False  # label matchers ran over the first MAX_SCANNED_ROWS only
    total: int = 0
    notes: list[str] = field(default_factory=list)


def _clauses(where: IncidentFilter, *, states: bool = True) -> list[Any]:
    tickets = where.tickets if states else TicketFilter(**{**where.tickets.__dict__, "states": ()})
    clauses = where_clauses(tickets)
    if where.group is not None:
        clauses.append(_T.c.assignee_group == where.group)
    if where.mine is not None:
        clauses.append(_T.c.id.in_(sa.select(_E.c.ticket_id).where(_E.c.actor == where.mine)))
    return clauses


_URGENT = (_T.c.severity, _T.c.created_at, _T.c.id)


async def incidents(tx: TicketTx, where: IncidentFilter, *, page: int, size: int) -> IncidentPage:
    """One page of top-level tickets (under no master), most severe and oldest first."""
    top = [*_clauses(where), _T.c.master_id.is_(None)]
    matchers = where.tickets.matchers
    scanned = False
    if matchers:
        # Labels are JSON, spelled differently by each database: matched here, over a
        # bounded scan, as the API's list does.
        query = sa.select(_T.c.id, _T.c.labels).where(*top).order_by(*_URGENT)
        rows = (await tx.connection.execute(query.limit(MAX_SCANNED_ROWS))).all()
        scanned = len(rows) == MAX_SCANNED_ROWS
        ids = [row.id for row in rows if all(m.matches(row.labels) for m in matchers)]
        total = len(ids)
        chosen = ids[page * size : (page + 1) * size]
        more = (page + 1) * size < total
    else:
        query = sa.select(_T.c.id).where(*top).order_by(*_URGENT)
        query = query.offset(page * size).limit(size + 1)
        found = [row.id for row in (await tx.connection.execute(query)).all()]
        chosen, more = found[:size], len(found) > size
        total = 0
    counts = await _counts(tx, where)
    if not matchers:
        total = (
            sum(counts.get(state, 0) for state in where.tickets.states)
            if where.tickets.states
            else sum(counts.values())
        )
    tickets = await tx.get_many(chosen)
    masters = [tickets[ticket_id].ticket for ticket_id in chosen]
    children, child_counts = await _children(tx, [m.id for m in masters], where)
    return IncidentPage(masters, children, child_counts, counts, more, scanned, total)


async def _children(
    tx: TicketTx, master_ids: Sequence[str], where: IncidentFilter
) -> tuple[dict[str, list[Ticket]], dict[str, int]]:
    """The most urgent CHILDREN_SHOWN children of each master in a state the page shows,
    and how many it has in those states. Filtered here rather than in SQL, so that the
    database reads the master index alone, not every ticket in those states."""
    if not master_ids:
        return {}, {}
    states = set(where.tickets.states)
    query = (
        sa.select(_T.c.id, _T.c.master_id, _T.c.state)
        .where(_T.c.master_id.in_(list(master_ids)))
        .order_by(*_URGENT)
    )
    shown: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for row in (await tx.connection.execute(query)).all():
        if states and row.state not in states:
            continue
        counts[row.master_id] = counts.get(row.master_id, 0) + 1
        if counts[row.master_id] <= CHILDREN_SHOWN:
            shown.setdefault(row.master_id, []).append(row.id)
    found = await tx.get_many([child for ids in shown.values() for child in ids])
    children = {master: [found[child].ticket for child in ids] for master, ids in shown.items()}
    return children, counts


async def _counts(tx: TicketTx, where: IncidentFilter) -> dict[str, int]:
    """Top-level tickets per state under the page's other filters (label matchers left
    out: they would need a scan of every ticket)."""
    query = (
        sa.select(_T.c.state, sa.func.count())
        .where(*_clauses(where, states=False), _T.c.master_id.is_(None))
        .group_by(_T.c.state)
    )
    return {row[0]: int(row[1]) for row in (await tx.connection.execute(query)).all()}


async def children_of(tx: TicketTx, master_id: str) -> tuple[list[Ticket], list[TicketLine]]:
    """Every child of a master, most urgent first: the first CLOCKED_CHILDREN whole (for
    their SLA clocks), the others as lines."""
    query = sa.select(*_LINE).where(_T.c.master_id == master_id).order_by(*_URGENT)
    lines = [_line(row) for row in (await tx.connection.execute(query)).all()]
    head = [line.id for line in lines[:CLOCKED_CHILDREN]]
    found = await tx.get_many(head)
    return [found[ticket_id].ticket for ticket_id in head], lines[CLOCKED_CHILDREN:]


async def recurrences(tx: TicketTx, ticket: Ticket) -> list[Ticket]:
    """The tickets this one is a recurrence of, and those that recur it, oldest first."""
    clauses = [_T.c.refers_to == ticket.id]
    if ticket.refers_to is not None:
        clauses.append(_T.c.id == ticket.refers_to)
    query = sa.select(_T.c.id).where(sa.or_(*clauses)).order_by(_T.c.created_at).limit(50)
    ids = [row.id for row in (await tx.connection.execute(query)).all()]
    found = await tx.get_many(ids)
    return [found[ticket_id].ticket for ticket_id in ids]


def _words(title: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(title)}


async def similar_tickets(tx: TicketTx, ticket: Ticket) -> list[TicketLine]:
    """Tickets with the same fingerprint, or sharing title words, closed ones included,
    ranked by the labels and words they share (the desk's "search for similar" step)."""
    words = sorted(_words(ticket.title), key=len, reverse=True)[:4]
    alike = [_T.c.title.icontains(word, autoescape=True) for word in words]
    if ticket.fingerprint:
        alike.append(_T.c.fingerprint == ticket.fingerprint)
    if not alike:
        return []
    query = (
        sa.select(*_LINE, _T.c.labels, _T.c.fingerprint)
        .where(sa.or_(*alike), _T.c.id != ticket.id)
        .order_by(_T.c.created_at.desc())
        .limit(SIMILAR_CANDIDATES)
    )
    rows = (await tx.connection.execute(query)).all()
    own_labels = set(ticket.labels.items())
    own_words = set(words)

    def score(row: Any) -> tuple[int, float]:
        shared = len(own_labels & set(row.labels.items())) + len(own_words & _words(row.title))
        same = 10 if ticket.fingerprint and row.fingerprint == ticket.fingerprint else 0
        return (-(shared + same), -row.created_at.timestamp())

    return [_line(row) for row in sorted(rows, key=score)[:SIMILAR_SHOWN]]
