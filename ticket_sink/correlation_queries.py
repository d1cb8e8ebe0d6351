"""The correlator's questions to the tickets, asked inside one store transaction: the
unclosed ticket of a fingerprint, the masters of firing nodes and of groups, what closed
since a moment.

Each reads through a `TicketTx` (buffered writes are flushed first); none writes or
decides anything.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from ticket_sink import schema
from ticket_sink.model import TicketRecord, TicketState
from ticket_sink.ticket_rows import StoredTicket
from ticket_sink.tickets import TicketTx

__all__ = [
    "fingerprints_closed_since",
    "firing_masters",
    "group_masters",
    "latest_closed_many",
    "masters_at_nodes",
    "unclosed_by_fingerprint",
    "unclosed_records",
]

_T = schema.tickets
# Written into the SQL, not bound: the fingerprint indexes are partial on this state, and a
# planner may only use such an index for a condition it can read (PostgreSQL's generic
# plans of prepared statements cannot see a bound value).
_CLOSED: sa.ColumnElement[str] = sa.literal_column("'closed'")


def _closed(dialect: Dialect) -> sa.ColumnElement[bool]:
    """The condition "closed", for a query with a more selective condition beside it.

    Most tickets end closed. SQLite, with no statistics, takes an equality on `state` for
    the most selective condition and would read every closed ticket through the state
    index; `likelihood` tells it the condition is nearly always true, so it reads through
    the other condition's index (PostgreSQL keeps statistics of its own)."""
    closed = _T.c.state == _CLOSED
    if dialect.name == "sqlite":
        return sa.func.likelihood(closed, sa.literal_column("0.9"))
    return closed


_ACTIVE = schema.ACTIVE_STATE_VALUES


async def unclosed_by_fingerprint(
    tx: TicketTx, fingerprints: Collection[str]
) -> dict[str, StoredTicket]:
    """The unclosed ticket of each fingerprint that has one (never more than one)."""
    if not fingerprints:
        return {}
    found = await tx.select(
        sa.and_(_T.c.fingerprint.in_(list(fingerprints)), _T.c.state != _CLOSED)
    )
    return {s.ticket.fingerprint: s for s in found}


async def unclosed_records(
    tx: TicketTx, fingerprints: Collection[str]
) -> dict[str, tuple[TicketRecord, bool]]:
    """What deduplication needs of each fingerprint's unclosed ticket, and whether its
    alert fires: a few columns, so a batch of repeats costs one light query."""
    if not fingerprints:
        return {}
    await tx.flush()
    query = sa.select(
        _T.c.fingerprint,
        _T.c.id,
        _T.c.state,
        _T.c.created_at,
        _T.c.last_seen,
        _T.c.occurrences,
        _T.c.resolved_at,
        _T.c.closed_at,
        _T.c.firing,
    ).where(_T.c.fingerprint.in_(list(fingerprints)), _T.c.state != _CLOSED)
    found: dict[str, tuple[TicketRecord, bool]] = {}
    for row in (await tx.connection.execute(query)).all():
        record = TicketRecord(
            row.id,
            TicketState(row.state),
            row.created_at,
            row.last_seen or row.created_at,
            row.occurrences,
            row.resolved_at,
            row.closed_at,
            row.firing,
        )
        found[row.fingerprint] = (record, row.firing)
    return found


async def latest_closed_many(
    tx: TicketTx, fingerprints: Collection[str]
) -> dict[str, StoredTicket]:
    """The most recently closed ticket of each fingerprint that has one."""
    if not fingerprints:
        return {}
    found = await tx.select(
        sa.and_(_T.c.fingerprint.in_(list(fingerprints)), _closed(tx.connection.dialect))
    )
    latest: dict[str, StoredTicket] = {}
    for stored in found:
        key, closed_at = stored.ticket.fingerprint, stored.ticket.closed_at
        best = latest.get(key)
        if best is None or (
            closed_at and best.ticket.closed_at and closed_at > best.ticket.closed_at
        ):
            latest[key] = stored
    return latest


async def fingerprints_closed_since(tx: TicketTx, moment: datetime) -> set[str]:
    """The fingerprints of the alert tickets whose last change, at or after `moment`,
    left them closed (an indexed range of `updated_at`: cheap when few changed)."""
    await tx.flush()
    query = sa.select(_T.c.fingerprint).where(
        _T.c.updated_at >= moment, _closed(tx.connection.dialect), _T.c.fingerprint != ""
    )
    return {row.fingerprint for row in (await tx.connection.execute(query)).all()}


async def firing_masters(tx: TicketTx, nodes: Collection[str]) -> dict[str, str]:
    """For each node with an active, firing ticket: the master that ticket hangs under
    (itself when it is a master)."""
    await tx.flush()
    if not nodes:
        return {}
    query = (
        sa.select(_T.c.node, _T.c.id, _T.c.master_id)
        .where(_T.c.node.in_(list(nodes)), _T.c.state.in_(_ACTIVE), _T.c.firing)
        .order_by(_T.c.created_at, _T.c.id)
    )
    masters: dict[str, str] = {}
    for node, ticket_id, master_id in (await tx.connection.execute(query)).all():
        masters.setdefault(node, master_id or ticket_id)
    return masters


async def group_masters(
    tx: TicketTx, keys: Collection[str], since: datetime
) -> dict[str, tuple[str, datetime, str]]:
    """The newest active master ticket of each group opened at or after `since`: its
    id, creation and node."""
    await tx.flush()
    if not keys:
        return {}
    query = (
        sa.select(_T.c.group_key, _T.c.id, _T.c.created_at, _T.c.node)
        .where(
            _T.c.group_key.in_(list(keys)),
            _T.c.master_id.is_(None),
            _T.c.state.in_(_ACTIVE),
            _T.c.created_at >= since,
        )
        .order_by(_T.c.created_at)
    )
    found: dict[str, tuple[str, datetime, str]] = {}
    for key, ticket_id, created_at, node in (await tx.connection.execute(query)).all():
        found[key] = (ticket_id, created_at, node)
    return found


async def masters_at_nodes(tx: TicketTx, nodes: Collection[str]) -> list[StoredTicket]:
    """Active master tickets of these nodes (re-homed when a parent starts failing)."""
    if not nodes:
        return []
    return await tx.select(
        sa.and_(_T.c.node.in_(list(nodes)), _T.c.master_id.is_(None), _T.c.state.in_(_ACTIVE))
    )
