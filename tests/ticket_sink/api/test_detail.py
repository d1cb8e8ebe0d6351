"""The ticket detail's cache: a read after any commit (through the API, another store on
the same file, or none at all) shows the database as it is; a read with nothing committed
since runs no SQL, yet its SLA clocks follow the time; the JSON is the same either way, and
the clocks encode as `json` would encode them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from tests.support import SteppedClock
from tests.ticket_sink.api.conftest import (
    RecordingIngest,
    api_app,
    api_settings,
    auth,
    report,
    transition,
)
from ticket_sink import Store
from ticket_sink.api import Role
from ticket_sink.api.detail import DetailCache, EncodedDetail
from ticket_sink.api.views import SlaJson
from ticket_sink.codec import iso
from ticket_sink.lifecycle import Action, apply, comment, created
from ticket_sink.model import Severity, Ticket, TicketType
from ticket_sink.sla import ClockStatus, default_policy, plan, status
from ticket_sink.ticket_rows import Correlation

Client = TestClient[Any, Any]
VIEW = auth(Role.VIEWER)
MEMBERS = ["ticket", "children", "history", "comments", "sla", "workaround", "allowed_actions"]


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vigie.db'}"


@pytest.fixture
async def cached_client(db_url: str, clock: SteppedClock) -> AsyncIterator[Client]:
    """An API on a SQLite file, whose store runs on `clock`."""
    store = Store(db_url, clock=clock)
    app = api_app(store, api_settings(store, RecordingIngest()))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as test_client:
        yield test_client


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL statements every engine runs while the test does."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", record)


async def detail_body(client: Client, ticket_id: str) -> bytes:
    response = await client.get(f"/api/v1/tickets/{ticket_id}", headers=VIEW)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return await response.read()


async def detail(client: Client, ticket_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await detail_body(client, ticket_id))
    return data


async def test_writes_through_the_api_show_on_the_next_read(client: Client) -> None:
    master = (await report(client, title="SML down"))["id"]
    child = (await report(client))["id"]
    assert (await detail(client, child))["ticket"]["state"] == "new"

    assert (await transition(client, child, "acknowledge")).status == 200
    assert (await detail(client, child))["ticket"]["state"] == "open"

    response = await client.post(
        f"/api/v1/tickets/{child}/comments", json={"text": "on it"}, headers=auth(Role.RESPONDER)
    )
    assert response.status == 201
    assert (await detail(client, child))["comments"][-1]["text"] == "on it"

    assert (await detail(client, master))["children"] == []
    response = await client.put(
        f"/api/v1/tickets/{child}/master", json={"master_id": master}, headers=auth(Role.RESPONDER)
    )
    assert response.status == 200
    assert [c["id"] for c in (await detail(client, master))["children"]] == [child]
    assert (await detail(client, child))["ticket"]["master_id"] == master


async def test_a_commit_by_another_store_shows_on_the_next_read(
    cached_client: Client, db_url: str
) -> None:
    ticket_id = (await report(cached_client))["id"]
    assert len((await detail(cached_client, ticket_id))["comments"]) == 1
    await detail(cached_client, ticket_id)  # from the cache from now on

    async with Store(db_url) as elsewhere, elsewhere.transaction() as tx:
        stored = await tx.get(ticket_id)
        assert stored is not None
        await tx.add_comment(*comment(stored.ticket, author="agent-2", at=tx.now, text="seen"))

    assert (await detail(cached_client, ticket_id))["comments"][-1]["author"] == "agent-2"


async def test_a_missing_ticket_shows_once_another_store_creates_it(
    cached_client: Client, db_url: str
) -> None:
    response = await cached_client.get("/api/v1/tickets/TLATERLATER", headers=VIEW)
    assert response.status == 404

    async with Store(db_url) as elsewhere, elsewhere.transaction() as tx:
        ticket = Ticket("TLATERLATER", "", "late", TicketType.INCIDENT, Severity(2), tx.now)
        await tx.insert(ticket, Correlation(), created(ticket, actor="agent-2"))

    assert (await detail(cached_client, "TLATERLATER"))["ticket"]["title"] == "late"


async def test_a_read_with_nothing_committed_since_runs_no_sql(
    cached_client: Client, statements: list[str]
) -> None:
    ticket_id = (await report(cached_client))["id"]
    statements.clear()
    await detail(cached_client, ticket_id)
    assert statements  # the first read of the ticket reads the store

    statements.clear()
    await detail(cached_client, ticket_id)
    assert statements == []

    assert (await transition(cached_client, ticket_id, "acknowledge")).status == 200
    statements.clear()
    assert (await detail(cached_client, ticket_id))["ticket"]["state"] == "open"
    assert statements


async def test_the_sla_clocks_follow_the_time_on_a_cached_read(
    cached_client: Client, clock: SteppedClock, statements: list[str]
) -> None:
    ticket_id = (await report(cached_client, severity=1))["id"]  # 24/7: one hour to respond
    first = (await detail(cached_client, ticket_id))["sla"]["response"]
    assert (first["elapsed_seconds"], first["remaining_seconds"]) == (0, 3600)

    clock.advance(minutes=50)
    statements.clear()
    later = (await detail(cached_client, ticket_id))["sla"]["response"]
    assert statements == []
    assert (later["elapsed_seconds"], later["remaining_seconds"]) == (3000, 600)
    assert later["at_risk"] is True

    clock.advance(minutes=20)
    assert (await detail(cached_client, ticket_id))["sla"]["response"]["breached"] is True


@pytest.mark.parametrize("severity", [2, 3])  # with clocks, and best effort (none)
async def test_a_cached_read_answers_the_same_bytes(cached_client: Client, severity: int) -> None:
    fields = {"title": "Café \u2615 down", "labels": {"site": "Liège"}, "severity": severity}
    ticket_id = (await report(cached_client, **fields))["id"]
    first = await detail_body(cached_client, ticket_id)
    assert await detail_body(cached_client, ticket_id) == first
    decoded = json.loads(first)
    assert list(decoded) == MEMBERS
    assert first == json.dumps(decoded, separators=(",", ":")).encode()


def _clock(clock: ClockStatus | None) -> dict[str, Any] | None:
    if clock is None:
        return None
    return {
        "target_seconds": clock.target.total_seconds(),
        "due": None if clock.due is None else iso(clock.due),
        "elapsed_seconds": clock.elapsed.total_seconds(),
        "remaining_seconds": clock.remaining.total_seconds(),
        "running": clock.running,
        "met": clock.met,
        "at_risk": clock.at_risk,
        "breached": clock.breached,
    }


POLICY = default_policy()
LIFE = (Action.ACKNOWLEDGE, Action.START, Action.HOLD, Action.RESUME, Action.RESOLVE)
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9))


@given(
    st.sampled_from(Severity),
    st.datetimes(min_value=datetime(2026, 1, 5), max_value=datetime(2026, 12, 1)),
    st.lists(spans, max_size=len(LIFE)),
    st.lists(st.timedeltas(min_value=-timedelta(days=9), max_value=timedelta(days=9)), max_size=4),
)
def test_the_sla_member_encodes_as_json_would(
    severity: Severity, start: datetime, steps: list[timedelta], waits: list[timedelta]
) -> None:
    """At any instants, in any order (before or after the clocks settled, and after an
    instant that found them settled), the member is what `status` says, as `json` says it."""
    at = start.replace(tzinfo=UTC)
    ticket = Ticket("T", "", "title", TicketType.INCIDENT, severity, at)
    for action, step in zip(LIFE, steps, strict=False):
        at += step
        ticket, _ = apply(ticket, action, actor="a", at=at, resolution="fixed")
    sla = SlaJson(plan(ticket, POLICY))

    for wait in [*waits, timedelta(0)]:
        clocks = status(ticket, POLICY, at + wait)
        expected = {"response": _clock(clocks.response), "resolution": _clock(clocks.resolution)}
        assert sla.at(at + wait) == json.dumps(expected, separators=(",", ":")).encode()
        assert sla.constant in (None, sla.at(at + wait))
    assert (sla.constant is None) == (severity <= Severity.MAJOR)


def _detail(name: str) -> EncodedDetail:
    return EncodedDetail(b'{"id":"%s"}' % name.encode())


def test_the_cache_serves_an_entry_only_under_its_version_and_forgets_the_oldest() -> None:
    cache = DetailCache(entries=2)
    one, two, three = _detail("T1"), _detail("T2"), _detail("T3")
    cache.put("T1", 7, one)
    assert cache.get("T1", 7) is one
    assert cache.get("T1", 8) is None
    assert cache.get("T1", None) is None

    cache.put("T2", None, two)  # no version, nothing kept
    assert cache.get("T2", None) is None

    cache.put("T2", 7, two)
    assert cache.get("T1", 7) is one  # T2 is now the least recently used
    cache.put("T3", 7, three)
    assert (cache.get("T1", 7), cache.get("T2", 7), cache.get("T3", 7)) == (one, None, three)
