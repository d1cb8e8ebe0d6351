"""The outbox worker: routes due notifications, sends due deliveries, records outcomes.

One round is: route (one transaction), claim (one transaction), send concurrently (no
transaction open), record (one transaction). The worker never loses a notification to an
error of its own: a sink that raises is recorded as a retry, a store that fails is tried
again next round. `stop()` lets the round in progress finish (its transactions are never
cut in half), then `run` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import datetime

import structlog
from jinja2 import TemplateError

from ticket_sink.outbound._base import Envelope, Sink
from ticket_sink.outbound.config import NotificationsConfig
from ticket_sink.outbound.metrics import NotificationMetrics
from ticket_sink.outbound.outbox import Claimed, backlog, claim_due, record_outcomes, route_due
from ticket_sink.outbound.retry import Outcome, Verdict
from ticket_sink.outbound.routing import contacts_for
from ticket_sink.store import Store, StoreError

__all__ = ["OutboxWorker", "ticket_link"]

log = structlog.get_logger("ticket_sink.outbound")

# Notifications routed per transaction: routing is cheap, so bigger than a send batch.
ROUTE_BATCH = 500


def ticket_link(external_url: str | None, ticket_id: str) -> str:
    if not external_url:
        return ""
    return f"{external_url.rstrip('/')}/api/v1/tickets/{ticket_id}"


class OutboxWorker:
    """Drains the outbox of `store` into `sinks` (by name)."""

    def __init__(
        self,
        store: Store,
        config: NotificationsConfig,
        sinks: Mapping[str, Sink],
        *,
        metrics: NotificationMetrics | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._sinks = dict(sinks)
        self.metrics = metrics or NotificationMetrics(self._sinks)
        self._stopping = asyncio.Event()

    async def route_once(self) -> int:
        """Route every due notification; how many were routed comes back."""
        total = 0
        while True:
            async with self._store.transaction(write=True) as tx:
                routed = await route_due(tx, self._config, limit=ROUTE_BATCH)
            total += routed
            if routed < ROUTE_BATCH:
                return total

    async def send_once(self) -> int:
        """Attempt one batch of due deliveries; how many were attempted comes back."""
        async with self._store.transaction(write=True) as tx:
            claimed = await claim_due(
                tx, self._config, list(self._sinks), limit=self._config.batch_size
            )
            now = tx.now
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(item, now) for item in claimed))
        async with self._store.transaction(write=True) as tx:
            labels = await record_outcomes(
                tx, list(zip(claimed, outcomes, strict=True)), self._config.retry
            )
        for item, outcome, label in zip(claimed, outcomes, labels, strict=True):
            self.metrics.count(item.sink, label)
            log.info(
                "notification_attempt",
                notification_id=item.notification.id,
                ticket_id=item.notification.ticket.id,
                notification_event=item.notification.event.value,
                sink=item.sink,
                attempt=item.attempts,
                outcome=label,
                reason=outcome.reason or None,
            )
        return len(claimed)

    async def run_once(self) -> int:
        """One round: route, then send until nothing is due. Returns deliveries attempted."""
        await self.route_once()
        attempted = 0
        while sent := await self.send_once():
            attempted += sent
            if sent < self._config.batch_size:
                break
        async with self._store.transaction(write=False) as tx:
            self.metrics.set_backlog(await backlog(tx.connection))
        return attempted

    async def run(self) -> None:
        """Rounds `poll_interval_seconds` apart, until `stop()`. The first round waits one
        interval too, so an agent's start-up (migrations, the first checks) comes first."""
        while not await self._stopped_within(self._config.poll_interval_seconds):
            try:
                await self.run_once()
            except StoreError as exc:  # the database may be back next round
                log.warning("outbox_round_failed", error=str(exc))

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

    def stop(self) -> None:
        """Ask `run` to return after the round in progress."""
        self._stopping.set()

    async def _attempt(self, item: Claimed, now: datetime) -> Outcome:
        notification = item.notification
        envelope = Envelope(
            notification,
            ticket_link(self._config.external_url, notification.ticket.id),
            contacts_for(notification, self._config),
        )
        try:
            return await self._sinks[item.sink].send(envelope, now)
        except TemplateError as exc:  # checked at load, so only odd ticket data gets here
            return Outcome(Verdict.FAILED, f"template error: {exc}")
        except Exception as exc:
            # A bug in a sink must not lose the notification: keep it for a later attempt.
            log.exception("sink_error", sink=item.sink, notification_id=notification.id)
            return Outcome(Verdict.RETRY, f"internal error: {type(exc).__name__}: {exc}")
