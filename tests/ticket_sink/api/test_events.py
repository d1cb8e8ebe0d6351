"""The event stream: every ticket change as a Server-Sent Event, in order, resumable with
Last-Event-ID, live changes arriving while connected; and the gap rule that keeps a slow
PostgreSQL writer's event from being skipped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.ticket_sink.api.conftest import auth, report, transition
from ticket_sink.api import Role
from ticket_sink.api.events import GapWait

Client = TestClient[Any, Any]
DEADLINE_SECONDS = 10.0


async def read_events(response: ClientResponse, until_action: str) -> list[dict[str, Any]]:
    """The stream's next events (id, event name, decoded data), up to the first one of
    `until_action` (an action records one event per field it changes)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with asyncio.timeout(DEADLINE_SECONDS):
        while not events or events[-1]["data"]["action"] != until_action:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith(("id: ", "event: ")):
                name, _, value = line.partition(": ")
                current[name] = value
            elif line.startswith("data: "):
                current["data"] = json.loads(line[len("data: ") :])
            elif line == "" and "data" in current:
                events.append(current)
                current = {}
    return events


async def test_stream_replays_then_follows_then_resumes(client: Client) -> None:
    ticket_id = (await report(client))["id"]
    headers = auth(Role.VIEWER)

    async with client.get("/api/v1/events?after=0", headers=headers) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        replayed = await read_events(stream, "comment")
        await transition(client, ticket_id, "acknowledge")
        live = await read_events(stream, "acknowledge")

    assert [e["data"]["action"] for e in replayed] == ["create", "comment"]
    assert all(e["event"] == "ticket" for e in replayed + live)
    acknowledged = live[0]["data"]
    assert (acknowledged["ticket_id"], acknowledged["action"]) == (ticket_id, "acknowledge")
    ids = [int(e["id"]) for e in replayed + live]
    assert ids == sorted(ids)
    assert ids[0] == replayed[0]["data"]["id"]

    await transition(client, ticket_id, "start")
    resume = {**headers, "Last-Event-ID": replayed[-1]["id"]}
    async with client.get("/api/v1/events", headers=resume) as stream:
        resumed = await read_events(stream, "start")
    # Everything after the last event seen, not before, not twice.
    assert [int(e["id"]) for e in resumed[: len(live)]] == ids[len(replayed) :]


async def test_without_a_cursor_only_new_changes(client: Client) -> None:
    old = (await report(client))["id"]

    async with client.get("/api/v1/events", headers=auth(Role.VIEWER)) as stream:
        await asyncio.sleep(0.1)  # let the stream take its starting point
        await transition(client, old, "acknowledge")
        events = await read_events(stream, "acknowledge")

    assert {event["data"]["action"] for event in events} == {"acknowledge"}


@pytest.mark.parametrize("given", ["yesterday", "-1", "9" * 30], ids=["word", "negative", "huge"])
async def test_a_bad_last_event_id_is_400(client: Client, given: str) -> None:
    headers = {**auth(Role.VIEWER), "Last-Event-ID": given}

    response = await client.get("/api/v1/events", headers=headers)

    assert response.status == 400
    assert (await response.json())["field"] == "Last-Event-ID"


async def test_an_after_beyond_any_event_id_is_400(client: Client) -> None:
    response = await client.get("/api/v1/events?after=" + "9" * 30, headers=auth(Role.VIEWER))

    assert response.status == 400
    assert (await response.json())["field"] == "after"


def test_gap_wait_holds_events_behind_a_missing_id_then_steps_over_it() -> None:
    wait = GapWait(after=10, grace=2.0)

    assert wait.ready([11, 12, 14], now=100.0) == 2  # 13 is not committed yet
    assert wait.after == 12
    assert wait.ready([14], now=101.0) == 0  # still waiting for 13
    assert wait.ready([13, 14], now=101.5) == 2  # 13 arrived: both go, in order
    assert wait.after == 14
    assert wait.ready([16], now=200.0) == 0
    assert wait.ready([16], now=202.0) == 1  # 15 never came (a rollback): step over it
    assert wait.after == 16
