"""Every `vigie` command answers alike: a usage mistake is exit 2 with one line (an unknown
flag also shows that command's usage) and no traceback; a target that fails is exit 1.
Usage mistakes are found while parsing, before a command configures anything, so they are
tried in this process; failing targets run the command, each in a process of its own.

The tables name every command the parser has, so that a new command cannot be added
without saying how it answers both.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from probes.cert_path import RevocationMode
from vigie.cli import build_parser, main
from vigie.lab.pki import LabPki
from vigie.probe_pki_cli import REVOCATION_MODES

# A usage mistake for each command: the arguments after the command's words.
USAGE_MISTAKES: dict[str, list[str]] = {
    "run": ["--config", "{missing}"],
    "config check": ["{missing}"],
    "config schema": ["--bogus"],
    "config docs": ["--bogus"],
    "demo": ["--participants", "none"],
    "lab": ["--control", "127.0.0.1:http"],
    "probe soa": ["--zone", "x.test", "--server", "127.0.0.1:0x35"],
    "probe sml": ["--zone", "x.test", "--participants", "{missing}"],
    "probe smp": ["--url", "localhost:8942", "--participant", "a::b"],
    "probe cert": ["--file", "{missing}"],
    "probe crl": ["--url", "http://127.0.0.1:1/x.crl", "--issuer", "{missing}"],
    "probe ocsp": ["--cert", "{missing}", "--issuer", "{missing}"],
    "probe http": ["--url", "localhost:8942"],
    "probe capacity": ["--url", "http://127.0.0.1:1/", "--duration", "soon"],
    "tickets list": ["--limit", "0"],
    "tickets show": ["1", "--url", "localhost:8942"],
    "tickets ack": [],
    "tickets resolve": ["1"],
    "tickets close": ["1", "--reason", "bored"],
    "tickets comment": ["1"],
    "token hash": ["--bogus"],
    "diagnose": ["iso6523-actorid-upis::0088:1", "--zone", "x.test", "--timeout", "soon"],
    "mcp": ["--url", "localhost:8942"],
}

# A failing target for each command that has one: `{closed}` is a port nobody listens on,
# `{busy}` one that is taken. Commands without a target are None.
FAILING_TARGETS: dict[str, list[str] | None] = {
    "run": ["--config", "{config}", "--listen", "{busy}"],
    "config check": None,  # an invalid file is a usage error (exit 2), tested above
    "config schema": None,
    "config docs": None,
    "demo": ["--participants", "10", "--no-scenario", "--control", "{busy}"],
    "lab": ["--participants", "10", "--control", "{busy}"],
    "probe soa": ["--zone", "x.test", "--server", "{closed}"],
    "probe sml": ["--zone", "x.test", "--participant", "a::b", "--server", "{closed}"],
    "probe smp": ["--url", "http://{closed}", "--participant", "iso6523-actorid-upis::0088:1"],
    "probe cert": ["--url", "https://{closed}"],
    "probe crl": ["--url", "http://{closed}/x.crl"],
    "probe ocsp": ["--cert", "{cert}", "--issuer", "{issuer}", "--url", "http://{closed}/"],
    "probe http": ["--url", "http://{closed}/"],
    "probe capacity": ["--url", "http://{closed}/", "--duration", "1s"],
    "tickets list": ["--url", "http://{closed}"],
    "tickets show": ["1", "--url", "http://{closed}"],
    "tickets ack": ["1", "--url", "http://{closed}"],
    "tickets resolve": ["1", "fixed", "--url", "http://{closed}"],
    "tickets close": ["1", "--reason", "duplicate", "--url", "http://{closed}"],
    "tickets comment": ["1", "noted", "--url", "http://{closed}"],
    "token hash": [],  # no token on stdin
    "diagnose": ["iso6523-actorid-upis::0088:1", "--zone", "x.test", "--server", "{closed}"],
    "mcp": ["--url", "http://{closed}"],
}


def leaf_commands(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subcommands = [
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ]
    if not subcommands:
        yield " ".join(words), parser
    for action in subcommands:
        for name, child in action.choices.items():
            yield from leaf_commands(child, (*words, name))


COMMANDS = dict(leaf_commands(build_parser()))


def test_the_tables_name_every_command() -> None:
    assert set(USAGE_MISTAKES) == set(COMMANDS)
    assert set(FAILING_TARGETS) == set(COMMANDS)


def test_the_revocation_choices_are_the_probers_modes() -> None:
    assert set(REVOCATION_MODES) == {str(mode) for mode in RevocationMode}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_a_help_line(command: str) -> None:
    undocumented = [
        action.dest for action in COMMANDS[command]._actions if not (action.help or "").strip()
    ]
    assert undocumented == []


@pytest.fixture
def places(tmp_path: Path) -> Iterator[dict[str, str]]:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    pki = LabPki.generate("http://127.0.0.1:1", endpoints=("ap1",))
    pki.write_pem_files(tmp_path / "pki")
    config = tmp_path / "vigie.yaml"
    config.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path}/vigie.db"}}))
    try:
        yield {
            "missing": str(tmp_path / "missing.pem"),
            "closed": f"127.0.0.1:{closed_port}",
            "busy": f"127.0.0.1:{busy.getsockname()[1]}",
            "config": str(config),
            "cert": str(tmp_path / "pki" / "ap1.pem"),
            "issuer": str(tmp_path / "pki" / "intermediate.pem"),
        }
    finally:
        busy.close()


def answer(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", sorted(USAGE_MISTAKES))
def test_a_usage_mistake_is_exit_2_with_one_line(
    command: str, places: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*command.split(), *(arg.format(**places) for arg in USAGE_MISTAKES[command])]
    code, out, err = answer(argv, capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    # The usage argparse shows for an unknown flag is that command's; the problem is one line.
    problems = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
    assert len(problems) == 1, err
    if "--bogus" in argv:
        assert err.startswith(f"usage: vigie {command} ")
        assert problems[0].startswith(f"vigie {command}: error: unrecognized arguments: --bogus")


@pytest.mark.parametrize("command", sorted(c for c, a in FAILING_TARGETS.items() if a))
def test_a_failing_target_is_exit_1(command: str, places: dict[str, str], tmp_path: Path) -> None:
    # In a process of its own: a command that runs configures the process's logging.
    arguments = FAILING_TARGETS[command] or []
    argv = [*command.split(), *(arg.format(**places) for arg in arguments)]
    completed = subprocess.run(
        [sys.executable, "-m", "vigie", *argv],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out, err = completed.stdout, completed.stderr
    assert completed.returncode == 1, (out, err)
    assert "Traceback" not in out + err
    assert (out + err).strip(), "a failure says why"


def test_an_unknown_flag_shows_the_usage_of_the_command_it_was_given_to(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = answer(["probe", "http", "--url", "http://127.0.0.1:1/", "--bogus"], capsys)
    assert code == 2
    assert err.startswith("usage: vigie probe http [-h] --url URL")
    assert err.splitlines()[-1] == (
        "vigie probe http: error: unrecognized arguments: --bogus (see vigie probe http --help)"
    )


def test_a_command_without_its_subcommand_shows_its_own_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = answer(["probe"], capsys)
    assert code == 2
    assert out.startswith("usage: vigie probe [-h] KIND")
