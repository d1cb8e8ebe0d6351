"""The HTTP sinks against local receivers: the generic webhook (signed, with its
idempotency key), the chat formats, the Events API v2 and Alertmanager's API v2, each
receiver checking the payload's schema as the real service does."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from ticket_sink.model import NotificationEvent, TicketState
from ticket_sink.outbound._base import Envelope
from ticket_sink.outbound.alertmanager import AlertmanagerSinkConfig
from ticket_sink.outbound.chat import ChatSinkConfig
from ticket_sink.outbound.pagerduty import PagerDutySinkConfig, dedup_key
from ticket_sink.outbound.retry import Verdict
from ticket_sink.outbound.templates import sample_notification
from ticket_sink.outbound.webhook import WebhookSinkConfig

from .receivers import receiver

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
LINK = "https://vigie.example/api/v1/tickets/T0EXAMPLE00"


def envelope(event: NotificationEvent = NotificationEvent.CREATED) -> Envelope:
    return Envelope(sample_notification(event), LINK)


# --- generic webhook ------------------------------------------------------------------


async def test_webhook_is_signed_and_carries_the_notification_id() -> None:
    async with receiver() as server, httpx.AsyncClient() as client:
        config = WebhookSinkConfig(
            name="hook", url=server.url + "/hook", secret="s3cret", headers={"X-Team": "ops"}
        )
        outcome = await config.build(client).send(envelope(), NOW)
    assert outcome.verdict is Verdict.DELIVERED
    (request,) = server.requests
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Vigie-Signature"] == f"sha256={expected}"
    assert request.headers["Idempotency-Key"] == request.json()["id"]
    assert request.headers["X-Team"] == "ops"
    body = request.json()
    assert body["event"] == "created"
    assert body["ticket"]["id"] == "T0EXAMPLE00"
    assert body["link"] == LINK
    assert body["summary"].startswith("New incident")


async def test_an_unsigned_webhook_has_no_signature_header() -> None:
    async with receiver() as server, httpx.AsyncClient() as client:
        config = WebhookSinkConfig(name="hook", url=server.url)
        await config.build(client).send(envelope(), NOW)
    assert "X-Vigie-Signature" not in server.requests[0].headers


# --- chat -----------------------------------------------------------------------------

CHAT_URL = "https://hooks.chat.invalid/services/T000/B000/XXXX"


def chat_service(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    """A client whose every request reaches `answer`, which only takes a POST to
    `CHAT_URL`: the sink's own client, with no network."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert (request.method, str(request.url)) == ("POST", CHAT_URL)
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize("chat_format", ["slack", "mattermost", "teams"])
async def test_chat_payloads(chat_format: str) -> None:
    received: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, text="ok")

    config = ChatSinkConfig(name="chat", format=chat_format, url=CHAT_URL, username="vigie")
    async with chat_service(answer) as client:
        outcome = await config.build(client).send(envelope(), NOW)
    assert outcome.verdict is Verdict.DELIVERED
    payload = json.loads(received[-1].content)
    if chat_format == "teams":
        (attachment,) = payload["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard"
        assert card["body"][0]["text"].startswith("**New incident**")
        assert card["actions"][0]["url"] == LINK
    else:
        bold = "*New incident*" if chat_format == "slack" else "**New incident**"
        assert payload["text"].startswith(bold)
        assert payload["username"] == "vigie"
        assert LINK in payload["text"]
        assert ("blocks" in payload) == (chat_format == "slack")


async def test_a_chat_failure_never_shows_the_webhook_url() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {CHAT_URL}", request=request)

    config = ChatSinkConfig(name="chat", format="slack", url=CHAT_URL)
    async with chat_service(unreachable) as client:
        outcome = await config.build(client).send(envelope(), NOW)
    assert outcome.verdict is Verdict.RETRY
    assert "XXXX" not in outcome.reason
    assert "<webhook url>" in outcome.reason


# --- Events API v2 ------------------------------------------------------------------------

PD_SEVERITIES = {"critical", "error", "warning", "info"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def events_api_errors(event: Any) -> list[str]:
    """What the Events API v2 would reject in `event` (its documented schema)."""
    errors = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        errors.append("routing_key must be a 32 character string")
    if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        errors.append("event_action")
    key = event.get("dedup_key")
    if event.get("event_action") != "trigger" and not key:
        errors.append("dedup_key is required to acknowledge or resolve")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("dedup_key")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        if not isinstance(payload.get("summary"), str) or not 0 < len(payload["summary"]) <= 1024:
            errors.append("payload.summary")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("payload.source")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("payload.severity")
        if "timestamp" in payload and not ISO.match(payload["timestamp"]):
            errors.append("payload.timestamp")
        for link in event.get("links", []):
            if set(link) - {"href", "text"} or "href" not in link:
                errors.append("links")
    return errors


async def events_api(request: web.Request, body: bytes) -> web.Response:
    event = json.loads(body)
    errors = events_api_errors(event)
    if errors:
        return web.json_response(
            {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            status=400,
        )
    return web.json_response(
        {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]},
        status=202,
    )


ROUTING_KEY = "R" * 32


@pytest.mark.parametrize(
    ("event", "state", "acknowledged", "action"),
    [
        (NotificationEvent.CREATED, TicketState.NEW, False, "trigger"),
        (NotificationEvent.ESCALATED, TicketState.OPEN, True, "trigger"),
        (NotificationEvent.REMINDER, TicketState.OPEN, True, "acknowledge"),
        (NotificationEvent.REMINDER, TicketState.NEW, False, "trigger"),
        (NotificationEvent.RESOLVED, TicketState.RESOLVED, True, "resolve"),
    ],
    ids=["created", "escalated", "reminder-acked", "reminder-new", "resolved"],
)
async def test_events_api_v2_actions_share_one_dedup_key_per_ticket(
    event: NotificationEvent, state: TicketState, acknowledged: bool, action: str
) -> None:
    notification = sample_notification(event)
    ticket = replace(
        notification.ticket, state=state, acknowledged_at=NOW if acknowledged else None
    )
    sent = Envelope(replace(notification, ticket=ticket), LINK)
    async with receiver(events_api) as server, httpx.AsyncClient() as client:
        config = PagerDutySinkConfig(
            name="pd", routing_key=ROUTING_KEY, url=server.url + "/v2/enqueue"
        )
        outcome = await config.build(client).send(sent, NOW)
    assert outcome.verdict is Verdict.DELIVERED, outcome.reason
    body = server.requests[0].json()
    assert body["event_action"] == action
    assert body["dedup_key"] == dedup_key("T0EXAMPLE00")
    if action == "trigger":
        assert body["payload"]["severity"] == "error"  # severity 2
        assert body["payload"]["custom_details"]["notification_id"] == notification.id


async def test_a_rejected_event_is_a_permanent_failure_with_the_reason() -> None:
    async with receiver(events_api) as server, httpx.AsyncClient() as client:
        config = PagerDutySinkConfig(name="pd", routing_key="short", url=server.url)
        outcome = await config.build(client).send(envelope(), NOW)
    assert outcome.verdict is Verdict.FAILED
    assert "routing_key must be a 32 character string" in outcome.reason


# --- Alertmanager API v2 ------------------------------------------------------------------

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def postable_alerts_errors(alerts: Any) -> list[str]:
    """What Alertmanager's `POST /api/v2/alerts` would reject (its PostableAlerts schema)."""
    if not isinstance(alerts, list) or not alerts:
        return ["expected a non-empty array of alerts"]
    errors = []
    for alert in alerts:
        labels = alert.get("labels")
        if not isinstance(labels, dict) or not labels:
            errors.append("labels must be a non-empty object")
            continue
        errors += [f"bad label name {n!r}" for n in labels if not LABEL_NAME.match(n)]
        errors += [
            f"label {n} is not a string" for n, v in labels.items() if not isinstance(v, str)
        ]
        annotations = alert.get("annotations", {})
        errors += [f"annotation {n}" for n, v in annotations.items() if not isinstance(v, str)]
        for field in ("startsAt", "endsAt"):
            if field in alert and not ISO.match(alert[field]):
                errors.append(field)
        if set(alert) - {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}:
            errors.append("unknown field")
    return errors


async def alertmanager_api(request: web.Request, body: bytes) -> web.Response:
    if request.path != "/api/v2/alerts":
        return web.Response(status=404)
    errors = postable_alerts_errors(json.loads(body))
    if errors:
        return web.json_response("; ".join(errors), status=400)
    return web.Response(status=200)


async def test_alertmanager_gets_one_alert_per_ticket() -> None:
    notification = sample_notification(NotificationEvent.CREATED)
    ticket = replace(notification.ticket, labels={**notification.ticket.labels, "bad-name": "x"})
    sent = Envelope(replace(notification, ticket=ticket), LINK)
    async with receiver(alertmanager_api) as server, httpx.AsyncClient() as client:
        config = AlertmanagerSinkConfig(
            name="am", url=server.url, extra_labels={"source": "vigie"}, bearer_token="tok"
        )
        outcome = await config.build(client).send(sent, NOW)
    assert outcome.verdict is Verdict.DELIVERED, outcome.reason
    (request,) = server.requests
    assert request.headers["Authorization"] == "Bearer tok"
    (alert,) = request.json()
    assert alert["labels"]["vigie_ticket"] == "T0EXAMPLE00"
    assert alert["labels"]["bad_name"] == "x"
    assert alert["labels"]["source"] == "vigie"
    assert alert["annotations"]["vigie_notification_id"] == notification.id
    assert alert["generatorURL"] == LINK
    assert alert["endsAt"] > alert["startsAt"]


async def test_a_resolved_ticket_ends_its_alert() -> None:
    notification = sample_notification(NotificationEvent.RESOLVED)
    resolved_at = datetime(2025, 1, 1, 13, 0, tzinfo=UTC)
    ticket = replace(notification.ticket, state=TicketState.RESOLVED, resolved_at=resolved_at)
    sent = Envelope(replace(notification, ticket=ticket))
    async with receiver(alertmanager_api) as server, httpx.AsyncClient() as client:
        config = AlertmanagerSinkConfig(name="am", url=server.url)
        outcome = await config.build(client).send(sent, NOW)
    assert outcome.verdict is Verdict.DELIVERED, outcome.reason
    (alert,) = server.requests[0].json()
    assert alert["endsAt"] == "2025-01-01T13:00:00Z"
    assert "generatorURL" not in alert
