"""The correlator with the lab: the zone's name servers stop answering, and what the agent
records is one master ticket for the zone with every other alert (each name server, each
participant lookup) under it, one notification queued for it; healing resolves them all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from ticket_sink import Store, schema
from vigie.app import BOOK, STORE, create_app
from vigie.config import VigieConfig
from vigie.demo import lab_agent_settings
from vigie.lab.faults import FaultKind
from vigie.lab.lab import Lab, LabSettings

DEADLINE_SECONDS = 40.0
# At test pace: no confirmation delays, so a fault is a ticket within a few runs.
RULES = [
    {"alert": name, "for": "0s", "keep_firing_for": "0s", "consecutive_failures": 1}
    for name in (
        "SmlNameServerFailing",
        "ParticipantLookupFailed",
        "DnsLookupFailed",
        "CrlUnreachable",
        "CrlInvalid",
    )
]


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=20, workdir=tmp_path)) as started:
        yield started


@pytest.fixture(params=["sml"])
def watched(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The target sections of the lab's agent configuration the test keeps."""
    return tuple(request.param.split(","))


@pytest.fixture
async def agent(
    lab: Lab, tmp_path: Path, unused_tcp_port: int, watched: tuple[str, ...]
) -> AsyncIterator[web.Application]:
    settings = lab_agent_settings(
        lab, store_url=f"sqlite:///{tmp_path}/vigie.db", listen=f"127.0.0.1:{unused_tcp_port}"
    )
    settings["targets"]["sml"][0].pop("sweep", None)
    settings["targets"] = {section: settings["targets"][section] for section in watched}
    settings["defaults"] = {"interval": "1s", "timeout": "0.8s"}
    settings["scheduler"] = {"initial_spread": "0.2s"}
    settings["correlator"] = {
        "group_wait": "0s",
        "quiet_period": "2s",
        "sweep_interval": "0.5s",
        "rules": RULES,
    }
    app = create_app(VigieConfig.model_validate(settings))
    runner = web.AppRunner(app)
    await runner.setup()  # runs the cleanup contexts: store, correlator, scheduler
    try:
        yield app
    finally:
        await runner.cleanup()


async def table(store: Store, which: sa.Table) -> list[Any]:
    async with store.transaction(write=False) as tx:
        return list((await tx.connection.execute(sa.select(which))).all())


async def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.25)
    pytest.fail(f"not within {DEADLINE_SECONDS:g}s: {what}")


async def healthy_runs(agent: web.Application, runs: int = 2) -> None:
    """Until every check of the agent has run `runs` times."""
    book = agent[BOOK]

    async def every_check_ran() -> bool:
        return len(book) > 0 and all(record.outcomes.total() >= runs for record in book)

    await wait_for(every_check_ran, f"{runs} runs of every check")


async def test_name_servers_down_make_one_master_ticket_for_the_zone(
    lab: Lab, agent: web.Application
) -> None:
    store = agent[STORE]
    zone = lab.zone.origin
    servers = [f"{zone}@{address}" for address in lab.nameserver_addresses().values()]
    await healthy_runs(agent)
    assert await table(store, schema.tickets) == []
    faults = [lab.inject(FaultKind.NS_DOWN, name) for name in lab.nameserver_addresses()]

    async def every_alert_has_a_ticket() -> list[Any] | None:
        rows = await table(store, schema.tickets)
        nodes = {row.node for row in rows}
        participants = [node for node in nodes if node.endswith(f"@{zone}")]
        ready = {zone, *servers} <= nodes and len(participants) >= 3
        return rows if ready else None

    rows = await wait_for(every_alert_has_a_ticket, "tickets for the zone, servers, participants")
    (master,) = [row for row in rows if row.master_id is None]
    assert master.node == zone
    assert all(row.master_id == master.id for row in rows if row is not master)
    assert all(row.notify is False for row in rows if row is not master)
    # A ticket that led for a moment (a name server, before the zone failed too) queued
    # its notification; it now hangs under the master, so routing drops it.
    created = {n.ticket_id for n in await table(store, schema.outbox) if n.event == "created"}
    assert master.id in created
    by_id = {row.id: row for row in await table(store, schema.tickets)}
    assert {ticket for ticket in created if by_id[ticket].master_id is None} == {master.id}

    for fault in faults:
        lab.faults.heal(fault.id)

    async def all_resolved() -> bool:
        rows = await table(store, schema.tickets)
        return all(row.state == "resolved" for row in rows)

    await wait_for(all_resolved, "every ticket resolved after healing")
    resolved = [n for n in await table(store, schema.outbox) if n.event == "resolved"]
    assert [n.ticket_id for n in resolved] == [master.id]


@pytest.mark.parametrize("watched", ["crl"], indirect=True)
@pytest.mark.parametrize(
    ("fault", "alertname", "reason"),
    [
        pytest.param(FaultKind.CRL_STALE, "CrlInvalid", "crl_stale", id="stale"),
        pytest.param(FaultKind.CRL_UNREACHABLE, "CrlUnreachable", "crl_unreachable", id="down"),
    ],
)
async def test_a_stale_crl_and_an_unreachable_one_are_different_tickets_never_revoked(
    lab: Lab, agent: web.Application, fault: FaultKind, alertname: str, reason: str
) -> None:
    store = agent[STORE]
    await healthy_runs(agent)
    assert await table(store, schema.tickets) == []
    lab.inject(fault, "intermediate")

    async def crl_ticket() -> list[Any] | None:
        rows = await table(store, schema.tickets)
        return rows if any(row.labels["alertname"] == alertname for row in rows) else None

    rows = await wait_for(crl_ticket, f"a {alertname} ticket")
    assert {row.labels["alertname"] for row in rows} == {alertname}
    assert {row.labels["reason"] for row in rows} == {reason}
    assert all("Revoked" not in row.title for row in rows)
