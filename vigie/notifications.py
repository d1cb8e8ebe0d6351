"""Runs the outbox worker inside the agent: its HTTP client, its sinks, its metrics.

A cleanup context opened after the store's (so it closes first): it must never outlive the
store, and never stop without waiting for the round in progress to be cancelled (what was
claimed but not recorded is sent again after the claim expires, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from ticket_sink import Store
from ticket_sink.outbound import (
    NotificationMetrics,
    NotificationsConfig,
    OutboxWorker,
    build_sinks,
    notification_client,
)

__all__ = ["notifications_context"]

log = structlog.get_logger("vigie.notifications")

# How long shutdown waits for the round in progress (sends included) before cancelling it.
_STOP_GRACE_SECONDS = 5.0

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def notifications_context(
    store: Store, config: NotificationsConfig, metrics: NotificationMetrics, agent_id: str
) -> CleanupContext:
    """The worker's life in the app; `metrics` is registered by the app for its whole life,
    so /metrics shows the families before the worker starts. `agent_id` is the agent's
    registration in the store, marked on every claim."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        client = notification_client(proxy=config.proxy_url)
        sinks = build_sinks(config, client)
        metrics.declare(sinks)
        worker = OutboxWorker(store, config, sinks, metrics=metrics, agent_id=agent_id)
        task = asyncio.create_task(worker.run(), name="vigie-notifications")
        log.info("notifications_started", sinks=sorted(sinks))
        try:
            yield
        finally:
            worker.stop()
            try:
                # A round cut in half could leave a database connection half open.
                async with asyncio.timeout(_STOP_GRACE_SECONDS):
                    await task
            except TimeoutError:
                # A slow receiver: what it was sent is sent again once the claim expires.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await client.aclose()

    return context
