"""`vigie tickets ...` against a live agent on 127.0.0.1: tables for people, the API's
JSON with --json, one clear line and exit 1 when the agent refuses; and `vigie token hash`
makes the hash the configuration expects."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from tests.vigie.live import TOKENS, LiveAgent, live_config
from ticket_sink.api import Role, hash_token
from vigie.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_work_a_ticket_from_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent's logs would go to the captured stdout, among the CLI's output.
    with capture_logs(), LiveAgent(live_config(tmp_path)) as agent:
        monkeypatch.setenv("VIGIE_URL", agent.url)
        monkeypatch.setenv("VIGIE_TOKEN", TOKENS[Role.RESPONDER])
        created = httpx.post(
            f"{agent.url}/api/v1/tickets",
            json={
                "title": "OCSP slow",
                "description": "p99 4 s",
                "type": "incident",
                "severity": 3,
            },
            headers={"Authorization": f"Bearer {TOKENS[Role.RESPONDER]}"},
        ).json()
        ticket = created["id"]

        code, out, _ = run(capsys, "tickets", "list")
        assert code == 0
        header, row = out.splitlines()[:2]
        assert header.split() == ["ID", "SEV", "STATE", "TYPE", "CREATED", "TITLE"]
        assert row.split()[:4] == [ticket, "3", "new", "incident"]

        assert run(capsys, "tickets", "ack", ticket)[:2] == (0, f"{ticket}: open\n")
        code, out, _ = run(capsys, "tickets", "comment", ticket, "asked the CA")
        assert (code, out) == (0, f"{ticket}: comment added by responder-bot\n")
        code, out, _ = run(capsys, "tickets", "resolve", ticket, "CA scaled its responders")
        assert (code, out) == (0, f"{ticket}: resolved\n")

        code, out, _ = run(capsys, "tickets", "show", ticket)
        assert code == 0
        assert "state        resolved" in out
        assert "responder-bot: asked the CA" in out

        code, out, _ = run(capsys, "tickets", "show", ticket, "--json")
        assert json.loads(out)["ticket"]["resolution"] == "CA scaled its responders"

        code, out, err = run(capsys, "tickets", "ack", ticket)
        assert (code, out) == (1, "")
        assert err.startswith(f"vigie tickets: 409 Conflict: ticket {ticket} (resolved)")

        code, _, err = run(
            capsys, "tickets", "close", ticket, "--reason", "resolved", "--token", "wrong"
        )
        assert code == 1
        assert "401" in err
        assert "wrong" not in err

        code, out, _ = run(capsys, "tickets", "close", ticket, "--reason", "resolved")
        assert (code, out) == (0, f"{ticket}: closed\n")


def test_an_unreachable_agent_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tickets", "list", "--url", "http://127.0.0.1:9")

    assert code == 1
    assert err.startswith("vigie tickets: cannot reach http://127.0.0.1:9")
    assert len(err.splitlines()) == 1


def test_token_hash(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert run(capsys, "token", "hash") == (0, hash_token("s3cret") + "\n", "")

    code, out, _ = run(capsys, "token", "hash", "--generate")
    token, digest = out.split()
    assert code == 0
    assert len(token) >= 40
    assert digest == hash_token(token)
