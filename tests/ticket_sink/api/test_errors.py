"""Whatever a client sends, the answer is a problem+json with a useful detail and the
field at fault, never a 500: bad JSON, wrong types, bodies over the limit, unknown paths
and methods."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.ticket_sink.api.conftest import auth
from ticket_sink.api import Role
from ticket_sink.api.auth import AccessPolicy
from ticket_sink.api.framework import Call, Operation, route
from ticket_sink.api.problems import NotAvailable
from ticket_sink.store import StoreConflict, StoreError

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


async def test_a_method_a_ticket_path_does_not_allow_is_405(sqlite_client: Client) -> None:
    response = await sqlite_client.delete("/api/v1/tickets/TNOSUCHTICK", headers=DESK)

    assert response.status == 405
    assert response.content_type == "application/problem+json"
    assert response.headers["Allow"] == "GET"
    problem = await response.json()
    assert problem["detail"] == (
        "DELETE is not allowed on /api/v1/tickets/TNOSUCHTICK (allowed: GET)"
    )


@pytest.mark.parametrize(
    "path", ["/api/v1/", "/api/v1/tickets/T1/nothing", "/api/v1/x/y/z", "/api/v1/a%0Ab"]
)
async def test_every_api_path_no_operation_matches_is_a_404_problem(
    sqlite_client: Client, path: str
) -> None:
    for method in ("GET", "POST", "PUT"):
        response = await sqlite_client.request(method, path, headers=DESK)
        assert response.status == 404, (method, path)
        assert response.content_type == "application/problem+json"
        assert (await response.json())["detail"] == f"no such resource: {unquote(path)}"


def _failing_app(failure: Exception) -> web.Application:
    async def fail(call: Call) -> web.Response:
        raise failure

    app = web.Application()
    operation = Operation("GET", "/fail", "fail", "Fails", fail, None, {200: "application/json"})
    app.router.add_route("GET", "/api/v1/fail", route(operation, AccessPolicy(), 1024))
    return app


@pytest.mark.parametrize(
    ("failure", "status", "detail"),
    [
        (RuntimeError("a bug, with a secret"), 500, "internal error (logged by the agent)"),
        (StoreError("the disk is full"), 503, "the ticket store is unavailable"),
        (StoreConflict("unique constraint"), 409, "another change to the same ticket"),
        (NotAvailable("the correlator is not running"), 503, "the correlator is not running"),
        (web.HTTPRequestEntityTooLarge(10, 20), 413, "the request body is larger"),
    ],
)
async def test_what_an_operation_raises_is_answered_as_a_problem(
    failure: Exception, status: int, detail: str
) -> None:
    server = TestServer(_failing_app(failure), host="127.0.0.1", port=0)
    async with TestClient(server) as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.get("/api/v1/fail")
        assert response.status == status
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert "secret" not in await response.text()
    assert problem["detail"].startswith(detail)
    if status == 500:
        assert [entry["event"] for entry in logs] == ["api_internal_error"]
        assert logs[0]["exc_info"] is True


async def test_paths_outside_the_api_keep_their_own_errors(sqlite_client: Client) -> None:
    response = await sqlite_client.get("/elsewhere")

    assert response.status == 404
    assert response.content_type != "application/problem+json"
