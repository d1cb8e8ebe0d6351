"""Whatever a client sends, the answer is a problem+json with a useful detail and the
field at fault, never a 500: bad JSON, wrong types, bodies over the limit, unknown paths
and methods."""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import unquote

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from pydantic import BaseModel

from tests.ticket_sink.api.conftest import auth, post_trickled
from ticket_sink.api import Role
from ticket_sink.api.auth import AccessPolicy
from ticket_sink.api.framework import Call, Operation, body_deadline, route
from ticket_sink.api.problems import NotAvailable, Problem
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

    response = await sqlite_client.post(
        "/api/v1/tickets", data=chunks(), headers={**DESK, "Content-Type": "application/json"}
    )

    assert response.status == 413


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        pytest.param("gzip", gzip.compress(b'{"title": "t"}'), id="gzip"),
        pytest.param("deflate", b"not compressed at all", id="broken deflate"),
        pytest.param("compress", b"not LZW", id="a coding the server does not know"),
    ],
)
async def test_a_compressed_body_is_415(sqlite_client: Client, coding: str, body: bytes) -> None:
    response = await sqlite_client.post(
        "/api/v1/tickets",
        data=body,
        headers={**DESK, "Content-Type": "application/json", "Content-Encoding": coding},
    )

    assert response.status == 415
    assert response.headers["Accept-Encoding"] == "identity"
    problem = await response.json()
    assert problem["field"] == "Content-Encoding"


@pytest.mark.parametrize(
    "raised",
    [
        pytest.param(web.RequestPayloadError("gzip"), id="undecodable"),
        pytest.param(ConnectionResetError("Connection lost"), id="client left"),
    ],
)
async def test_what_reading_a_body_raises_is_a_problem(raised: Exception) -> None:
    """Every interface reads its bodies inside `body_deadline`: what aiohttp raises while
    a client sends one is the client's doing, never a 500 or a logged traceback."""
    with pytest.raises(Problem) as problem:
        async with body_deadline(make_mocked_request("POST", "/api/v1/tickets"), 5.0):
            raise raised
    assert problem.value.status == 400


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=1&limit=2", "limit"), ("text=a&text=c", "text")],
)
async def test_a_single_valued_query_parameter_given_twice_is_400(
    sqlite_client: Client, query: str, field: str
) -> None:
    response = await sqlite_client.get(f"/api/v1/tickets?{query}", headers=DESK)
    assert response.status == 400
    problem = await response.json()
    assert problem["field"] == field
    assert problem["detail"] == f"query parameter {field} takes one value, not 2"
    # A list parameter takes each value given.
    listed = await sqlite_client.get("/api/v1/tickets?state=new&state=open", headers=DESK)
    assert listed.status == 200


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
    assert response.headers["Allow"] == "GET,HEAD"
    problem = await response.json()
    assert problem["detail"] == (
        "DELETE is not allowed on /api/v1/tickets/TNOSUCHTICK (allowed: GET,HEAD)"
    )


async def test_head_answers_as_get_without_the_body_except_on_the_stream(
    sqlite_client: Client,
) -> None:
    viewer = auth(Role.VIEWER)
    got = await sqlite_client.get("/api/v1/tickets", headers=viewer)
    head = await sqlite_client.head("/api/v1/tickets", headers=viewer)
    assert head.status == got.status == 200
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert await head.read() == b""
    assert (await sqlite_client.head("/api/v1/tickets")).status == 401
    assert (await sqlite_client.head("/api/v1/tickets/TNOSUCHTICK", headers=viewer)).status == 404

    stream = await sqlite_client.head("/api/v1/events", headers=viewer, timeout=5)
    assert stream.status == 405
    assert stream.headers["Allow"] == "GET"


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
    app.router.add_route("GET", "/api/v1/fail", route(operation, AccessPolicy(), 1024, 5.0))
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


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_that_is_not_declared_json_is_415(
    sqlite_client: Client, content_type: str
) -> None:
    body = b'{"title": "t", "description": "d", "type": "incident", "severity": 2}'
    response = await sqlite_client.post(
        "/api/v1/tickets", data=body, headers={**DESK, "Content-Type": content_type}
    )
    assert response.status == 415
    assert (await response.json())["field"] == "Content-Type"


async def test_a_severity_of_true_is_refused(sqlite_client: Client) -> None:
    body = {"title": "t", "description": "d", "type": "incident", "severity": True}
    response = await sqlite_client.post("/api/v1/tickets", json=body, headers=DESK)
    assert response.status == 400
    assert (await response.json())["detail"] == "severity: expected a number, not true"


# Valid ISO 8601 whose offset carries them past what a datetime in UTC can hold.
EXTREME_LATE = "9999-12-31T23:59:59-23:59"
EXTREME_EARLY = "0001-01-01T00:00:00+23:59"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/reports", {"since": "0001-01-01T00:00:00+23:59"}, "since"),
        (
            "/api/v1/reports",
            {"since": "2026-01-01T00:00:00Z", "until": "9999-12-31T23:59:59-23:59"},
            "until",
        ),
        ("/api/v1/tickets", {"updated_since": "9999-12-31T23:59:59-23:59"}, "updated_since"),
        ("/api/v1/tickets", {"text": "\x00"}, "text"),
        ("/api/v1/events", {"after": "1" * 26}, "after"),
    ],
    ids=["report-since", "report-until", "updated-since", "nul-text", "event-id-26-digits"],
)
async def test_inputs_out_of_range_are_400_naming_the_field(
    sqlite_client: Client, path: str, params: dict[str, str], field: str
) -> None:
    """Never a 503 "store unavailable" nor a status line inside a started stream."""
    response = await sqlite_client.get(path, params=params, headers=auth(Role.VIEWER))
    assert response.status == 400, await response.text()
    assert (await response.json())["field"] == field


async def test_a_silence_out_of_range_is_400(sqlite_client: Client) -> None:
    matchers = [{"name": "zone", "op": "=", "value": "acc"}]
    for times, field in [
        ({"ends_at": "9999-12-31T23:59:59-23:59"}, "ends_at"),
        (
            {"starts_at": "0001-01-01T00:00:00+23:59", "ends_at": "2099-01-01T00:00:00Z"},
            "starts_at",
        ),
    ]:
        response = await sqlite_client.post(
            "/api/v1/silences", json={"matchers": matchers, **times}, headers=DESK
        )
        assert response.status == 400, await response.text()
        assert (await response.json())["field"] == field


class Note(BaseModel):
    text: str


async def test_a_body_trickled_past_its_deadline_is_408() -> None:
    """A client that trickles its body would hold its connection for as long as it likes."""

    async def accept(call: Call) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    operation = Operation(
        "POST", "/note", "note", "Takes a note", accept, None, {200: "application/json"}, body=Note
    )
    app.router.add_route("POST", "/api/v1/note", route(operation, AccessPolicy(), 1024, 0.3))

    status, text, took = await post_trickled(
        app, "/api/v1/note", b'{"text": ', {"Content-Type": "application/json"}
    )

    assert status == 408
    assert json.loads(text)["detail"] == "the body did not arrive within 0.3s"
    assert took < 1.5
