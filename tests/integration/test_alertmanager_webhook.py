"""A real Alertmanager delivers to vigie through its webhook receiver, as docs/api.md says
to configure it: the alerts posted to Alertmanager become tickets, and when Alertmanager
sends them resolved, the tickets stop firing and are auto-resolved after the quiet period.

Alertmanager (Debian `prometheus-alertmanager`) and the agent both run on free 127.0.0.1
ports; the waits are bounded, nothing here asserts on how long anything took.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, require_program
from tests.vigie.live import TOKENS, LiveAgent, live_config
from ticket_sink.api import Role

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DEADLINE_SECONDS = 60.0
LABELS = [
    {"alertname": "SmpUnavailable", "service": "smp", "target": f"smp{n}.test", "severity": sev}
    for n, sev in ((1, "major"), (2, "critical"))
]
# The quiet period and the sweep are short so that auto-resolution happens within the test.
CORRELATOR = {"quiet_period": "1s", "sweep_interval": "0.2s", "group_wait": "0s"}


def call(url: str, *, token: str | None = None, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text.strip() else None


def wait_for(what: str, found: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE_SECONDS:.0f} s: {what}")


def alertmanager_config(agent_url: str) -> str:
    receiver = {
        "name": "vigie",
        "webhook_configs": [
            {
                "url": f"{agent_url}/api/v1/alerts",
                "send_resolved": True,
                "http_config": {
                    "authorization": {"type": "Bearer", "credentials": TOKENS[Role.INGEST]}
                },
            }
        ],
    }
    route = {
        "receiver": "vigie",
        "group_by": ["alertname"],
        "group_wait": "100ms",
        "group_interval": "200ms",
        "repeat_interval": "1h",
    }
    return json.dumps({"route": route, "receivers": [receiver]})  # JSON is YAML


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[LiveAgent]:
    with LiveAgent(live_config(tmp_path, correlator=CORRELATOR)) as live:
        yield live


@pytest.fixture
def alertmanager(agent: LiveAgent, tmp_path: Path) -> Iterator[str]:
    program = require_program("prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(alertmanager_config(agent.url))
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            program,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no clustering: nothing listens beyond this port
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for("Alertmanager ready", ready)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def post_to_alertmanager(url: str, *, ends_at: datetime, starts_at: datetime) -> None:
    alerts = [
        {
            "labels": labels,
            "annotations": {"summary": f"{labels['target']} does not answer"},
            "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
            "endsAt": ends_at.isoformat().replace("+00:00", "Z"),
        }
        for labels in LABELS
    ]
    call(f"{url}/api/v2/alerts", body=alerts)


def tickets(agent: LiveAgent) -> dict[str, dict[str, Any]]:
    page = call(f"{agent.url}/api/v1/tickets?label=alertname=SmpUnavailable", token=viewer())
    return {ticket["labels"]["target"]: ticket for ticket in page["items"]}


def viewer() -> str:
    return TOKENS[Role.VIEWER]


def test_alerts_sent_by_alertmanager_become_tickets_and_resolve(
    agent: LiveAgent, alertmanager: str
) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    post_to_alertmanager(alertmanager, starts_at=started, ends_at=started + timedelta(hours=1))

    opened = wait_for(
        "a ticket for each alert", lambda: len(tickets(agent)) == 2 and tickets(agent)
    )
    assert {target: ticket["state"] for target, ticket in opened.items()} == {
        "smp1.test": "new",
        "smp2.test": "new",
    }
    # Severity comes from the severity label; the labels arrive as Alertmanager sent them.
    assert opened["smp1.test"]["severity"] == 2
    assert opened["smp2.test"]["severity"] == 1
    assert opened["smp1.test"]["labels"] == LABELS[0]
    assert opened["smp1.test"]["created_at"].endswith("Z")
    # Alike in service and alertname: one master, the other ticket under it.
    masters = sorted(ticket["master_id"] or "" for ticket in opened.values())
    assert masters[0] == ""
    assert masters[1] in {ticket["id"] for ticket in opened.values()}
    with urllib.request.urlopen(f"{agent.url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'vigie_alerts_received_total{source="alertmanager"}' in metrics

    # Alertmanager sends them resolved; after the quiet period the sweep resolves them.
    post_to_alertmanager(alertmanager, starts_at=started, ends_at=datetime.now(UTC))

    def all_resolved() -> dict[str, dict[str, Any]] | None:
        found = tickets(agent)
        return found if {t["state"] for t in found.values()} == {"resolved"} else None

    resolved = wait_for("the tickets auto-resolved", all_resolved)
    assert set(resolved) == {"smp1.test", "smp2.test"}
    for ticket in resolved.values():
        # The child may be resolved on its own or with its master: either way, recovered.
        assert "recovered: every alert stayed clear for 1 s" in ticket["resolution"]
        detail = call(f"{agent.url}/api/v1/tickets/{ticket['id']}", token=viewer())
        assert any(
            event["actor"] == "correlator" and event["after"] == "resolved"
            for event in detail["history"]
        )
