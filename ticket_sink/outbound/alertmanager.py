"""Pushing tickets to an Alertmanager as alerts (`POST /api/v2/alerts`), so a site that
already routes its paging through Alertmanager gets vigie's incidents there too.

One alert per ticket: its labels are the ticket's labels plus `vigie_ticket`, so every
event of a ticket updates the same alert. An open ticket's alert carries an end time
`ends_after_seconds` ahead (Alertmanager resolves alerts that are not re-sent; reminders
re-send them); a resolved ticket's alert ends when it was resolved. It must never send
a label name Alertmanager would reject (they are sanitised here).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field

from ticket_sink.codec import iso
from ticket_sink.model import NotificationEvent, TicketState
from ticket_sink.outbound._base import Envelope, HttpSink, SinkConfig
from ticket_sink.outbound.retry import Outcome
from vocab import HttpUrl, Secret

__all__ = ["AlertmanagerSink", "AlertmanagerSinkConfig", "alertmanager_alert"]

_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")
DEFAULT_ALERTNAME = "VigieTicket"


class AlertmanagerSinkConfig(SinkConfig):
    kind: ClassVar[str] = "alertmanager"

    url: HttpUrl = Field(description="the Alertmanager's base URL (http://HOST:9093)")
    username: str | None = Field(None, description="basic authentication user")
    password: Secret | None = Field(None, description="basic authentication password")
    bearer_token: Secret | None = Field(None, description="sent as Authorization: Bearer")
    extra_labels: dict[str, str] = Field(
        default_factory=dict, description="labels added to every alert (e.g. source: vigie)"
    )
    ends_after_seconds: float = Field(
        86400.0, gt=0, description="an open ticket's alert ends this long after its last event"
    )

    def build(self, client: httpx.AsyncClient) -> AlertmanagerSink:
        return AlertmanagerSink(self, client)


def _label_name(name: str) -> str:
    cleaned = _LABEL_NAME.sub("_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


def alertmanager_alert(
    config: AlertmanagerSinkConfig, envelope: Envelope, summary: str, description: str
) -> dict[str, Any]:
    notification = envelope.notification
    ticket = notification.ticket
    labels = {_label_name(k): v for k, v in ticket.labels.items() if v}
    labels.setdefault("alertname", DEFAULT_ALERTNAME)
    labels.setdefault("severity", ticket.severity.name.lower())
    labels.update({_label_name(k): v for k, v in config.extra_labels.items()})
    labels["vigie_ticket"] = ticket.id
    resolved = notification.event is NotificationEvent.RESOLVED or ticket.state in (
        TicketState.RESOLVED,
        TicketState.CLOSED,
    )
    if resolved:
        ends_at = ticket.resolved_at or notification.at
    else:
        ends_at = notification.at + timedelta(seconds=config.ends_after_seconds)
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "vigie_event": notification.event.value,
            "vigie_notification_id": notification.id,
            "vigie_children": str(notification.children),
        },
        "startsAt": iso(ticket.created_at),
        "endsAt": iso(max(ends_at, ticket.created_at)),
    }
    if envelope.link:
        alert["generatorURL"] = envelope.link
    return alert


class AlertmanagerSink(HttpSink[AlertmanagerSinkConfig]):
    def __init__(self, config: AlertmanagerSinkConfig, client: httpx.AsyncClient) -> None:
        super().__init__(config, client)
        self._url = config.url.rstrip("/") + "/api/v2/alerts"

    def _auth_headers(self) -> dict[str, str]:
        if self._config.bearer_token is not None:
            return {"Authorization": f"Bearer {self._config.bearer_token.get_secret_value()}"}
        if self._config.username is not None:
            secret = self._config.password
            password = "" if secret is None else secret.get_secret_value()
            text = f"{self._config.username}:{password}"
            return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}
        return {}

    async def send(self, envelope: Envelope, now: datetime) -> Outcome:
        context = envelope.context()
        alert = alertmanager_alert(
            self._config,
            envelope,
            self._renderer.render("summary", context),
            self._renderer.render("description", context),
        )
        body = json.dumps([alert]).encode()
        return await self._post(self._url, body, envelope, now, self._auth_headers())
