"""Events API v2 (PagerDuty and the services that speak it): trigger, acknowledge and
resolve one incident per ticket.

The dedup key is derived from the ticket id alone, so every event of a ticket lands on the
same incident, from any agent, across restarts. It must never send anything but the
routing key as credentials, and never put the routing key in a reason or a log.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from ticket_sink.codec import iso, ticket_to_dict
from ticket_sink.model import Notification, NotificationEvent, Severity, TicketState
from ticket_sink.outbound._base import Envelope, HttpSink, SinkConfig
from ticket_sink.outbound.retry import Outcome
from vocab import HttpUrl, Secret

__all__ = [
    "DEFAULT_EVENTS_URL",
    "PagerDutySink",
    "PagerDutySinkConfig",
    "dedup_key",
    "event_action",
    "pagerduty_event",
]

# PagerDuty's documented public endpoint; only a default, other services (and tests) set
# their own.
DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# The Events API caps the summary at 1024 characters.
_SUMMARY_LIMIT = 1024

_SEVERITIES: dict[Severity, str] = {
    Severity.BLOCKING: "critical",
    Severity.MAJOR: "error",
    Severity.MINOR: "warning",
    Severity.INFO: "info",
}
# Events that must page someone even when the incident was already acknowledged.
_PAGING = frozenset(
    {
        NotificationEvent.CREATED,
        NotificationEvent.REOPENED,
        NotificationEvent.ESCALATED,
        NotificationEvent.SLA_AT_RISK,
        NotificationEvent.SLA_BREACHED,
    }
)

Action = Literal["trigger", "acknowledge", "resolve"]


class PagerDutySinkConfig(SinkConfig):
    kind: ClassVar[str] = "pagerduty"

    routing_key: Secret = Field(description="the integration's routing key")
    url: HttpUrl = Field(DEFAULT_EVENTS_URL, description="the Events API v2 enqueue URL")
    source: str = Field("vigie", description="payload.source: where the problem was seen")

    def build(self, client: httpx.AsyncClient) -> PagerDutySink:
        return PagerDutySink(self, client)


def dedup_key(ticket_id: str) -> str:
    return f"vigie-{ticket_id}"


def event_action(notification: Notification) -> Action:
    """Resolved tickets resolve the incident; a reminder about a ticket someone has taken
    acknowledges it; everything else (re)triggers it."""
    ticket = notification.ticket
    if notification.event is NotificationEvent.RESOLVED or ticket.state in (
        TicketState.RESOLVED,
        TicketState.CLOSED,
    ):
        return "resolve"
    if notification.event not in _PAGING and ticket.acknowledged_at is not None:
        return "acknowledge"
    return "trigger"


def pagerduty_event(
    config: PagerDutySinkConfig, envelope: Envelope, summary: str
) -> dict[str, Any]:
    notification = envelope.notification
    ticket = notification.ticket
    action = event_action(notification)
    event: dict[str, Any] = {
        "routing_key": config.routing_key.get_secret_value(),
        "event_action": action,
        "dedup_key": dedup_key(ticket.id),
    }
    if action != "trigger":
        return event
    event["payload"] = {
        "summary": summary[:_SUMMARY_LIMIT],
        "source": config.source,
        "severity": _SEVERITIES[ticket.severity],
        "timestamp": iso(notification.at),
        "component": ticket.labels.get("target", "") or None,
        "group": ticket.labels.get("service", "") or None,
        "class": notification.event.value,
        "custom_details": {
            "notification_id": notification.id,
            "children": notification.children,
            "detail": notification.detail,
            "ticket": ticket_to_dict(ticket),
        },
    }
    event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
    event["client"] = "vigie"
    if envelope.link:
        event["client_url"] = envelope.link
        event["links"] = [{"href": envelope.link, "text": f"ticket {ticket.id}"}]
    return event


class PagerDutySink(HttpSink[PagerDutySinkConfig]):
    async def send(self, envelope: Envelope, now: datetime) -> Outcome:
        summary = self._renderer.render("summary", envelope.context())
        body = json.dumps(pagerduty_event(self._config, envelope, summary)).encode()
        return await self._post(self._config.url, body, envelope, now)
