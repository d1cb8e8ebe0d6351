"""The command blocks of README.md and the docs run as written.

A `sh` block preceded by the line `<!-- runnable -->` is run, whole, from a directory laid
out as a fresh clone after `./scripts/demo` (`.venv/bin/vigie` and `.venv/bin/python`,
and the repository's files), and must exit 0. Blocks that need a running agent, the lab or
the network stay unmarked (docs/api.md's agent examples have their own test, against a
live agent). Every block also names the command as a fresh clone has it: `.venv/bin/vigie`,
never a bare `vigie` that only an activated virtualenv would find.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "dashboards" / "README.md", *ROOT.glob("docs/*.md")])
MARKER = "<!-- runnable -->"
BLOCK_SECONDS = 60


def blocks() -> list[tuple[str, str, bool]]:
    """(where, body, runnable) of every `sh` block."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in re.finditer(r"(?m)^```sh\n(.*?)^```", text, flags=re.DOTALL):
            line = text.count("\n", 0, match.start()) + 1
            previous = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            where = f"{document.relative_to(ROOT)}:{line}"
            found.append((where, match.group(1), previous.strip() == MARKER))
    return found


RUNNABLE = [pytest.param(body, id=where) for where, body, runnable in blocks() if runnable]


def test_the_docs_mark_blocks_to_run() -> None:
    assert len(RUNNABLE) >= 4


@pytest.mark.parametrize(("where", "body"), [(w, b) for w, b, _ in blocks()])
def test_commands_are_shown_as_a_fresh_clone_has_them(where: str, body: str) -> None:
    bare = [line for line in body.splitlines() if re.match(r"\s*(\$ )?vigie\s", line)]
    assert bare == [], f"{where}: show .venv/bin/vigie (the virtualenv is not activated)"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that looks like a clone after ./scripts/demo: the repository's files,
    and .venv/bin/{python,vigie} running this checkout."""
    place = tmp_path_factory.mktemp("clone")
    for entry in ROOT.iterdir():
        if entry.name not in {".venv", ".git"}:
            (place / entry.name).symlink_to(entry)
    bin_dir = place / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, command in (("python", ""), ("vigie", "-m vigie ")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" {command}"$@"\n')
        script.chmod(0o755)
    return place


@pytest.mark.parametrize("body", RUNNABLE)
def test_a_runnable_block_runs_as_written(body: str, clone: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("VIGIE_URL", None)
    env.pop("VIGIE_TOKEN", None)
    completed = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + body],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
