"""Whether the agent can take alerts now: its store reachable and writable.

A background task writes the agent's heartbeat every `interval` (a one-row update, the
cheapest write that proves the database takes writes: not down, not full, not read-only)
and keeps the outcome; `/readyz` reads it and never touches the database itself, so a
load balancer polling it costs nothing. A failed write counts at once; a write that hangs
counts once the last success is older than three intervals and the write timeout: a
stuck check must not leave a stale "ready". It never logs the store's
URL beyond what the store itself shows (the password masked).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from ticket_sink import Store, StoreError
from ticket_sink.agents import heartbeat

__all__ = ["StoreWatch"]

log = structlog.get_logger("vigie.readiness")

_STALE_AFTER_INTERVALS = 3
# A write that hangs (a blackholed database) is given up after this long; the watch then
# reports the store as not writable until a write succeeds.
WRITE_TIMEOUT_SECONDS = 5.0


class StoreWatch:
    """Heartbeats of agent `agent_id` in `store`, every `interval` seconds."""

    def __init__(
        self,
        store: Store,
        agent_id: str,
        interval: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._agent_id = agent_id
        self._interval = interval
        self._monotonic = monotonic
        # The agent registered itself just before: that write succeeded.
        self._last_success = monotonic()
        self._failing = False

    @property
    def writable(self) -> bool:
        age = self._monotonic() - self._last_success
        stale_after = _STALE_AFTER_INTERVALS * self._interval + WRITE_TIMEOUT_SECONDS
        return not self._failing and age < stale_after

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check_once()

    async def check_once(self) -> None:
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                await heartbeat(self._store, self._agent_id)
        except (StoreError, TimeoutError) as exc:
            if not self._failing:
                log.warning("store_not_writable", error=str(exc) or type(exc).__name__)
            self._failing = True
            return
        if self._failing:
            log.info("store_writable")
        self._failing = False
        self._last_success = self._monotonic()
