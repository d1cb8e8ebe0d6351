"""A real Alertmanager (Debian's prometheus-alertmanager, run here on 127.0.0.1) receives
vigie's pushed alerts: its own API shows the ticket's alert, then shows it resolved."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port, require_program
from ticket_sink.model import NotificationEvent, TicketState
from ticket_sink.outbound._base import Envelope
from ticket_sink.outbound.alertmanager import AlertmanagerSinkConfig
from ticket_sink.outbound.retry import Verdict
from ticket_sink.outbound.templates import sample_notification

pytestmark = pytest.mark.integration

CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


def start(program: str, directory: Path, port: int) -> subprocess.Popen[str]:
    """Alertmanager as our child process, its state in `directory`."""
    return subprocess.Popen(
        [
            program,
            f"--config.file={directory / 'alertmanager.yml'}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[str]:
    program = require_program("prometheus-alertmanager")
    (tmp_path / "alertmanager.yml").write_text(CONFIG, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start(program, tmp_path, port)
    try:
        async with httpx.AsyncClient() as client, asyncio.timeout(30):
            while True:
                if process.poll() is not None:
                    assert process.stderr is not None
                    pytest.fail(f"alertmanager exited:\n{process.stderr.read()}")
                try:
                    if (await client.get(f"{url}/-/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


async def alerts(client: httpx.AsyncClient, url: str, ticket_id: str) -> list[Any]:
    response = await client.get(
        f"{url}/api/v2/alerts", params={"filter": f'vigie_ticket="{ticket_id}"'}
    )
    response.raise_for_status()
    found: list[Any] = response.json()
    return found


async def test_a_real_alertmanager_receives_and_resolves_the_tickets_alert(
    alertmanager: str,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    notification = sample_notification(NotificationEvent.CREATED)
    ticket = replace(notification.ticket, created_at=now - timedelta(minutes=5))
    created = replace(notification, ticket=ticket, at=now)
    config = AlertmanagerSinkConfig(name="am", url=alertmanager)
    async with httpx.AsyncClient() as client:
        sink = config.build(client)
        outcome = await sink.send(Envelope(created, "https://vigie.example/t"), now)
        assert outcome.verdict is Verdict.DELIVERED, outcome.reason
        (alert,) = await alerts(client, alertmanager, ticket.id)
        assert alert["labels"]["alertname"] == "DnsDown"
        assert alert["labels"]["target"] == "ns1.example.org"
        assert alert["annotations"]["vigie_notification_id"] == created.id
        assert alert["status"]["state"] == "active"

        resolved_ticket = replace(ticket, state=TicketState.RESOLVED, resolved_at=now)
        resolved = replace(
            sample_notification(NotificationEvent.RESOLVED), ticket=resolved_ticket, at=now
        )
        outcome = await sink.send(Envelope(resolved), now)
        assert outcome.verdict is Verdict.DELIVERED, outcome.reason
        # Alertmanager's API lists only alerts that have not ended.
        assert await alerts(client, alertmanager, ticket.id) == []
