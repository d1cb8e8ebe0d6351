"""A regular expression that makes a backtracking engine take exponential time, given to
every input that takes a label matcher (a ticket query, a silence, a known error, a
notification route in the configuration): the agent keeps answering /healthz, because
label regexes run on RE2 in linear time. Patterns RE2 cannot run are refused, naming
the field. Everything on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.vigie.live import TOKENS, LiveAgent, live_config
from ticket_sink import Store, schema
from ticket_sink.api import Role

# Against SLOW_VALUE, Python's `re.fullmatch(BOMB, ...)` would not finish this century.
BOMB = "(.*.*)*#"
SLOW_VALUE = "a" * 64
# What must still answer while the matching runs.
HEALTH_TIMEOUT_SECONDS = 2.0
ANSWER_TIMEOUT_SECONDS = 10.0


def headers(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_slow_alert(client: httpx.Client) -> None:
    """A new ticket whose `host` label is SLOW_VALUE: known errors are matched against it,
    and its notification is routed and checked against the silences."""
    answer = client.post(
        "/api/v1/alerts",
        json={"alerts": [{"labels": {"alertname": "SmpDown", "host": SLOW_VALUE}}]},
        headers=headers(Role.INGEST),
    )
    assert answer.status_code == 200, answer.text


def query_filter(client: httpx.Client) -> None:
    post_slow_alert(client)
    answer = client.get(
        "/api/v1/tickets", params={"label": f"host=~{BOMB}"}, headers=headers(Role.VIEWER)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []


def recorded(path: str, role: Role, **fields: str) -> Callable[[httpx.Client], None]:
    """Record an entry of `path` whose matcher is the bomb, then a ticket to match it."""

    def given(client: httpx.Client) -> None:
        matchers = [{"name": "host", "op": "=~", "value": BOMB}]
        answer = client.post(path, json={"matchers": matchers, **fields}, headers=headers(role))
        assert answer.status_code == 201, answer.text
        post_slow_alert(client)

    return given


def configured_route(client: httpx.Client) -> None:
    post_slow_alert(client)  # the route's matcher (configuration) meets its notification


INPUTS: dict[str, Callable[[httpx.Client], None]] = {
    "api-query-filter": query_filter,
    "silence": recorded("/api/v1/silences", Role.RESPONDER, ends_at="2099-01-01T00:00:00Z"),
    "known-error": recorded("/api/v1/known-errors", Role.ADMIN, workaround="none"),
    "config-route": configured_route,
}


def notifications() -> dict[str, Any]:
    return {
        "sinks": {"webhook": [{"name": "hook", "url": f"http://127.0.0.1:{closed_port()}/"}]},
        "routes": [{"sinks": ["hook"], "matchers": [f'host=~"{BOMB}"']}],
        "poll_interval_seconds": 0.05,
    }


@pytest.mark.parametrize("given", INPUTS.values(), ids=INPUTS.keys())
def test_a_regex_bomb_does_not_freeze_the_agent(
    tmp_path: Path, given: Callable[[httpx.Client], None]
) -> None:
    config = live_config(tmp_path, correlator={"group_wait": "0s"}, notifications=notifications())
    with (
        LiveAgent(config) as agent,
        httpx.Client(base_url=agent.url, timeout=ANSWER_TIMEOUT_SECONDS) as client,
    ):
        given(client)
        # The notification worker and the correlator match in the background: /healthz
        # answers throughout the next second and a half.
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            health = client.get("/healthz", timeout=HEALTH_TIMEOUT_SECONDS)
            assert health.status_code == 200
            time.sleep(0.1)
        tickets = client.get("/api/v1/tickets", headers=headers(Role.VIEWER)).json()["items"]
        assert [ticket["labels"]["host"] for ticket in tickets] == [SLOW_VALUE]


REFUSED = {
    "backreference": r"(a)\1",
    "lookahead": "(?=a)a",
    "program-too-large": r"\pL{1000}",
    "unbalanced": "(",
}


@pytest.mark.parametrize("pattern", REFUSED.values(), ids=REFUSED.keys())
def test_patterns_re2_cannot_run_are_refused_naming_the_field(tmp_path: Path, pattern: str) -> None:
    matchers = [{"name": "host", "op": "=~", "value": pattern}]
    with (
        LiveAgent(live_config(tmp_path)) as agent,
        httpx.Client(base_url=agent.url, timeout=ANSWER_TIMEOUT_SECONDS) as client,
    ):
        answers = {
            "label[0]": client.get(
                "/api/v1/tickets",
                params={"label": f"host=~{pattern}"},
                headers=headers(Role.VIEWER),
            ),
            "matchers[0].value": client.post(
                "/api/v1/silences",
                json={"matchers": matchers, "ends_at": "2099-01-01T00:00:00Z"},
                headers=headers(Role.RESPONDER),
            ),
        }
        known = client.post(
            "/api/v1/known-errors",
            json={"matchers": matchers, "workaround": "none"},
            headers=headers(Role.ADMIN),
        )
        for field, answer in [*answers.items(), ("matchers[0].value", known)]:
            assert answer.status_code == 400, answer.text
            assert answer.json()["field"] == field
            assert "RE2" in answer.json()["detail"]


def record_refused_entries(url: str) -> None:
    """A known error and a silence stored by a version that took Python's regex syntax."""

    async def record() -> None:
        store = Store(url)
        await store.open()
        try:
            async with store.transaction(write=True) as tx:
                now = datetime.now(UTC)
                refused = [["host", "=~", r"(a+)\1"], ["alertname", "!~", "(?!x)"]]
                await tx.connection.execute(
                    schema.known_errors.insert().values(
                        id="KE-OLD",
                        matchers=refused,
                        workaround="old",
                        created_at=now,
                        created_by="admin-bot",
                    )
                )
                await tx.connection.execute(
                    schema.silences.insert().values(
                        id="old-silence",
                        matchers=refused,
                        starts_at=now,
                        ends_at=now + timedelta(days=1),
                        created_by="responder-bot",
                        comment="",
                    )
                )
        finally:
            await store.close()

    asyncio.run(record())


def test_stored_patterns_re2_refuses_hold_nothing_after_a_restart(tmp_path: Path) -> None:
    """Such a known error attaches to no ticket and such a silence holds no notification
    (`!~` included), and both are still listed as recorded."""
    config = live_config(tmp_path, correlator={"group_wait": "0s"})
    record_refused_entries(config.store.url.get_secret_value())
    with (
        LiveAgent(config) as agent,
        httpx.Client(base_url=agent.url, timeout=ANSWER_TIMEOUT_SECONDS) as client,
    ):
        post_slow_alert(client)
        (ticket,) = client.get("/api/v1/tickets", headers=headers(Role.VIEWER)).json()["items"]
        detail = client.get(f"/api/v1/tickets/{ticket['id']}", headers=headers(Role.VIEWER))
        assert detail.json()["workaround"] is None
        known = client.get("/api/v1/known-errors", headers=headers(Role.VIEWER)).json()
        assert [entry["id"] for entry in known["items"]] == ["KE-OLD"]
        silences = client.get("/api/v1/silences", headers=headers(Role.VIEWER)).json()
        assert [entry["id"] for entry in silences["items"]] == ["old-silence"]
        assert client.get("/healthz").status_code == 200
