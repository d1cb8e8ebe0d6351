"""The live agent's API matches its own OpenAPI document: schemathesis generates requests
from /api/v1/openapi.json (valid and invalid, then stateful sequences) and checks that no
response is a 5xx, every response matches its documented status, content type and schema,
invalid input is refused and valid input accepted. Everything runs on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ticket_sink.api.conftest import RecordingIngest, api_settings
from tests.vigie.live import TOKENS, LiveAgent, live_config
from ticket_sink import Store
from ticket_sink.api import Call, Role, operations
from ticket_sink.api.auth import Principal

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"

# A label matcher's regex (`label=service=~...`) cannot be described by JSON Schema inside
# a query string, so a schema-valid request may carry one that does not compile: 400 then
# is the right answer, not a refusal of valid data.
# A silence's end must come after its start (now, by default), which JSON Schema cannot
# say about two times either: an end in the past is a 400 naming `ends_at`.
# Times must fall between 1970-01-01 and 9000-01-01 once in UTC (what the store holds);
# JSON Schema's date-time has no bounds, so `since`, `until` and `updated_since` outside
# them are a 400 naming the field.
CONFIG = """
[[operations]]
include-name = "GET /tickets"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-name = "POST /silences"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-name = "GET /reports"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
"""


def granted(role: Role) -> list[str]:
    """The operation ids a token of `role` may call (the API's own table says which)."""
    caller = Principal(f"{role}-bot", role)
    settings = api_settings(Store("sqlite://"), RecordingIngest())
    return [
        op.operation_id
        for op in operations(settings, _unused)
        if op.role is not None
        and op.path != "/events"
        and caller.may(op.role, anonymous_read=False)
    ]


async def _unused(call: Call) -> Any:
    raise AssertionError("not called")


@dataclass(frozen=True)
class Run:
    role: Role
    phases: str
    max_examples: int
    operation_ids: Sequence[str] = ()  # none: every operation


# Each run stays well within a test's time on a busy machine. The admin may call every
# operation: every phase over the whole API, in two runs (the coverage phase alone takes
# about a minute; fuzzing and the stateful sequences, which follow the inferred links from
# a created ticket to its reads and writes, the rest). The other roles: the operations
# their token may call, without the coverage phase (the admin's covers every schema) and
# with fewer examples; tests/ticket_sink/api checks that every other operation refuses them.
RUNS = {
    "admin-coverage": Run(Role.ADMIN, "examples,coverage", 10),
    "admin-fuzzing-stateful": Run(Role.ADMIN, "fuzzing,stateful", 10),
    "responder": Run(Role.RESPONDER, "examples,fuzzing,stateful", 4, granted(Role.RESPONDER)),
    "viewer": Run(Role.VIEWER, "examples,fuzzing,stateful", 4, granted(Role.VIEWER)),
    "ingest": Run(Role.INGEST, "examples,coverage,fuzzing,stateful", 10, granted(Role.INGEST)),
}


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis (the test extra) is missing")
@pytest.mark.parametrize("run", RUNS.values(), ids=RUNS.keys())
def test_the_api_conforms_to_its_openapi_document(tmp_path: Path, run: Run) -> None:
    only: list[str] = []
    for operation_id in run.operation_ids:
        only += ["--include-operation-id", operation_id]
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
                f"Authorization: Bearer {TOKENS[run.role]}",
                # The event stream never ends by design; tests/ticket_sink/api covers it
                # (and that an invalid `after` is a 400 before the stream starts).
                "--exclude-path",
                "/events",
                *only,
                "--checks",
                "all",
                "--phases",
                run.phases,
                # Bounded and reproducible.
                "--max-examples",
                str(run.max_examples),
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
            timeout=110,
            check=False,
        )
    assert completed.returncode == 0, completed.stdout[-20_000:] + completed.stderr[-5_000:]
