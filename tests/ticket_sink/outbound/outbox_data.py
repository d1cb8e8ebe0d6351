"""Tickets and outbox rows for the worker's tests, written through the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ticket_sink import Store
from ticket_sink.model import NotificationEvent, Severity, Ticket, TicketType
from ticket_sink.outbound.config import NotificationsConfig
from ticket_sink.ticket_rows import Correlation, new_ticket_id

T0 = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # a Friday, 13:00 in Brussels


def make_ticket(master_id: str | None = None, **labels: str) -> Ticket:
    return Ticket(
        id=new_ticket_id(),
        fingerprint=new_ticket_id(),
        title="name server ns1 does not answer",
        type=TicketType.INCIDENT,
        severity=Severity.MAJOR,
        created_at=T0,
        labels={"service": "sml", "target": "ns1", **labels},
        master_id=master_id,
    )


async def add_ticket(store: Store, ticket: Ticket) -> Ticket:
    async with store.transaction() as tx:
        correlation = Correlation.for_labels(ticket.labels, notify=ticket.master_id is None)
        await tx.insert(ticket, correlation, [])
    return ticket


async def enqueue(
    store: Store,
    ticket: Ticket,
    event: NotificationEvent = NotificationEvent.CREATED,
    *,
    count: int = 1,
    due_in: float = 0.0,
) -> list[str]:
    async with store.transaction() as tx:
        due_at = tx.now + timedelta(seconds=due_in)
        return [(await tx.enqueue(event, ticket, due_at=due_at)).id for _ in range(count)]


def webhooks(*urls: str, **fields: Any) -> NotificationsConfig:
    """Webhook sinks named a, b, ... with fast retries and no jitter."""
    sinks = [
        {"name": chr(ord("a") + i), "url": url, "timeout_seconds": 2} for i, url in enumerate(urls)
    ]
    settings: dict[str, Any] = {
        "sinks": {"webhook": sinks},
        "retry": {"initial_seconds": 1, "max_seconds": 8, "jitter_seconds": 0},
        **fields,
    }
    return NotificationsConfig.model_validate(settings)
