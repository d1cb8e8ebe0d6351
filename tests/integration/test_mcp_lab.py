"""An assistant works a lab incident over MCP, end to end: the lab's CRL server stops
answering, the agent's checks turn that into a ticket, an MCP client finds it with
list_tickets, reads it and acknowledges it, and the API's event stream shows the change
under the responder token's name, marked as coming through MCP. And a participant whose
SMP signs badly is diagnosed over MCP, the broken link named."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_correlation_lab import DEADLINE_SECONDS, wait_for
from tests.ticket_sink.mcp.conftest import Agent, answer, serve
from tests.vigie.live import TOKENS
from ticket_sink.api import Role, hash_token
from vigie.config import VigieConfig
from vigie.demo import lab_agent_settings
from vigie.lab.faults import FaultKind
from vigie.lab.lab import Lab, LabSettings

pytestmark = [pytest.mark.integration]


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=4, workdir=tmp_path)) as started:
        yield started


@pytest.fixture
async def agent(lab: Lab, tmp_path: Path) -> AsyncIterator[Agent]:
    settings = lab_agent_settings(
        lab, store_url=f"sqlite:///{tmp_path}/vigie.db", listen="127.0.0.1:8080"
    )
    # `serve` listens on a free port of its own; the CRL checks alone.
    settings["targets"] = {"crl": settings["targets"]["crl"]}
    settings["defaults"] = {"interval": "1s", "timeout": "0.8s"}
    settings["scheduler"] = {"initial_spread": "0.2s"}
    settings["correlator"] = {
        "group_wait": "0s",
        "sweep_interval": "0.5s",
        "rules": [
            {"alert": "CrlUnreachable", "for": "0s", "keep_firing_for": "0s"},
        ],
    }
    settings["notifications"] = {}
    settings["api"] = {
        "event_poll_interval": "50ms",
        "tokens": [
            {"name": f"{role.value}-bot", "role": role.value, "hash": hash_token(token)}
            for role, token in TOKENS.items()
        ],
    }
    async with serve(VigieConfig.model_validate(settings)) as served:
        yield served


async def events_of(
    agent: Agent, ticket_id: str, found: list[dict[str, Any]], started: asyncio.Event
) -> None:
    """Read the API's event stream (changes from now on) into `found`, for one ticket;
    `started` is set once the stream said from which event on it sends."""
    async with (
        agent.api(Role.VIEWER) as api,
        api.stream("GET", "/events", timeout=DEADLINE_SECONDS) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith(": from "):
                started.set()
            elif line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                if event["ticket_id"] == ticket_id:
                    found.append(event)


async def test_a_lab_fault_is_found_read_and_acknowledged_over_mcp(lab: Lab, agent: Agent) -> None:
    lab.inject(FaultKind.CRL_UNREACHABLE, "intermediate")

    async with agent.mcp(Role.RESPONDER) as client:

        async def listed() -> list[dict[str, Any]]:
            page = answer(
                await client.call_tool(
                    "list_tickets", {"label": ["alertname=CrlUnreachable"], "state": ["new"]}
                )
            )
            return list(page["items"])

        (ticket, *_) = await wait_for(listed, "a CrlUnreachable ticket, found over MCP")
        detail = answer(await client.call_tool("get_ticket", {"id": ticket["id"]}))
        assert detail["ticket"]["labels"]["reason"] == "crl_unreachable"
        assert "acknowledge" in detail["allowed_actions"]
        checks = answer(await client.call_tool("latest_checks", {"failing_only": True}))
        failing = checks["items"][0]
        assert failing["success"] is False
        assert failing["reason"] == "crl_unreachable"
        assert failing["finished_at"].endswith("Z")  # ISO 8601, not a Unix time
        # The other read tools answer on the lab's ticket too.
        similar = answer(await client.call_tool("similar_tickets", {"id": ticket["id"]}))
        assert similar["of"] == ticket["id"]
        report = answer(await client.call_tool("report", {"since": ticket["created_at"]}))
        assert report["total"] >= 1
        for name in ("list_silences", "list_known_errors"):
            assert answer(await client.call_tool(name, {}))["items"] == []

        seen: list[dict[str, Any]] = []
        started = asyncio.Event()
        stream = asyncio.create_task(events_of(agent, ticket["id"], seen, started))
        try:
            opened = asyncio.create_task(started.wait())
            # Whichever first: the stream started, or it ended (its error then shows).
            await asyncio.wait(
                {opened, stream}, timeout=DEADLINE_SECONDS, return_when="FIRST_COMPLETED"
            )
            opened.cancel()
            if stream.done():
                await stream
            assert started.is_set(), f"the event stream did not start in {DEADLINE_SECONDS:g}s"
            acked = answer(
                await client.call_tool(
                    "transition_ticket", {"id": ticket["id"], "action": "acknowledge"}
                )
            )
            assert acked["ticket"]["state"] == "open"

            async def acknowledged() -> dict[str, Any] | None:
                return next((e for e in seen if e["field"] == "state"), None)

            event = await wait_for(acknowledged, "the acknowledgement on the event stream")
        finally:
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)
    assert (event["before"], event["after"]) == ("new", "open")
    assert event["actor"] == "responder-bot via mcp"


async def test_a_participant_of_the_lab_is_diagnosed_over_mcp(lab: Lab, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    settings = lab_agent_settings(
        lab, store_url=f"sqlite:///{tmp_path}/vigie.db", listen="127.0.0.1:8080"
    )
    sml = {**settings["targets"]["sml"][0], "zone_health": False}
    sml.pop("sweep", None)
    settings["targets"] = {"sml": [sml]}  # the zone is watched; its checks barely run
    settings["defaults"] = {"interval": "1h", "timeout": "3s"}
    settings["notifications"] = {}
    settings["api"] = {
        "tokens": [
            {"name": f"{role.value}-bot", "role": role.value, "hash": hash_token(token)}
            for role, token in TOKENS.items()
        ],
        "diagnosis": {
            "trust_anchors": str(pki / "root.pem"),
            "intermediates": str(pki / "intermediate.pem"),
            "ca_file": str(pki / "root.pem"),
            "step_timeout": "3s",
        },
    }
    participant = lab.zone.participant(0)
    smp = lab.smps[lab.zone.smp_index(participant) or 0].name
    lab.inject(FaultKind.SMP_BAD_SIGNATURE, smp)
    arguments = {"participant": participant, "zone": lab.zone.origin}
    async with (
        serve(VigieConfig.model_validate(settings)) as agent,
        agent.mcp(Role.VIEWER) as client,
    ):
        found = answer(await client.call_tool("diagnose_participant", arguments))
    assert (found["whole"], found["broken"]) == (False, "smp_metadata")
    assert found["headline"].startswith("broken at smp_metadata ")
    assert [step["step"] for step in found["steps"]][:2] == ["sml", "sml_other_naming"]
