"""Notifications over HTTP, on SQLite and PostgreSQL: what a ticket notified (waiting in
the outbox until the worker routes it), and silences created, listed and expired, each
recorded under the token's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.ticket_sink.api.conftest import (
    NAMES,
    RecordingIngest,
    api_app,
    api_settings,
    auth,
    report,
)
from tests.ticket_sink.outbound.receivers import receiver
from ticket_sink import Store
from ticket_sink.api import Role
from ticket_sink.outbound import OutboxWorker, build_sinks
from ticket_sink.outbound.config import NotificationsConfig

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


async def test_a_failed_delivery_is_retried_on_request(url: str, ingest: RecordingIngest) -> None:
    """A receiver refused it for good (4xx); once fixed, a responder sends it again."""
    store = Store(url)
    answers = [400, 200]

    async def by_script(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.json_response({}, status=answers.pop(0))

    app = api_app(store, api_settings(store, ingest))
    async with (
        TestClient(TestServer(app, host="127.0.0.1", port=0)) as api,
        receiver(by_script) as hook,
        httpx.AsyncClient() as http,
    ):
        ticket = await report(api)
        config = NotificationsConfig.model_validate(
            {"sinks": {"webhook": [{"name": "desk", "url": hook.url}]}}
        )
        worker = OutboxWorker(store, config, build_sinks(config, http))
        await worker.run_once()
        path = f"/api/v1/tickets/{ticket['id']}/notifications"
        (notice,) = (await (await api.get(path, headers=VIEW)).json())["items"]
        assert [d["state"] for d in notice["deliveries"]] == ["failed"]
        retry = f"{path}/{notice['id']}/retry"

        assert (await api.post(retry, headers=VIEW)).status == 403
        missing = await api.post(f"{path}/NOSUCH/retry", headers=RESPOND)
        assert missing.status == 404
        response = await api.post(retry, headers=RESPOND)
        assert response.status == 200, await response.text()
        (delivery,) = (await response.json())["deliveries"]
        assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == (
            "pending",
            0,
            None,
        )
        assert (await api.post(retry, headers=RESPOND)).status == 409  # nothing failed now

        assert await worker.run_once() == 1
        (notice,) = (await (await api.get(path, headers=VIEW)).json())["items"]
        detail = await (await api.get(f"/api/v1/tickets/{ticket['id']}", headers=VIEW)).json()
    assert [(d["state"], d["attempts"]) for d in notice["deliveries"]] == [("delivered", 1)]
    assert [request.json()["id"] for request in hook.requests] == [notice["id"]] * 2
    retried = [e for e in detail["history"] if e["action"] == "retry_delivery"]
    assert [(e["actor"], e["field"], e["before"], e["after"]) for e in retried] == [
        (NAMES[Role.RESPONDER], "delivery:desk", "failed", "pending")
    ]
