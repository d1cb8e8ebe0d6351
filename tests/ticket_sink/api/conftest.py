"""An API application on a real store (SQLite, and PostgreSQL through the `url` fixture),
with one token per role and a recording alert sink instead of the correlator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ticket_sink import Store
from ticket_sink.api import (
    AccessPolicy,
    ApiSettings,
    ApiToken,
    IncomingAlert,
    Role,
    hash_token,
    setup_api,
)
from ticket_sink.sla import default_policy

# The token of each role; each token's name is the role's name with "-bot".
TOKENS = {role: f"{role.value}-secret-token" for role in Role}
NAMES = {role: f"{role.value}-bot" for role in Role}


def auth(role: Role | None) -> dict[str, str]:
    return {} if role is None else {"Authorization": f"Bearer {TOKENS[role]}"}


@dataclass
class RecordingIngest:
    """Stands in for the correlator: remembers each batch and says all were created."""

    batches: list[tuple[str, list[IncomingAlert]]] = field(default_factory=list)

    async def __call__(self, alerts: Sequence[IncomingAlert], source: str) -> Mapping[str, int]:
        self.batches.append((source, list(alerts)))
        return {"created": len(alerts)}


def api_settings(store: Store, ingest: RecordingIngest, **overrides: Any) -> ApiSettings:
    options: dict[str, Any] = {
        "access": AccessPolicy(
            tokens=[ApiToken(NAMES[role], role, hash_token(TOKENS[role])) for role in Role]
        ),
        "ingest": ingest,
        "max_body_bytes": 4096,
        "event_poll_seconds": 0.02,
        **overrides,
    }
    return ApiSettings(store=store, policy=default_policy(), **options)


def api_app(store: Store, settings: ApiSettings) -> web.Application:
    app = web.Application()

    async def store_lifetime(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    app.cleanup_ctx.append(store_lifetime)
    setup_api(app, settings)
    return app


@pytest.fixture
def ingest() -> RecordingIngest:
    return RecordingIngest()


@pytest.fixture
async def client(url: str, ingest: RecordingIngest) -> AsyncIterator[TestClient[Any, Any]]:
    store = Store(url)
    app = api_app(store, api_settings(store, ingest))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as test_client:
        yield test_client


@pytest.fixture
async def sqlite_client(
    tmp_path: Any, ingest: RecordingIngest
) -> AsyncIterator[TestClient[Any, Any]]:
    """For tests that do not touch what differs between databases (auth, input errors)."""
    store = Store(f"sqlite:///{tmp_path / 'vigie.db'}")
    app = api_app(store, api_settings(store, ingest))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as test_client:
        yield test_client


async def report(client: TestClient[Any, Any], **fields: Any) -> dict[str, Any]:
    """Create a ticket through the API as the responder; its JSON."""
    body = {
        "title": "SMP smp1 answers 503",
        "description": "every lookup fails since 10:02",
        "type": "incident",
        "severity": 2,
        **fields,
    }
    response = await client.post("/api/v1/tickets", json=body, headers=auth(Role.RESPONDER))
    assert response.status == 201, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def transition(
    client: TestClient[Any, Any],
    ticket_id: str,
    action: str,
    role: Role = Role.RESPONDER,
    **args: Any,
) -> Any:
    return await client.post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": action, **args},
        headers=auth(role),
    )


async def post_trickled(
    app: web.Application, path: str, start: bytes, headers: Mapping[str, str]
) -> tuple[int, str, float]:
    """POST to `app` a body of which only `start` arrives in time (the rest two seconds
    later, as from a slow client); the answer's status, its text and how long it took."""

    async def trickle() -> AsyncIterator[bytes]:
        yield start
        await asyncio.sleep(2.0)  # a slow client, not a timer of the code under test
        yield b"late"

    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await client.post(path, data=trickle(), headers=dict(headers))
        took = loop.time() - started
        return response.status, await response.text(), took
