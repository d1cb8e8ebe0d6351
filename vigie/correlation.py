"""Runs the correlator inside the agent: probe results become alerts (through the rules),
alerts go to the store in batches, and the sweep (auto-resolve, SLA actions) and the
ticket metrics' snapshot run on a timer.

It owns no decision: `correlator.probe_alerts` and the correlator's `decide` do. It must
never lose an alert to a store outage (a failed batch is kept and tried again, up to a
bound that is logged when reached) and never block a probe on the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from correlator.correlator import Correlator
from correlator.probe_alerts import ProbeAlerts
from correlator.rules import Alert
from probes import Check, ProbeResult
from ticket_sink import StoreError
from ticket_sink.reports import TicketSnapshot, snapshot

__all__ = ["AlertPump"]

log = structlog.get_logger("vigie.correlation")

# Alerts waiting for the store beyond this are dropped oldest first (and counted): a store
# down for hours must not take the agent's memory with it. Repeats of firing alerts are
# most of them, and the next evaluation sends them again.
_MAX_PENDING = 100_000
_BATCH = 2_000
# How long a stop waits for a sweep or a batch in progress before cancelling it.
_STOP_GRACE_SECONDS = 5.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AlertPump:
    """Collects alerts from probe results and feeds them to the correlator."""

    def __init__(
        self,
        correlator: Correlator,
        alerts: ProbeAlerts,
        *,
        sweep_interval: float,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._correlator = correlator
        self._alerts = alerts
        self._sweep_interval = sweep_interval
        self._clock = clock
        self._pending: list[Alert] = []
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.dropped = 0
        self.snapshot: TicketSnapshot | None = None

    @property
    def correlator(self) -> Correlator:
        return self._correlator

    def on_result(self, check: Check, result: ProbeResult) -> None:
        alert = self._alerts.observe(check, result.reason, self._clock())
        if alert is not None:
            self._pending.append(alert)
            if len(self._pending) > _MAX_PENDING:
                excess = len(self._pending) - _MAX_PENDING
                del self._pending[:excess]
                self.dropped += excess
            self._wake.set()

    async def flush(self) -> None:
        """Send what is pending; on a store error keep it for the next try."""
        while self._pending:
            batch = self._pending[:_BATCH]
            try:
                await self._correlator.ingest(batch, source="probe")
            except StoreError as exc:
                log.warning("ingest_failed", alerts=len(batch), error=str(exc))
                return
            del self._pending[: len(batch)]

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False once the pump is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return not self._stopping.is_set()

    async def run(self) -> None:
        """Feed alerts as they come (gathered for a moment) until stopped."""
        while not self._stopping.is_set():
            wake = asyncio.ensure_future(self._wake.wait())
            stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({wake, stop}, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            stop.cancel()
            self._wake.clear()
            if await self._pause(0.2):  # let a burst of results gather into one batch
                await self.flush()

    async def sweep_forever(self) -> None:
        """Auto-resolve, SLA actions and the metrics snapshot, every `sweep_interval`."""
        while not self._stopping.is_set():
            try:
                await self._correlator.sweep()
                self.snapshot = await snapshot(self._correlator.store, self._correlator.sla_policy)
            except StoreError as exc:
                log.warning("sweep_failed", error=str(exc))
            await self._pause(self._sweep_interval)

    async def stop(self, tasks: list[asyncio.Task[None]]) -> None:
        """Let the loops finish what they are doing (a store operation cut in half by a
        cancellation can leave a connection behind), then flush what is pending."""
        self._stopping.set()
        _done, late = await asyncio.wait(tasks, timeout=_STOP_GRACE_SECONDS)
        for task in late:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(StoreError):
            await self.flush()  # what was collected before the stop is not lost
