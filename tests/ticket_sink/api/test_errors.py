"""Whatever a client sends, the answer is a problem+json with a useful detail and the
field at fault, never a 500: bad JSON, wrong types, bodies over the limit, unknown paths
and methods."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.ticket_sink.api.conftest import auth
from ticket_sink.api import Role

Client = TestClient[Any, Any]
DESK = auth(Role.RESPONDER)

CASES = {
    "not JSON": (b"{title:", 400, "body", "not valid JSON"),
    "no body": (b"", 400, "body", "needs a JSON body"),
    "a list": (b"[]", 400, None, "should be an object"),
    "wrong type": (
        b'{"title": "t", "description": "d", "type": "incident", "severity": "high"}',
        400,
        "severity",
        "severity",
    ),
    "unknown field": (
        b'{"title": "t", "description": "d", "type": "incident", "severity": 2, "x": 1}',
        400,
        "x",
        "Extra inputs",
    ),
    "blank title": (
        b'{"title": "  ", "description": "d", "type": "incident", "severity": 2}',
        400,
        "title",
        "title",
    ),
    "bad label name": (
        b'{"title": "t", "description": "d", "type": "incident", "severity": 2,'
        b' "labels": {"a-b": "c"}}',
        400,
        "labels.a-b",
        "pattern",
    ),
    "invalid UTF-8": (b'{"title": "\xff"}', 400, "body", "not valid JSON"),
    "too large": (b'{"title": "' + b"x" * 5000 + b'"}', 413, None, "over the limit of 4096"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_bad_bodies(sqlite_client: Client, case: str) -> None:
    body, status, field, words = CASES[case]

    response = await sqlite_client.post(
        "/api/v1/tickets", data=body, headers={**DESK, "Content-Type": "application/json"}
    )

    assert response.status == status
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["status"] == status
    assert problem.get("field") == field
    assert words in problem["detail"]


async def test_a_body_over_the_limit_without_a_length_is_413(sqlite_client: Client) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    response = await sqlite_client.post("/api/v1/tickets", data=chunks(), headers=DESK)

    assert response.status == 413


async def test_unknown_path_and_method(sqlite_client: Client) -> None:
    missing = await sqlite_client.get("/api/v1/nothing-here", headers=DESK)
    assert missing.status == 404
    assert (await missing.json())["detail"] == "no such resource: /api/v1/nothing-here"

    wrong = await sqlite_client.patch("/api/v1/tickets", headers=DESK)
    assert wrong.status == 405
    assert wrong.content_type == "application/problem+json"
    assert "GET" in wrong.headers["Allow"]


async def test_paths_outside_the_api_keep_their_own_errors(sqlite_client: Client) -> None:
    response = await sqlite_client.get("/elsewhere")

    assert response.status == 404
    assert response.content_type != "application/problem+json"
