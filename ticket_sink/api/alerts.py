"""`POST /alerts`: alerts from Alertmanager's webhook or vigie's own format, to the correlator.

The handler only translates; the application's ingest function correlates and commits
before it returns, so a 200 means every resulting ticket is durable. It must never write
tickets itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from ticket_sink.api.alert_models import AlertmanagerWebhook, VigieAlerts, incoming_alerts
from ticket_sink.api.framework import Call, json_response
from ticket_sink.api.problems import NotAvailable
from ticket_sink.api.settings import ApiSettings

__all__ = ["post_alerts"]


async def post_alerts(settings: ApiSettings, call: Call) -> web.Response:
    if settings.ingest is None:
        raise NotAvailable("alert ingestion is not available yet on this agent")
    payload: AlertmanagerWebhook | VigieAlerts = call.body
    source, alerts, rejected = incoming_alerts(payload, now=datetime.now(UTC))
    summary = await settings.ingest(alerts, source) if alerts else {}
    firing = sum(alert.ends_at is None for alert in alerts)
    return json_response(
        {
            "accepted": len(alerts),
            "firing": firing,
            "resolved": len(alerts) - firing,
            "rejected": [
                {"index": alert.index, "field": alert.field, "detail": alert.detail}
                for alert in rejected
            ],
            "summary": dict(summary),
        }
    )
