"""The outbox loses nothing across a SIGKILL: an agent process fills the outbox with 1,000
notifications while the receiver is down and is killed; restarted with the receiver up it
is killed again mid-drain; restarted once more it finishes. Every id arrives, and an id
arrives twice only if it was in flight (received, not yet recorded) at a kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from tests.support import free_port
from ticket_sink import Store, schema

from .receivers import receiver

ROOT = Path(__file__).resolve().parents[3]
NOTIFICATIONS = 1_000


@contextlib.contextmanager
def agent(store_url: str, webhook_url: str, *extra: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.ticket_sink.outbound.outbox_agent",
            store_url,
            webhook_url,
            *extra,
        ],
        cwd=ROOT,
        # Its per-attempt logs would fill a pipe nobody reads and stall it.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 120) -> None:
    # Polls state another process changes: there is no event to wait on.
    async with asyncio.timeout(seconds):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.05)


async def count(store: Store, query: sa.Select[tuple[int]]) -> int:
    async with store.transaction(write=False) as tx:
        return int(await tx.connection.scalar(query) or 0)


async def delivered(store: Store) -> set[str]:
    d = schema.deliveries
    async with store.transaction(write=False) as tx:
        rows = await tx.connection.execute(
            sa.select(d.c.notification_id).where(d.c.state == "delivered")
        )
        return {row[0] for row in rows}


@pytest.mark.timeout(400)
async def test_a_killed_agent_delivers_every_notification_after_a_restart(url: str) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    d = schema.deliveries
    async with Store(url) as observer:
        # 1. Receiver down: the agent fills the outbox, routes it, tries and fails.
        with agent(url, hook, "--fill", str(NOTIFICATIONS)) as process:
            tried = sa.select(sa.func.count()).select_from(d).where(d.c.attempts > 0)
            await until(lambda: _ge(observer, tried, 100))
            kill(process)
        async with observer.transaction(write=False) as tx:
            all_ids = {row[0] for row in await tx.connection.execute(sa.select(schema.outbox.c.id))}
        assert len(all_ids) == NOTIFICATIONS

        async def slow(request: web.Request, body: bytes) -> web.Response:
            await asyncio.sleep(0.02)
            return web.Response(status=202)

        async with receiver(slow, port=port) as hub:
            # 2. Receiver up: killed again mid-drain.
            with agent(url, hook) as process:
                await until(lambda: _has(hub.ids, 300))
                kill(process)
            assert len(hub.ids) < NOTIFICATIONS  # killed mid-drain
            in_flight = set(hub.ids) - await delivered(observer)
            # 3. Restarted: it finishes.
            with agent(url, hook):
                await until(lambda: _has(hub.ids, NOTIFICATIONS, exact_ids=all_ids))
                pending = sa.select(sa.func.count()).select_from(d).where(d.c.state != "delivered")
                await until(lambda: _zero(observer, pending))
    assert set(hub.ids) == all_ids
    repeated = {notification_id for notification_id, n in hub.ids.items() if n > 1}
    # Received but not yet recorded at the kill: sent again once its claim expired, and
    # nothing else was.
    assert repeated == in_flight
    assert max(hub.ids.values()) <= 2


async def _ge(store: Store, query: sa.Select[tuple[int]], at_least: int) -> bool:
    return await count(store, query) >= at_least


async def _zero(store: Store, query: sa.Select[tuple[int]]) -> bool:
    return await count(store, query) == 0


async def _has(ids: Counter[str], at_least: int, exact_ids: set[str] | None = None) -> bool:
    found = set(ids)
    return len(found) >= at_least and (exact_ids is None or found == exact_ids)
