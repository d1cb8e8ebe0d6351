"""MCP over Streamable HTTP at /mcp, driven by the SDK's own client: the tools each role
sees, every read tool on the tickets of the lab's alerts, writes attributed in the API's
history, refusals with the API's words, tokens checked, answers paged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from aiohttp import web
from mcp.shared.exceptions import MCPError
from structlog.testing import capture_logs

from tests.ticket_sink.api.conftest import RecordingIngest, api_settings, auth, post_trickled
from tests.ticket_sink.mcp.conftest import (
    READ_TOOLS,
    Agent,
    agent_config,
    answer,
    refusal,
    serve,
)
from ticket_sink import Store
from ticket_sink.api import Role, setup_api
from ticket_sink.mcp import McpSettings, setup_mcp

RESPONDER_TOOLS = {"transition_ticket", "comment_ticket", "create_silence", "expire_silence"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(Role.VIEWER, READ_TOOLS, id="viewer"),
        pytest.param(Role.RESPONDER, READ_TOOLS | RESPONDER_TOOLS, id="responder"),
        pytest.param(Role.ADMIN, READ_TOOLS | RESPONDER_TOOLS | {"add_known_error"}, id="admin"),
    ],
)
async def test_each_role_sees_the_tools_it_may_use(
    agent: Agent, role: Role, expected: set[str]
) -> None:
    async with agent.mcp(role) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == expected
    for tool in tools:
        assert len(tool.description or "") > 40
        assert tool.input_schema["type"] == "object"
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (tool.name in READ_TOOLS)


async def test_every_read_tool_answers_on_the_lab_tickets(
    agent: Agent, tickets: list[dict[str, Any]]
) -> None:
    lookup = next(t for t in tickets if t["labels"]["alertname"] == "ParticipantLookupFailed")
    async with agent.mcp(Role.VIEWER) as client:
        listed = answer(await client.call_tool("list_tickets", {"state": ["new"]}))
        assert [t["id"] for t in listed["items"]] == [t["id"] for t in tickets]
        assert listed["next_cursor"] is None
        by_label = answer(
            await client.call_tool("list_tickets", {"label": ["alertname=SmlNameServerFailing"]})
        )
        assert {t["labels"]["target"] for t in by_label["items"]} == {
            "ns1.lab.example",
            "ns2.lab.example",
        }

        detail = answer(await client.call_tool("get_ticket", {"id": lookup["id"]}))
        assert detail["ticket"]["id"] == lookup["id"]
        assert "acknowledge" in detail["allowed_actions"]
        assert detail["history"]
        assert detail["page"]["list"] == "history"
        assert set(detail["sla"]) >= {"response", "resolution"}

        similar = answer(await client.call_tool("similar_tickets", {"id": lookup["id"]}))
        assert len(similar["items"]) == 2  # the two other participants' lookups
        assert all(
            entry["shared_labels"] == ["alertname", "kind", "reason", "service"]
            for entry in similar["items"]
        )

        silences = answer(await client.call_tool("list_silences", {"include_expired": True}))
        assert silences["items"] == []
        known = answer(await client.call_tool("list_known_errors", {}))
        assert known["items"] == []
        checks = answer(await client.call_tool("latest_checks", {"failing_only": True}))
        assert checks["items"] == []
        assert checks["page"]["total"] == 0

        # This agent watches no SML zone: the diagnosis is the API's refusal (the lab's
        # end-to-end test diagnoses a participant of a watched zone).
        unwatched = refusal(
            await client.call_tool(
                "diagnose_participant",
                {"participant": "iso6523-actorid-upis::0088:1", "zone": "sml.example"},
            )
        )
        assert unwatched == (
            "zone sml.example is not one this agent watches; an admin token may ask"
        )

        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        report = answer(await client.call_tool("report", {"since": since}))
        assert report["total"] == len(tickets)
        assert report["by_state"] == {"new": len(tickets)}


async def test_a_responder_acknowledges_and_comments_attributed_in_the_history(
    agent: Agent, tickets: list[dict[str, Any]]
) -> None:
    ticket_id = tickets[0]["id"]
    async with agent.mcp(Role.RESPONDER) as client:
        acked = answer(
            await client.call_tool("transition_ticket", {"id": ticket_id, "action": "acknowledge"})
        )
        assert acked["ticket"]["state"] == "open"
        noted = answer(
            await client.call_tool(
                "comment_ticket", {"id": ticket_id, "text": "name server restarted"}
            )
        )
        assert noted["comment"]["author"] == "responder-bot via mcp"
        again = refusal(
            await client.call_tool("transition_ticket", {"id": ticket_id, "action": "acknowledge"})
        )

    async with agent.api(Role.VIEWER) as api:
        detail = (await api.get(f"/tickets/{ticket_id}")).json()
        refused = await api.post(f"/tickets/{ticket_id}/transitions", json={})
    assert detail["ticket"]["state"] == "open"
    assert detail["ticket"]["acknowledged_at"] is not None
    states = [e for e in detail["history"] if e["field"] == "state"]
    assert states[-1]["actor"] == "responder-bot via mcp"
    assert (states[-1]["before"], states[-1]["after"]) == ("new", "open")
    assert [(c["author"], c["text"]) for c in detail["comments"]][-1] == (
        "responder-bot via mcp",
        "name server restarted",
    )
    assert refused.status_code == 403  # the viewer token, through the API itself
    # The lifecycle's refusal, in the API's words.
    async with agent.api(Role.RESPONDER) as api:
        api_refusal = await api.post(
            f"/tickets/{ticket_id}/transitions", json={"action": "acknowledge"}
        )
    assert again == api_refusal.json()["detail"]


async def test_a_viewers_write_is_refused_with_the_apis_words(
    agent: Agent, tickets: list[dict[str, Any]]
) -> None:
    ticket_id = tickets[0]["id"]
    with capture_logs() as logs:
        async with agent.mcp(Role.VIEWER) as client:
            refused = refusal(
                await client.call_tool(
                    "transition_ticket", {"id": ticket_id, "action": "acknowledge"}
                )
            )
            comment = refusal(
                await client.call_tool("comment_ticket", {"id": ticket_id, "text": "hello"})
            )
    calls = [entry for entry in logs if entry["event"] == "mcp_tool_call"]
    assert [(c["tool"], c["caller"], c["outcome"]) for c in calls] == [
        ("transition_ticket", "viewer-bot", "refused"),
        ("comment_ticket", "viewer-bot", "refused"),
    ]
    assert "hello" not in repr(logs)  # the arguments are never logged
    assert refused == "token viewer-bot has the viewer role; this operation needs responder"
    assert comment == refused
    async with agent.api(Role.VIEWER) as api:
        detail = (await api.get(f"/tickets/{ticket_id}")).json()
    assert detail["ticket"]["state"] == "new"
    assert detail["comments"] == [] or all(c["text"] != "hello" for c in detail["comments"])


async def test_a_responder_cannot_record_known_errors(agent: Agent) -> None:
    arguments = {
        "matchers": [{"name": "alertname", "op": "=", "value": "CrlUnreachable"}],
        "workaround": "fetch the CRL from the mirror",
    }
    async with agent.mcp(Role.RESPONDER) as client:
        refused = refusal(await client.call_tool("add_known_error", arguments))
    assert refused == "token responder-bot has the responder role; this operation needs admin"
    async with agent.mcp(Role.ADMIN) as client:
        entry = answer(await client.call_tool("add_known_error", arguments))["known_error"]
        listed = answer(await client.call_tool("list_known_errors", {}))
    assert entry["created_by"] == "admin-bot via mcp"
    assert [item["id"] for item in listed["items"]] == [entry["id"]]


async def test_silences_are_created_and_expired(agent: Agent) -> None:
    ends = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    async with agent.mcp(Role.RESPONDER) as client:
        made = answer(
            await client.call_tool(
                "create_silence",
                {
                    "matchers": [{"name": "service", "op": "=", "value": "sml"}],
                    "ends_at": ends,
                    "comment": "zone maintenance",
                },
            )
        )["silence"]
        active = answer(await client.call_tool("list_silences", {}))
        ended = answer(await client.call_tool("expire_silence", {"id": made["id"]}))["silence"]
        missing = refusal(await client.call_tool("expire_silence", {"id": "nope"}))
    assert made["created_by"] == "responder-bot via mcp"
    assert [item["id"] for item in active["items"]] == [made["id"]]
    assert ended["ends_at"] <= datetime.now(UTC).isoformat().replace("+00:00", "Z")
    assert missing == "no silence nope"


async def test_bad_arguments_are_refused_naming_the_field(
    agent: Agent, tickets: list[dict[str, Any]]
) -> None:
    async with agent.mcp(Role.RESPONDER) as client:
        no_resolution = refusal(
            await client.call_tool(
                "transition_ticket", {"id": tickets[0]["id"], "action": "resolve"}
            )
        )
        unknown = refusal(await client.call_tool("get_ticket", {"id": "T1", "colour": "red"}))
        missing = refusal(await client.call_tool("get_ticket", {"id": "T404"}))
        no_tool = refusal(await client.call_tool("drop_tables", {}))
    assert no_resolution.startswith("resolution:")
    assert unknown.startswith("colour:")
    assert missing == "no ticket T404"
    assert no_tool == "no tool drop_tables"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="wrong"),
        pytest.param({"Authorization": "Basic dmlld2VyOng="}, id="not-bearer"),
    ],
)
async def test_a_missing_or_wrong_token_is_refused(agent: Agent, headers: dict[str, str]) -> None:
    async with httpx2.AsyncClient(trust_env=False) as http:
        response = await http.post(
            f"{agent.url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers}
        )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "not-a-token" not in response.text
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the SDK's own error types
        async with agent.mcp(None, headers=headers):
            pass
    assert "401" in repr(raised.value) or isinstance(raised.value, MCPError | ExceptionGroup)


async def test_a_host_that_is_not_allowed_is_refused(agent: Agent) -> None:
    async with httpx2.AsyncClient(trust_env=False) as http:
        response = await http.post(
            f"{agent.url}/mcp",
            json=INITIALIZE,
            headers={**MCP_HEADERS, **agent.headers(Role.VIEWER), "Host": "rebound.example"},
        )
        origin = await http.post(
            f"{agent.url}/mcp",
            json=INITIALIZE,
            headers={
                **MCP_HEADERS,
                **agent.headers(Role.VIEWER),
                "Origin": "https://evil.example",
            },
        )
    assert response.status_code == 421
    assert origin.status_code == 403


async def test_an_oversized_request_is_refused_before_it_is_read_whole(agent: Agent) -> None:
    arguments = {"id": "T1", "text": "x" * (2 * 1024 * 1024)}  # over api.max_body_bytes
    call = {**INITIALIZE, "method": "tools/call", "params": {"name": "comment_ticket"}}
    call["params"]["arguments"] = arguments
    async with httpx2.AsyncClient(trust_env=False) as http:
        response = await http.post(
            f"{agent.url}/mcp", json=call, headers={**MCP_HEADERS, **agent.headers(Role.ADMIN)}
        )
    assert response.status_code == 413


async def test_mcp_can_be_turned_off(tmp_path: Path) -> None:
    async with (
        serve(agent_config(tmp_path, enabled=False)) as agent,
        httpx2.AsyncClient(trust_env=False) as http,
    ):
        response = await http.post(
            f"{agent.url}/mcp",
            json=INITIALIZE,
            headers={**MCP_HEADERS, **agent.headers(Role.VIEWER)},
        )
        api = await http.get(f"{agent.url}/api/v1/tickets", headers=agent.headers(Role.VIEWER))
    assert response.status_code == 404
    assert api.status_code == 200


async def test_anonymous_reads_see_the_read_tools_only(tmp_path: Path) -> None:
    async with (
        serve(agent_config(tmp_path, anonymous_read=True)) as agent,
        agent.mcp(None) as client,
    ):
        tools = {tool.name for tool in (await client.list_tools()).tools}
        listed = answer(await client.call_tool("list_tickets", {}))
        refused = refusal(
            await client.call_tool("transition_ticket", {"id": "T1", "action": "start"})
        )
    assert tools == READ_TOOLS
    assert listed["items"] == []
    assert refused == "this operation needs a bearer token with the responder role"


async def test_an_oversized_answer_is_paged(tmp_path: Path) -> None:
    async with serve(agent_config(tmp_path, max_answer_bytes=2048)) as agent:
        async with agent.api(Role.RESPONDER) as api:
            made = []
            for n in range(12):
                body = {
                    "title": f"SMP {n} answers slowly",
                    "description": "x" * 300,
                    "type": "incident",
                    "severity": 3,
                    "labels": {"service": "smp", "target": f"smp{n}.lab.example"},
                }
                made.append((await api.post("/tickets", json=body)).json()["id"])
            for n in range(30):
                await api.post(f"/tickets/{made[0]}/comments", json={"text": f"note {n}"})
        async with agent.mcp(Role.VIEWER) as client:
            seen: list[str] = []
            cursor = None
            pages = 0
            while True:
                arguments: dict[str, Any] = {"limit": 50}
                if cursor is not None:
                    arguments["cursor"] = cursor
                result = await client.call_tool("list_tickets", arguments)
                assert len(result.content[0].text.encode()) <= 2048
                page = answer(result)
                seen += [ticket["id"] for ticket in page["items"]]
                pages += 1
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            history: list[int] = []
            offset: int | None = 0
            while offset is not None:
                result = await client.call_tool(
                    "get_ticket", {"id": made[0], "history_offset": offset}
                )
                detail = answer(result)
                history += [event["id"] for event in detail["history"]]
                offset = detail["page"]["next_offset"]
    assert seen == list(reversed(made))  # every ticket once, newest first
    assert pages > 2
    assert len(history) == detail["page"]["total"] > 30
    assert history == sorted(history)


async def test_resources_and_prompts(agent: Agent, tickets: list[dict[str, Any]]) -> None:
    ticket_id = tickets[0]["id"]
    async with agent.mcp(Role.VIEWER) as client:
        templates = (await client.list_resource_templates()).resource_templates
        resources = (await client.list_resources()).resources
        ticket = await client.read_resource(f"vigie://tickets/{ticket_id}")
        checks = await client.read_resource("vigie://checks")
        with pytest.raises(MCPError):
            await client.read_resource("vigie://tickets/T404")
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
        triage = await client.get_prompt("triage_open_incidents", {})
        handover = await client.get_prompt("handover_summary", {"ticket_id": ticket_id})
        changed = await client.get_prompt("what_changed_last_hour", {})
    assert [t.uri_template for t in templates] == ["vigie://tickets/{id}"]
    assert [str(r.uri) for r in resources] == ["vigie://checks"]
    assert ticket_id in ticket.contents[0].text  # type: ignore[union-attr]
    assert '"items":[]' in checks.contents[0].text  # type: ignore[union-attr]
    assert prompts == {"triage_open_incidents", "handover_summary", "what_changed_last_hour"}
    texts = [p.messages[0].content.text for p in (triage, handover, changed)]  # type: ignore[union-attr]
    assert all(ticket_id in text for text in texts)


@pytest.mark.parametrize(
    ("method", "session"),
    [
        pytest.param("GET", None, id="GET"),
        pytest.param("GET", "forged-session", id="GET with a session id"),
        pytest.param("DELETE", None, id="DELETE"),
        pytest.param("DELETE", "forged-session", id="DELETE with a session id"),
        pytest.param("PUT", None, id="PUT"),
        pytest.param("OPTIONS", None, id="OPTIONS"),
    ],
)
async def test_anything_but_a_post_is_405_at_once(
    agent: Agent, method: str, session: str | None
) -> None:
    """Stateless, the endpoint has no stream to open and no session to end: a GET must
    not hold its connection open on an empty stream."""
    headers = {**agent.headers(Role.VIEWER), "Accept": "text/event-stream, application/json"}
    if session is not None:
        headers["Mcp-Session-Id"] = session
    with capture_logs() as logs:
        async with httpx2.AsyncClient(trust_env=False, timeout=5) as http:
            response = await http.request(method, f"{agent.url}/mcp", headers=headers)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert not [entry for entry in logs if entry["log_level"] in ("error", "critical")]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"],
)
async def test_a_body_not_declared_json_is_415(agent: Agent, content_type: str | None) -> None:
    headers = {**MCP_HEADERS, **agent.headers(Role.VIEWER)}
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with httpx2.AsyncClient(trust_env=False) as http:
        response = await http.post(
            f"{agent.url}/mcp", content=json.dumps(INITIALIZE).encode(), headers=headers
        )
    assert response.status_code == 415
    assert response.json()["field"] == "Content-Type"


async def test_a_compressed_body_is_415(agent: Agent) -> None:
    headers = {
        **MCP_HEADERS,
        **agent.headers(Role.VIEWER),
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    async with httpx2.AsyncClient(trust_env=False) as http:
        response = await http.post(f"{agent.url}/mcp", content=b"not gzip", headers=headers)
    assert response.status_code == 415
    assert response.json()["field"] == "Content-Encoding"


async def test_a_body_trickled_past_its_deadline_is_408(tmp_path: Path) -> None:
    """A client trickling its message would hold its connection for as long as it likes."""
    store = Store(f"sqlite:///{tmp_path / 'v.db'}")  # never opened: no tool is reached
    settings = api_settings(store, RecordingIngest())
    app = web.Application()
    setup_mcp(
        app,
        setup_api(app, settings),
        policy=settings.access,
        settings=McpSettings(body_timeout_seconds=0.3),
        version="test",
        clock=store.now,
    )

    headers = {**MCP_HEADERS, **auth(Role.VIEWER), "Content-Type": "application/json"}
    status, text, took = await post_trickled(app, "/mcp", b'{"jsonrpc": "2.0", ', headers)
    assert status == 408
    assert json.loads(text)["detail"] == "the body did not arrive within 0.3s"
    assert took < 1.5


LIST = {"jsonrpc": "2.0", "method": "tools/list", "params": {"_meta": {"note": "MARKER-7f3"}}}
INVALID_ENVELOPES = {
    "a batch": [{**LIST, "id": 1}, {**LIST, "id": 2}],
    "an empty batch": [],
    "a string": "MARKER-7f3",
    "JSON-RPC 1.0": {**LIST, "jsonrpc": "1.0", "id": 1},
    "no version": {key: value for key, value in {**LIST, "id": 1}.items() if key != "jsonrpc"},
    "a null id": {**LIST, "id": None},
    "a fractional id": {**LIST, "id": 1.5},
    "a boolean id": {**LIST, "id": True},
    "an object id": {**LIST, "id": {"MARKER-7f3": 1}},
    "a method that is a number": {"jsonrpc": "2.0", "id": 1, "method": 7},
    "neither method nor result": {"jsonrpc": "2.0", "id": 1, "MARKER-7f3": True},
}


@pytest.mark.parametrize("message", INVALID_ENVELOPES.values(), ids=list(INVALID_ENVELOPES))
async def test_an_invalid_json_rpc_envelope_is_an_invalid_request(
    agent: Agent, message: Any
) -> None:
    """JSON-RPC 2.0's -32600 with HTTP 400, never a 202 that drops a request whose id is
    not one, and never the input echoed back."""
    headers = {**MCP_HEADERS, **agent.headers(Role.VIEWER)}
    async with httpx2.AsyncClient(trust_env=False) as http:
        response = await http.post(f"{agent.url}/mcp", json=message, headers=headers)
    assert response.status_code == 400
    answer = response.json()
    assert answer["id"] is None
    assert answer["error"]["code"] == -32600
    assert "MARKER" not in response.text


@pytest.mark.parametrize(
    ("message", "status"),
    [
        pytest.param({**LIST, "id": ""}, 200, id="an empty string id"),
        pytest.param({**LIST, "id": -(2**63)}, 200, id="a large negative id"),
        pytest.param({"jsonrpc": "2.0", "method": "notifications/initialized"}, 202, id="note"),
        pytest.param(
            {"jsonrpc": "2.0", "id": None, "error": {"code": 1, "message": "x"}},
            202,
            id="an error response with a null id",
        ),
    ],
)
async def test_a_valid_envelope_goes_on_to_the_server(
    agent: Agent, message: Any, status: int
) -> None:
    headers = {**MCP_HEADERS, **agent.headers(Role.VIEWER)}
    async with httpx2.AsyncClient(trust_env=False) as http:
        response = await http.post(f"{agent.url}/mcp", json=message, headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["id"] == message["id"]
