"""`vigie mcp` on stdio, driven by the SDK's own client as a desktop assistant starts it:
the agent's tools, its roles and its audit trail, through the relay; an agent that cannot
be reached or refuses the token is one line on stderr."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from structlog.testing import capture_logs

from tests.ticket_sink.mcp.conftest import (
    READ_TOOLS,
    Agent,
    agent_config,
    answer,
    lab_tickets,
    refusal,
    serve,
)
from tests.vigie.live import TOKENS, LiveAgent, live_config
from ticket_sink.api import Role
from vigie.cli import main

ROOT = Path(__file__).resolve().parents[2]


def stdio(agent: Agent, role: Role) -> Client:
    env = {"PATH": os.environ.get("PATH", ""), "VIGIE_URL": agent.url, "VIGIE_TOKEN": TOKENS[role]}
    command = StdioServerParameters(
        command=sys.executable, args=["-m", "vigie", "mcp"], env=env, cwd=ROOT
    )
    return Client(command)


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    async with serve(agent_config(tmp_path)) as served:
        yield served


async def test_the_tools_of_the_agent_on_stdio(agent: Agent) -> None:
    tickets = await lab_tickets(agent)
    ticket_id = tickets[0]["id"]
    async with stdio(agent, Role.VIEWER) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        listed = answer(await client.call_tool("list_tickets", {"limit": 2}))
        detail = answer(await client.call_tool("get_ticket", {"id": ticket_id}))
        similar = answer(await client.call_tool("similar_tickets", {"id": ticket_id}))
        others = [
            answer(await client.call_tool(name, {}))
            for name in ("list_silences", "list_known_errors", "latest_checks")
        ]
        report = answer(await client.call_tool("report", {"since": "2020-01-01T00:00:00Z"}))
        refused = refusal(
            await client.call_tool("transition_ticket", {"id": ticket_id, "action": "start"})
        )
        resource = await client.read_resource(f"vigie://tickets/{ticket_id}")
        prompt = await client.get_prompt("handover_summary", {"ticket_id": ticket_id})
    assert tools == READ_TOOLS
    assert [t["id"] for t in listed["items"]] == [t["id"] for t in tickets[:2]]
    assert listed["next_cursor"] is not None
    assert detail["ticket"]["id"] == ticket_id
    assert similar["items"]
    assert [answer_["items"] for answer_ in others] == [[], [], []]
    assert report["total"] == len(tickets)
    assert refused == "token viewer-bot has the viewer role; this operation needs responder"
    assert ticket_id in resource.contents[0].text  # type: ignore[union-attr]
    assert ticket_id in prompt.messages[0].content.text  # type: ignore[union-attr]

    async with stdio(agent, Role.RESPONDER) as client:
        acked = answer(
            await client.call_tool("transition_ticket", {"id": ticket_id, "action": "acknowledge"})
        )
        answer(await client.call_tool("comment_ticket", {"id": ticket_id, "text": "on it"}))
    assert acked["ticket"]["state"] == "open"
    async with agent.api(Role.VIEWER) as api:
        history = (await api.get(f"/tickets/{ticket_id}")).json()["history"]
    assert {event["actor"] for event in history[-2:]} == {"responder-bot via mcp"}


@pytest.mark.parametrize("token", ["", "wrong-token"], ids=["no-token", "wrong-token"])
def test_an_agent_that_refuses_the_token_is_one_line(
    tmp_path: Path, token: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with capture_logs(), LiveAgent(live_config(tmp_path)) as live:
        agent_url = live.url
        monkeypatch.setenv("VIGIE_URL", agent_url)
        monkeypatch.setenv("VIGIE_TOKEN", token)
        assert main(["mcp"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"vigie mcp: cannot open {agent_url}/mcp: ")
    assert captured.err.count("\n") == 1
    assert "wrong-token" not in captured.err


def test_an_unreachable_agent_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed when the test runs
    monkeypatch.setenv("VIGIE_TOKEN", TOKENS[Role.VIEWER])
    assert main(["mcp", "--url", url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"vigie mcp: cannot open {url}/mcp: ")
    assert captured.err.count("\n") == 1
