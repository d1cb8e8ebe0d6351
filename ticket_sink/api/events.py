"""`GET /events`: ticket changes as Server-Sent Events, resumable with `Last-Event-ID`.

The stream polls `ticket_events` (whose id orders every change) on a short interval, so
it works the same with several agents sharing a PostgreSQL store: any agent's change
reaches every agent's followers. It must never hold a transaction open between polls,
and never skip an event silently: a gap in ids (a writer that has not committed yet) is
waited for a moment before it is stepped over.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

import structlog
from aiohttp import web

from ticket_sink.api import queries
from ticket_sink.api.event_models import MAX_EVENT_ID, EventQuery
from ticket_sink.api.framework import Call
from ticket_sink.api.problems import Problem
from ticket_sink.api.settings import ApiSettings
from ticket_sink.api.views import event_view
from ticket_sink.model import AuditEvent
from ticket_sink.store import StoreError

__all__ = ["GapWait", "stream_events"]

log = structlog.get_logger("ticket_sink.api.events")

BATCH = 500
# How long a missing id may stay missing before the stream steps over it: a PostgreSQL
# writer takes its id before it commits, and a rolled-back one never fills its gap.
GAP_GRACE_SECONDS = 2.0
RETRY_MILLISECONDS = 2000  # how soon an EventSource reconnects


class GapWait:
    """Which ids of a poll may be sent now. Pure: the caller passes the monotonic time."""

    def __init__(self, after: int, grace: float = GAP_GRACE_SECONDS) -> None:
        self.after = after
        self.grace = grace
        self._gap_since: float | None = None

    def ready(self, ids: Sequence[int], now: float) -> int:
        """How many of `ids` (ascending, all above `after`) to send; advances `after`."""
        count = 0
        expected = self.after + 1
        for event_id in ids:
            if event_id != expected:
                break
            count += 1
            expected += 1
        if count < len(ids):
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since >= self.grace:
                count = len(ids)
        if count == len(ids):
            self._gap_since = None
        if count:
            self.after = ids[count - 1]
        return count


def _start(call: Call) -> int | None:
    header = call.request.headers.get("Last-Event-ID")
    if header is not None:
        try:
            value = int(header.strip())
        except ValueError:
            value = -1
        if not 0 <= value <= MAX_EVENT_ID:
            raise Problem(
                400,
                "Last-Event-ID must be an event id (an integer from 0 to 2^63-1)",
                field="Last-Event-ID",
                kind="invalid-input",
            )
        return value
    query: EventQuery = call.query
    return query.after


async def stream_events(settings: ApiSettings, call: Call) -> web.StreamResponse:
    start = _start(call)
    if start is None:
        async with settings.store.transaction(write=False) as tx:
            start = await queries.last_event_id(tx)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a reverse proxy must not buffer the stream
        }
    )
    await response.prepare(call.request)
    wait = GapWait(start)
    quiet_since = time.monotonic()
    try:
        await response.write(f"retry: {RETRY_MILLISECONDS}\n: from {start}\n\n".encode())
        while True:
            batch = await _poll(settings, wait.after)
            count = wait.ready([event_id for event_id, _ in batch], time.monotonic())
            if count:
                chunks = [
                    f"id: {event_id}\nevent: ticket\ndata: "
                    f"{json.dumps(event_view(event_id, event), separators=(',', ':'))}\n\n"
                    for event_id, event in batch[:count]
                ]
                await response.write("".join(chunks).encode())
                quiet_since = time.monotonic()
                if count == BATCH:
                    continue  # more may be waiting: no pause
            elif time.monotonic() - quiet_since >= settings.keepalive_seconds:
                # A comment line: keeps proxies from closing an idle connection.
                await response.write(b": keep-alive\n\n")
                quiet_since = time.monotonic()
            await asyncio.sleep(settings.event_poll_seconds)
    except ConnectionError:  # the client went away
        pass
    return response


async def _poll(settings: ApiSettings, after: int) -> list[tuple[int, AuditEvent]]:
    try:
        async with settings.store.transaction(write=False) as tx:
            return await queries.events_after(tx, after, limit=BATCH)
    except StoreError as exc:
        # The next poll may succeed; the client keeps its place either way.
        log.warning("events_poll_failed", error=str(exc))
        return []
