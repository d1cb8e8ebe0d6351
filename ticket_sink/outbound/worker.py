"""The outbox worker: routes due notifications, sends due deliveries, records outcomes.

Routing runs once a round (one transaction). Sending runs in one lane per sink: claim
that sink's due deliveries (one transaction), send them concurrently (no transaction
open), record their outcomes (one transaction), until none is due. Lanes are independent,
so a slow receiver delays only its own notifications, and every attempt has a total
deadline, the sink's `timeout_seconds` (a client's timeout is per read: a receiver that
answers one byte a second would never trip it). The worker never loses a notification
to an error of its own: a sink that raises or overruns is recorded as a retry, a store
that fails is tried again next round. `stop()` lets the lanes in progress finish (their
transactions are never cut in half), then `run` returns.
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
from ticket_sink.outbound.outbox import (
    Claimed,
    backlog,
    claim_due,
    fail_removed_sinks,
    record_outcomes,
    route_due,
)
from ticket_sink.outbound.retry import Outcome, Verdict
from ticket_sink.outbound.routing import contacts_for
from ticket_sink.store import Store, StoreError

__all__ = ["OutboxWorker", "ticket_link"]

log = structlog.get_logger("ticket_sink.outbound")

# A sink built outside the configuration (tests) gets the configuration's default.
DEFAULT_DEADLINE_SECONDS = 10.0
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
        agent_id: str | None = None,
    ) -> None:
        """`agent_id` is this agent's row in the store's agents table, recorded on what it
        claims so that its claims are taken over early if it dies."""
        self._store = store
        self._config = config
        self._sinks = dict(sinks)
        self._deadlines = {sink.name: sink.timeout_seconds for sink in config.sinks.all()}
        self.metrics = metrics or NotificationMetrics(self._sinks)
        self._stopping = asyncio.Event()
        self._agent_id = agent_id

    async def route_once(self) -> int:
        """Route every due notification; how many were routed comes back."""
        total = 0
        while True:
            async with self._store.transaction(write=True) as tx:
                routed = await route_due(tx, self._config, limit=ROUTE_BATCH)
                if routed < ROUTE_BATCH:
                    await fail_removed_sinks(tx, list(self._sinks))
            total += routed
            if routed < ROUTE_BATCH:
                return total

    async def send_once(self, sink: str | None = None) -> int:
        """Attempt one batch of due deliveries, of `sink` or of every sink; how many were
        attempted comes back."""
        async with self._store.transaction(write=True) as tx:
            claimed = await claim_due(
                tx,
                self._config,
                list(self._sinks),
                limit=self._config.batch_size,
                only=sink,
                agent_id=self._agent_id,
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

    async def drain(self, sink: str) -> int:
        """Send `sink`'s due deliveries until none is due; how many were attempted."""
        attempted = 0
        while sent := await self.send_once(sink):
            attempted += sent
            if sent < self._config.batch_size:
                break
        return attempted

    async def run_once(self) -> int:
        """One round: route, then drain every sink's lane. Returns deliveries attempted."""
        await self.route_once()
        attempted = sum(await asyncio.gather(*(self.drain(name) for name in self._sinks)))
        await self._measure_backlog()
        return attempted

    async def run(self) -> None:
        """Rounds `poll_interval_seconds` apart, until `stop()`. The first round waits one
        interval too, so an agent's start-up (migrations, the first checks) comes first.
        A sink whose lane is still busy from an earlier round keeps it; the others start
        theirs."""
        lanes: dict[str, asyncio.Task[int]] = {}
        try:
            while not await self._stopped_within(self._config.poll_interval_seconds):
                try:
                    await self.route_once()
                    await self._measure_backlog()
                except StoreError as exc:  # the database may be back next round
                    log.warning("outbox_round_failed", error=str(exc))
                    continue
                for name in self._sinks:
                    lane = lanes.get(name)
                    if lane is None or lane.done():
                        lanes[name] = asyncio.create_task(self._lane(name), name=f"outbox-{name}")
        finally:
            # Each attempt ends by its deadline, so the lanes finish soon.
            await asyncio.gather(*lanes.values(), return_exceptions=True)

    async def _lane(self, sink: str) -> int:
        try:
            return await self.drain(sink)
        except StoreError as exc:  # the database may be back next round
            log.warning("outbox_lane_failed", sink=sink, error=str(exc))
            return 0

    async def _measure_backlog(self) -> None:
        async with self._store.transaction(write=False) as tx:
            self.metrics.set_backlog(await backlog(tx.connection))

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
        deadline = self._deadlines.get(item.sink, DEFAULT_DEADLINE_SECONDS)
        try:
            async with asyncio.timeout(deadline):
                return await self._sinks[item.sink].send(envelope, now)
        except TimeoutError:
            return Outcome(Verdict.RETRY, f"no complete answer within {deadline:g}s")
        except TemplateError as exc:  # checked at load, so only odd ticket data gets here
            return Outcome(Verdict.FAILED, f"template error: {exc}")
        except Exception as exc:
            # A bug in a sink must not lose the notification: keep it for a later attempt.
            log.exception("sink_error", sink=item.sink, notification_id=notification.id)
            return Outcome(Verdict.RETRY, f"internal error: {type(exc).__name__}: {exc}")
