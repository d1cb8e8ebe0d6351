"""The curl examples of docs/api.md ("How an agent uses this API") run as written against
a live agent on 127.0.0.1, and do what the text says they do."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.vigie.live import TOKENS, LiveAgent, live_config
from ticket_sink.api import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECTION = "## How an agent uses this API"


def examples() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)
def test_the_agent_examples_run_as_documented(tmp_path: Path) -> None:
    blocks = examples()
    assert len(blocks) >= 7
    script = "set -euo pipefail\n" + "\n".join(blocks)
    with LiveAgent(live_config(tmp_path)) as agent:
        env = {
            "PATH": os.environ["PATH"],
            "VIGIE_URL": agent.url,
            "VIGIE_TOKEN": TOKENS[Role.RESPONDER],
            "VIGIE_INGEST_TOKEN": TOKENS[Role.INGEST],
        }
        completed = subprocess.run(
            ["bash", "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        viewer = TOKENS[Role.VIEWER]
        tickets = get(f"{agent.url}/api/v1/tickets", viewer)["items"]

    output = completed.stdout
    reported = next(t for t in tickets if t["title"] == "SMP smp1 answers 503")
    assert f"reported {reported['id']}" in output
    assert reported["state"] == "resolved"
    assert reported["resolution"] == "freed disk space on the SMP database"
    assert "409: ticket " in output  # the refused acknowledge, with its reason
    alerted = [t for t in tickets if t["labels"].get("alertname") == "CrlUnreachable"]
    assert len(alerted) == 1
    assert alerted[0]["severity"] == 2
    assert '"action":"resolve"' in output  # the event stream showed the changes
    assert "/tickets/{id}/transitions" in output  # the OpenAPI paths
