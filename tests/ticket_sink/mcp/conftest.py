"""An agent served on 127.0.0.1 (a free port) in the test's event loop, tickets made the
way the lab's checks make them (alerts through the API), and the SDK's own MCP client."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.vigie.live import TOKENS, live_config
from ticket_sink.api import Role
from vigie.api_config import McpConfig
from vigie.app import create_app
from vigie.config import VigieConfig

# The tools a viewer sees.
READ_TOOLS = {
    "list_tickets",
    "get_ticket",
    "similar_tickets",
    "list_silences",
    "list_known_errors",
    "latest_checks",
    "report",
    "diagnose_participant",
}

# As the lab's checks label their alerts (correlator/rules.py): a name server of the SML
# zone down, and two participants whose lookup fails.
LAB_ALERTS = [
    {
        "labels": {
            "alertname": "SmlNameServerFailing",
            "kind": "dns_soa",
            "service": "sml",
            "target": f"ns{n}.lab.example",
            "reason": "timeout",
        },
        "severity": 2,
    }
    for n in (1, 2)
] + [
    {
        "labels": {
            "alertname": "ParticipantLookupFailed",
            "kind": "sml_lookup",
            "service": "sml",
            "target": f"0088:{n:012d}",
            "reason": "nxdomain",
        },
        "severity": 3,
    }
    for n in (1, 2, 3)
]


@dataclass
class Agent:
    url: str
    app: web.Application

    def headers(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {TOKENS[role]}"}

    def api(self, role: Role = Role.ADMIN) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            base_url=f"{self.url}/api/v1", headers=self.headers(role), trust_env=False
        )

    @contextlib.asynccontextmanager
    async def mcp(
        self, role: Role | None, *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[Client]:
        """The SDK's client on /mcp with `role`'s token (none for None)."""
        sent = {**self.headers(role), **(headers or {})}
        async with (
            httpx2.AsyncClient(headers=sent, trust_env=False, timeout=30) as http,
            Client(streamable_http_client(f"{self.url}/mcp", http_client=http)) as client,
        ):
            yield client


@contextlib.asynccontextmanager
async def serve(config: VigieConfig) -> AsyncIterator[Agent]:
    app = create_app(config)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield Agent(f"http://{host}:{port}", app)
    finally:
        await runner.cleanup()


def agent_config(tmp_path: Path, *, anonymous_read: bool = False, **mcp: Any) -> VigieConfig:
    """One token per role; `mcp` replaces options of the `api.mcp` section."""
    config = live_config(tmp_path, anonymous_read=anonymous_read, correlator={"group_wait": "0s"})
    section = McpConfig.model_validate({**config.api.mcp.model_dump(), **mcp})
    api = config.api.model_copy(update={"mcp": section})
    return config.model_copy(update={"api": api})


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    async with serve(agent_config(tmp_path)) as served:
        yield served


@pytest.fixture
async def tickets(agent: Agent) -> list[dict[str, Any]]:
    return await lab_tickets(agent)


async def lab_tickets(agent: Agent) -> list[dict[str, Any]]:
    """The tickets the lab's alerts became, newest first."""
    async with agent.api(Role.INGEST) as api:
        posted = await api.post("/alerts", json={"alerts": LAB_ALERTS})
        assert posted.status_code == 200, posted.text
    async with agent.api(Role.VIEWER) as api:
        listed = (await api.get("/tickets")).json()["items"]
    assert len(listed) == len(LAB_ALERTS)
    return list(listed)


def answer(result: CallToolResult) -> Any:
    """A tool's JSON answer; the test fails with the tool's error text if it refused."""
    assert not result.is_error, result.content
    (content,) = result.content
    assert content.type == "text"
    data = json.loads(content.text)
    assert data == result.structured_content
    return data


def refusal(result: CallToolResult) -> str:
    assert result.is_error
    (content,) = result.content
    assert content.type == "text"
    return content.text
