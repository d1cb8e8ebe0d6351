"""Access control, for every operation of the table (so a new endpoint is covered the
day it is added): no token or a wrong one is 401, a token whose role does not allow the
operation is 403, and anonymous requests may read only when the configuration says so."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from tests.ticket_sink.api.conftest import (
    TOKENS,
    RecordingIngest,
    api_app,
    api_settings,
    auth,
)
from ticket_sink import Store
from ticket_sink.api import Call, Operation, Role, hash_token, operations
from ticket_sink.api.auth import AccessPolicy, ApiToken

Client = TestClient[Any, Any]


async def _nothing(call: Call) -> Any:
    raise AssertionError("not called")


def table() -> list[Operation]:
    store = Store("sqlite://")
    return [op for op in operations(api_settings(store, RecordingIngest()), _nothing) if op.role]


# Who may do what: the roles allowed each role an operation requires.
ALLOWED = {
    Role.VIEWER: {Role.VIEWER, Role.RESPONDER, Role.ADMIN},
    Role.RESPONDER: {Role.RESPONDER, Role.ADMIN},
    Role.ADMIN: {Role.ADMIN},
    Role.INGEST: {Role.INGEST, Role.ADMIN},
}
OPERATIONS = table()


def path_of(operation: Operation) -> str:
    # Every path parameter filled ({id}, {notification_id}, ...): what it names need not exist.
    return "/api/v1" + re.sub(r"\{[a-z_]+\}", "TNOSUCHTICK", operation.path)


def test_every_write_needs_more_than_read() -> None:
    writes = [op for op in OPERATIONS if op.writes]
    assert {op.operation_id for op in writes} >= {
        "createTicket",
        "transitionTicket",
        "commentTicket",
        "linkTicket",
        "detachTicket",
        "postAlerts",
        "createKnownError",
    }
    assert all(op.role is not Role.VIEWER for op in writes)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation_id)
async def test_missing_or_wrong_token_is_401(sqlite_client: Client, operation: Operation) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        response = await sqlite_client.request(
            operation.method, path_of(operation), json={}, headers=headers
        )
        assert response.status == 401, headers
        assert response.content_type == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation_id)
async def test_an_under_privileged_token_is_403(
    sqlite_client: Client, operation: Operation
) -> None:
    assert operation.role is not None
    for role in set(Role) - ALLOWED[operation.role]:
        response = await sqlite_client.request(
            operation.method, path_of(operation), json={}, headers=auth(role)
        )
        assert response.status == 403, role
        detail = (await response.json())["detail"]
        assert f"has the {role} role; this operation needs {operation.role}" in detail


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation_id)
async def test_an_allowed_token_passes_the_check(
    sqlite_client: Client, operation: Operation
) -> None:
    if operation.operation_id == "streamEvents":
        pytest.skip("a stream that starts never ends; test_events covers it")
    assert operation.role is not None
    for role in ALLOWED[operation.role]:
        response = await sqlite_client.request(
            operation.method, path_of(operation), json={}, headers=auth(role)
        )
        assert response.status not in (401, 403), (role, await response.text())


async def test_anonymous_reads_only_when_allowed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'vigie.db'}")
    access = AccessPolicy(
        tokens=[ApiToken("desk", Role.RESPONDER, hash_token("desk-token"))], anonymous_read=True
    )
    app = api_app(store, api_settings(store, RecordingIngest(), access=access))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        assert (await client.get("/api/v1/tickets")).status == 200
        assert (await client.get("/api/v1/known-errors")).status == 200
        refused = await client.post("/api/v1/tickets/TNOSUCHTICK/comments", json={"text": "x"})
        assert refused.status == 401
        # A wrong token is refused even where no token would do.
        wrong = await client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401


def test_tokens_match_by_hash_only() -> None:
    policy = AccessPolicy(tokens=[ApiToken("a", Role.ADMIN, hash_token("s3cret"))])

    found = policy.identify("s3cret")

    assert found is not None
    assert (found.name, found.role) == ("a", Role.ADMIN)
    assert policy.identify("s3cret ") is None
    assert policy.identify(hash_token("s3cret")) is None  # the hash is not a token
    assert hash_token("s3cret").startswith("sha256:")
    assert len(hash_token("s3cret")) == 71


def test_token_names_are_unique() -> None:
    with pytest.raises(ValueError, match="unique: a"):
        AccessPolicy(
            tokens=[
                ApiToken("a", Role.ADMIN, hash_token("1")),
                ApiToken("a", Role.VIEWER, hash_token("2")),
            ]
        )


@pytest.mark.parametrize(
    "token",
    [b"\xff\xfe", b"caf\xe9", b"viewer-secret-token" + b"\x80"],
    ids=["not-utf8", "latin1", "a-valid-token-and-a-stray-byte"],
)
async def test_a_token_that_is_not_utf8_is_401(sqlite_client: Client, token: bytes) -> None:
    """aiohttp hands such bytes over as surrogates; hashing them must not fail."""
    server = sqlite_client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"GET /api/v1/tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Bearer " + token + b"\r\n\r\n"
        )
        status_line = await reader.readline()
        rest = await reader.read()
    finally:
        writer.close()
    assert status_line.split()[1] == b"401", status_line + rest
    assert token not in rest


async def test_two_authorization_headers_are_400_whichever_comes_first(
    sqlite_client: TestClient[Any, Any],
) -> None:
    """Authorization is a singleton field: the answer must not depend on the order."""
    for first, second in ((Role.ADMIN, None), (None, Role.ADMIN)):
        headers = CIMultiDict[str]()
        headers.add("Authorization", auth(first)["Authorization"] if first else "Bearer nope")
        headers.add("Authorization", auth(second)["Authorization"] if second else "Bearer nope")
        response = await sqlite_client.get("/api/v1/tickets", headers=headers)
        assert response.status == 400
        assert (await response.json())["field"] == "Authorization"
        assert TOKENS[Role.ADMIN] not in await response.text()
