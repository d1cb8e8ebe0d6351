"""Alerts arrive as Alertmanager posts them (webhook version 4, unchanged) or in vigie's
own format, and reach the ingest function with the right severity, times and status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.ticket_sink.api.conftest import RecordingIngest, auth
from ticket_sink.api import Role
from ticket_sink.model import Severity

Client = TestClient[Any, Any]

# As Alertmanager 0.27's webhook receiver sends it (unknown fields included on purpose).
WEBHOOK = {
    "receiver": "vigie",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "SmpDown", "severity": "critical", "instance": "smp1"},
            "annotations": {"summary": "smp1 is down"},
            "startsAt": "2025-03-30T01:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph",
            "fingerprint": "c0ffee",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "CrlStale", "severity": "warning"},
            "annotations": {},
            "startsAt": "2025-03-30T00:00:00+02:00",
            "endsAt": "2025-03-30T00:30:00+02:00",
            "generatorURL": "",
            "fingerprint": "beef",
        },
        {
            "status": "firing",
            "labels": {"alertname": "Odd", "severity": "page-me-maybe"},
            "annotations": {},
            "startsAt": "2025-03-30T01:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
        },
    ],
    "groupLabels": {},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.local",
    "version": "4",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "someFutureField": True,
}


async def test_alertmanager_webhook(sqlite_client: Client, ingest: RecordingIngest) -> None:
    response = await sqlite_client.post("/api/v1/alerts", json=WEBHOOK, headers=auth(Role.INGEST))

    assert response.status == 200, await response.text()
    assert await response.json() == {
        "accepted": 3,
        "firing": 2,
        "resolved": 1,
        "rejected": [],
        "summary": {"created": 3},
    }
    ((source, alerts),) = ingest.batches
    assert source == "alertmanager"
    down, stale, odd = alerts
    assert (down.severity, down.ends_at) == (Severity.BLOCKING, None)
    assert down.starts_at == datetime(2025, 3, 30, 1, 0, 0, 123456, tzinfo=UTC)
    assert down.annotations == {"summary": "smp1 is down"}
    assert stale.severity == Severity.MINOR
    assert stale.ends_at == datetime(2025, 3, 29, 22, 30, tzinfo=UTC)
    assert odd.severity == Severity.MINOR  # unknown spelling: the default


async def test_vigie_format(sqlite_client: Client, ingest: RecordingIngest) -> None:
    body = {
        "alerts": [
            {"labels": {"service": "sml", "severity": "major"}},
            {"labels": {"service": "sml"}, "severity": 1, "ends_at": "2025-01-01T00:00:00Z"},
        ]
    }

    response = await sqlite_client.post("/api/v1/alerts", json=body, headers=auth(Role.INGEST))

    assert response.status == 200, await response.text()
    ((source, (major, ended)),) = ingest.batches
    assert source == "api"
    assert major.severity == Severity.MAJOR
    assert major.ends_at is None
    assert major.starts_at.tzinfo is UTC
    assert ended.severity == Severity.BLOCKING
    assert ended.ends_at is not None


async def test_bad_alerts_name_the_field(sqlite_client: Client, ingest: RecordingIngest) -> None:
    cases = [
        ({"alerts": [{"labels": {"a": "b"}, "severity": 9}]}, "alerts[0].severity"),
        ({"alerts": [{"labels": {"a": "b"}, "starts_at": 5}]}, "alerts[0].starts_at"),
        ({**WEBHOOK, "version": "3"}, "version"),
        ({**WEBHOOK, "alerts": [{"status": "firing", "labels": {}}]}, "alerts[0].startsAt"),
    ]
    for body, field in cases:
        response = await sqlite_client.post("/api/v1/alerts", json=body, headers=auth(Role.INGEST))
        assert response.status == 400, field
        assert (await response.json())["field"] == field
    assert ingest.batches == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("startsAt", "9999-12-31T23:59:59-23:59", id="past-year-9999-in-utc"),
        pytest.param("startsAt", "0001-01-01T00:00:00+23:59", id="before-year-1-in-utc"),
        pytest.param("startsAt", "9500-01-01T00:00:00Z", id="far-future"),
        pytest.param("endsAt", "9999-12-31T23:59:59-23:59", id="resolved-extreme-end"),
    ],
)
async def test_one_alert_with_an_extreme_time_is_rejected_alone(
    sqlite_client: Client, ingest: RecordingIngest, field: str, value: str
) -> None:
    """Alertmanager retries a batch that failed for ever: the other alerts of the batch
    are taken, and the answer says which one was left out and why."""
    bad = {**WEBHOOK["alerts"][1], field: value}
    body = {**WEBHOOK, "alerts": [WEBHOOK["alerts"][0], bad, WEBHOOK["alerts"][2]]}
    response = await sqlite_client.post("/api/v1/alerts", json=body, headers=auth(Role.INGEST))

    assert response.status == 200, await response.text()
    answer = await response.json()
    assert (answer["accepted"], answer["firing"], answer["resolved"]) == (2, 2, 0)
    ((rejected),) = answer["rejected"]
    assert (rejected["index"], rejected["field"]) == (1, f"alerts[1].{field}")
    assert "is out of range" in rejected["detail"]
    ((_, alerts),) = ingest.batches
    assert [alert.labels["alertname"] for alert in alerts] == ["SmpDown", "Odd"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"alerts": [{"labels": {"a": "b"}, "severity": True}]}, "alerts[0].severity"),
        pytest.param({"alerts": [{"labels": {"a": "b"}, "severity": "2"}]}, "alerts[0].severity"),
    ],
    ids=["true", "numeric-text"],
)
async def test_a_severity_is_a_number(sqlite_client: Client, body: Any, field: str) -> None:
    response = await sqlite_client.post("/api/v1/alerts", json=body, headers=auth(Role.INGEST))
    assert response.status == 400, await response.text()
    assert (await response.json())["field"] == field
