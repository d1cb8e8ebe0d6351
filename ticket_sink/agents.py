"""The agent registry: which agent processes run against a store, when each was last
seen alive and when it stopped (the `agents` table).

Several agents may share one PostgreSQL store; this is how each one's readiness and the
outbox worker's claims are judged. It must never delete a row: an agent that stopped
stays recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ticket_sink import schema
from ticket_sink.schema import UTCDateTime
from ticket_sink.store import Store, StoreError

__all__ = ["AgentRow", "heartbeat", "list_agents", "mark_stopped", "register_agent"]


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent process, as recorded in the `agents` table (times are UTC)."""

    id: str
    hostname: str
    shard: str
    version: str
    started_at: datetime
    last_seen_at: datetime
    stopped_at: datetime | None


async def register_agent(
    store: Store, agent_id: str, hostname: str, shard: str, version: str
) -> None:
    """Record a newly started agent process."""
    now = store.now()
    async with store.connection(_action(store, "register", agent_id), write=True) as connection:
        await connection.execute(
            schema.agents.insert().values(
                id=agent_id,
                hostname=hostname,
                shard=shard,
                version=version,
                started_at=now,
                last_seen_at=now,
                stopped_at=None,
            )
        )


async def heartbeat(store: Store, agent_id: str) -> None:
    """Record that the agent is still alive."""
    await _update(store, agent_id, "heartbeat", last_seen_at=store.now())


async def mark_stopped(store: Store, agent_id: str) -> None:
    """Record that the agent stopped; a second call keeps the first stop time."""
    now = store.now()
    await _update(
        store,
        agent_id,
        "mark stopped",
        last_seen_at=now,
        stopped_at=sa.func.coalesce(schema.agents.c.stopped_at, sa.literal(now, UTCDateTime)),
    )


async def list_agents(store: Store) -> list[AgentRow]:
    """Every agent that ever registered, oldest first."""
    query = sa.select(schema.agents).order_by(schema.agents.c.started_at, schema.agents.c.id)
    failure = f"cannot list agents in store {store.shown_url}"
    async with store.connection(failure, write=False) as connection:
        rows = (await connection.execute(query)).all()
    return [AgentRow(**row._asdict()) for row in rows]


async def _update(store: Store, agent_id: str, action: str, **values: Any) -> None:
    statement = schema.agents.update().where(schema.agents.c.id == agent_id).values(**values)
    failure = _action(store, action, agent_id)
    async with store.connection(failure, write=True) as connection:
        result = await connection.execute(statement)
    if result.rowcount == 0:
        raise StoreError(f"{failure}: no such agent (register it first)")


def _action(store: Store, action: str, agent_id: str) -> str:
    return f"cannot {action} agent {agent_id!r} in store {store.shown_url}"
