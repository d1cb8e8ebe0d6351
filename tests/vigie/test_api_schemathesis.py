"""The live agent's API matches its own OpenAPI document: schemathesis generates requests
from /api/v1/openapi.json (valid and invalid, then stateful sequences) and checks that no
response is a 5xx, every response matches its documented status, content type and schema,
invalid input is refused and valid input accepted. Everything runs on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.vigie.live import TOKENS, LiveAgent, live_config
from ticket_sink.api import Role

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"

# A label matcher's regex (`label=service=~...`) cannot be described by JSON Schema inside
# a query string, so a schema-valid request may carry one that does not compile: 400 then
# is the right answer, not a refusal of valid data.
# A silence's end must come after its start (now, by default), which JSON Schema cannot
# say about two times either: an end in the past is a 400 naming `ends_at`.
CONFIG = """
[[operations]]
include-name = "GET /tickets"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-name = "POST /silences"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
"""


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis (the test extra) is missing")
def test_the_api_conforms_to_its_openapi_document(tmp_path: Path) -> None:
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(CONFIG, encoding="utf-8")
    with LiveAgent(live_config(tmp_path)) as agent:
        completed = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(config_file),
                "--no-color",
                "run",
                f"{agent.url}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {TOKENS[Role.ADMIN]}",
                # The event stream never ends by design; tests/ticket_sink/api covers it.
                "--exclude-path",
                "/events",
                "--checks",
                "all",
                # Bounded and reproducible: about ten seconds on one core.
                "--max-examples",
                "10",
                "--seed",
                "1",
                "--generation-database",
                "none",
                "--request-timeout",
                "10",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert completed.returncode == 0, completed.stdout[-20_000:] + completed.stderr[-5_000:]
