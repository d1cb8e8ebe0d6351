"""Notifications over HTTP, on SQLite and PostgreSQL: what a ticket notified (waiting in
the outbox until the worker routes it), and silences created, listed and expired, each
recorded under the token's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.ticket_sink.api.conftest import NAMES, auth, report
from ticket_sink.api import Role

Client = TestClient[Any, Any]
VIEW = auth(Role.VIEWER)
RESPOND = auth(Role.RESPONDER)


async def test_a_reported_ticket_shows_its_notification_waiting(client: Client) -> None:
    created = await report(client)
    response = await client.get(f"/api/v1/tickets/{created['id']}/notifications", headers=VIEW)
    assert response.status == 200, await response.text()
    (notice,) = (await response.json())["items"]
    assert notice["event"] == "created"
    assert notice["routed_at"] is None
    assert notice["deliveries"] == []
    missing = await client.get("/api/v1/tickets/TNOSUCH0000/notifications", headers=VIEW)
    assert missing.status == 404


async def test_silences_are_created_listed_and_expired(client: Client) -> None:
    ends = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    body = {
        "matchers": [{"name": "service", "op": "=~", "value": "sm.*"}],
        "ends_at": ends,
        "comment": "SMP upgrade",
    }
    response = await client.post("/api/v1/silences", json=body, headers=RESPOND)
    assert response.status == 201, await response.text()
    silence = await response.json()
    assert silence["created_by"] == NAMES[Role.RESPONDER]
    assert silence["matchers"] == body["matchers"]

    listed = await (await client.get("/api/v1/silences", headers=VIEW)).json()
    assert [item["id"] for item in listed["items"]] == [silence["id"]]

    expired = await client.delete(f"/api/v1/silences/{silence['id']}", headers=RESPOND)
    assert expired.status == 200
    assert (await client.get("/api/v1/silences", headers=VIEW)).status == 200
    assert (await (await client.get("/api/v1/silences", headers=VIEW)).json())["items"] == []
    everything = await client.get("/api/v1/silences?include_expired=true", headers=VIEW)
    assert [item["id"] for item in (await everything.json())["items"]] == [silence["id"]]


async def test_bad_silences_are_refused_with_the_field(client: Client) -> None:
    past = {"matchers": [{"name": "a", "op": "=", "value": "b"}], "ends_at": "2000-01-01T00:00:00Z"}
    response = await client.post("/api/v1/silences", json=past, headers=RESPOND)
    assert response.status == 400
    assert (await response.json())["field"] == "ends_at"
    bad_regex = {
        "matchers": [{"name": "a", "op": "=~", "value": "("}],
        "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    }
    response = await client.post("/api/v1/silences", json=bad_regex, headers=RESPOND)
    assert response.status == 400
    assert (await response.json())["field"] == "matchers[0].value"
    viewer = await client.post("/api/v1/silences", json=bad_regex, headers=VIEW)
    assert viewer.status == 403
    unknown = await client.delete("/api/v1/silences/nope", headers=RESPOND)
    assert unknown.status == 404
