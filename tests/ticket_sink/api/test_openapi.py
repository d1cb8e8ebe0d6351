"""The OpenAPI document describes exactly the routes the app serves, its references all
resolve, and what it says about access matches the configuration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.ticket_sink.api.conftest import auth
from ticket_sink.api import Role

Client = TestClient[Any, Any]
API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(value) for value in node))
    return set()


async def test_the_document_lists_every_route_and_nothing_else(sqlite_client: Client) -> None:
    response = await sqlite_client.get("/api/v1/openapi.json")  # public: no token
    assert response.status == 200
    document = await response.json()

    served = {
        (route.method, route.resource.canonical.removeprefix("/api/v1"))
        for route in sqlite_client.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
        if route.method not in ("HEAD", "*")  # "*": the problem for what matches nothing
    }
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert documented == served
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/api/v1"}]
    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


async def test_security_follows_the_roles(sqlite_client: Client) -> None:
    document = await (await sqlite_client.get("/api/v1/openapi.json")).json()
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values()
    }

    assert operations["getOpenApi"]["security"] == []
    assert operations["listTickets"]["security"] == [{"bearer": []}]  # no anonymous reads
    assert operations["transitionTicket"]["x-vigie-role"] == "responder"
    assert operations["createKnownError"]["x-vigie-role"] == "admin"
    assert operations["postAlerts"]["x-vigie-role"] == "ingest"
    for op in operations.values():
        if op["security"]:
            assert {"401", "403"} <= set(op["responses"]), op["operationId"]


async def test_the_transition_body_is_one_schema_per_action(sqlite_client: Client) -> None:
    document = await (await sqlite_client.get("/api/v1/openapi.json")).json()
    body = document["paths"]["/tickets/{id}/transitions"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]

    assert set(schema["discriminator"]["mapping"]) == {
        "acknowledge",
        "start",
        "hold",
        "resume",
        "resolve",
        "reject_resolution",
        "close",
        "escalate",
        "deescalate",
        "reassign",
    }
    resolve = document["components"]["schemas"]["Resolve"]
    assert resolve["required"] == ["action", "resolution"]
    assert (await sqlite_client.get("/api/v1/tickets", headers=auth(Role.VIEWER))).status == 200


async def test_docs_api_lists_every_operation(sqlite_client: Client) -> None:
    document = await (await sqlite_client.get("/api/v1/openapi.json")).json()
    operations = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    text = API_DOC.read_text(encoding="utf-8")
    listed = {
        match.split("?")[0] for match in re.findall(r"^\| `([A-Z]+ /[^`]*)`", text, re.MULTILINE)
    }
    assert operations - listed == set(), "docs/api.md's endpoint table misses these"


async def test_the_event_stream_is_described_as_a_stream(sqlite_client: Client) -> None:
    """Its success is text/event-stream, never JSON, with its format and the schema of
    each event's data; its refusals are problems like every other operation's."""
    document = await (await sqlite_client.get("/api/v1/openapi.json")).json()
    responses = document["paths"]["/events"]["get"]["responses"]
    ((media, content),) = responses["200"]["content"].items()
    assert media == "text/event-stream"
    assert content["schema"]["type"] == "string"
    assert "data: <one EventOut as JSON>" in content["schema"]["description"]
    assert "EventOut" in document["components"]["schemas"]
    assert list(responses["400"]["content"]) == ["application/problem+json"]
