"""Silences (maintenance windows) in the store: create, list, expire.

These are what the HTTP API calls. A silence holds the notifications of matching tickets
until it ends; it never deletes or drops one, and expiring a silence only moves its end to
now (the record stays, as every record in the store does).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ticket_sink import schema
from ticket_sink.codec import iso
from ticket_sink.model import Matcher, stored_matchers
from ticket_sink.outbound.routing import Silence
from ticket_sink.store import Store

__all__ = [
    "active_silences",
    "create_silence",
    "expire_silence",
    "list_silences",
    "silence_to_dict",
]

_S = schema.silences


def _from_row(row: Any) -> Silence:
    return Silence(
        id=row.id,
        matchers=stored_matchers(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
    )


def silence_to_dict(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matchers": [
            {"name": m.name, "op": m.op.value, "value": m.value} for m in silence.matchers
        ],
        "starts_at": iso(silence.starts_at),
        "ends_at": iso(silence.ends_at),
        "created_by": silence.created_by,
        "comment": silence.comment,
    }


async def create_silence(
    store: Store,
    matchers: Sequence[Matcher],
    *,
    ends_at: datetime,
    created_by: str,
    comment: str = "",
    starts_at: datetime | None = None,
) -> Silence:
    """Record a silence from `starts_at` (default: now) to `ends_at`.

    Raises ValueError without matchers (a silence of everything is a mistake more often
    than an intent) or when it would end before it starts.
    """
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    async with store.transaction(write=True) as tx:
        start = tx.now if starts_at is None else starts_at
        if ends_at <= start:
            raise ValueError(f"a silence must end after it starts ({iso(start)})")
        silence = Silence(str(uuid.uuid4()), tuple(matchers), start, ends_at, created_by, comment)
        await tx.connection.execute(
            _S.insert().values(
                id=silence.id,
                matchers=[[m.name, m.op.value, m.value] for m in silence.matchers],
                starts_at=silence.starts_at,
                ends_at=silence.ends_at,
                created_by=created_by,
                comment=comment,
            )
        )
    return silence


async def list_silences(store: Store, *, include_expired: bool = False) -> list[Silence]:
    """Silences that have not ended (and, with `include_expired`, those that have),
    soonest end first."""
    async with store.transaction(write=False) as tx:
        query = sa.select(_S).order_by(_S.c.ends_at, _S.c.id)
        if not include_expired:
            query = query.where(_S.c.ends_at > tx.now)
        rows = (await tx.connection.execute(query)).all()
    return [_from_row(row) for row in rows]


async def expire_silence(store: Store, silence_id: str) -> Silence | None:
    """End the silence now (held notifications are sent on the worker's next round).
    An already ended one keeps its end. None: no such silence."""
    async with store.transaction(write=True) as tx:
        await tx.connection.execute(
            _S.update().where(_S.c.id == silence_id, _S.c.ends_at > tx.now).values(ends_at=tx.now)
        )
        row = (await tx.connection.execute(sa.select(_S).where(_S.c.id == silence_id))).first()
        if row is not None:
            # Held deliveries wait for the end they were given; let the worker look at all
            # of them again now (those still held by something else get their hold back).
            held = schema.deliveries
            await tx.connection.execute(
                held.update()
                .where(held.c.state == "held", held.c.next_attempt_at > tx.now)
                .values(next_attempt_at=tx.now, updated_at=tx.now)
            )
    return None if row is None else _from_row(row)


async def active_silences(connection: AsyncConnection, now: datetime) -> list[Silence]:
    """Silences not yet ended at `now` (including those that start later: a hold that
    ends when one starts must continue through it)."""
    rows = (await connection.execute(sa.select(_S).where(_S.c.ends_at > now))).all()
    return [_from_row(row) for row in rows]
