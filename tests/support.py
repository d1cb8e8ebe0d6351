"""Shared test helpers.

Integration tests that need a system program call `require_program`: without the program
they skip with a reason, but when VIGIE_REQUIRE_INTEGRATION=1 (set by .ci/run) the skip
becomes a failure, so CI can never pass by skipping.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
from datetime import datetime, timedelta

import pytest

REQUIRE_INTEGRATION = os.environ.get("VIGIE_REQUIRE_INTEGRATION") == "1"


def require_program(name: str) -> str:
    """Path of system program `name`, or skip (fail under VIGIE_REQUIRE_INTEGRATION=1)."""
    path = shutil.which(name) or next(
        (
            candidate
            for candidate in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}")
            if os.access(candidate, os.X_OK)
        ),
        None,
    )
    if path is None:
        message = f"{name} is not installed (apt-get install the package that provides it)"
        if REQUIRE_INTEGRATION:
            pytest.fail(f"VIGIE_REQUIRE_INTEGRATION=1 but {message}")
        pytest.skip(message)
    return path


def require_postgres_bin() -> str:
    """Directory holding PostgreSQL's server programs (`initdb`, `postgres`), or skip (fail
    under VIGIE_REQUIRE_INTEGRATION=1).

    Looks on PATH first, then in Debian's /usr/lib/postgresql/<version>/bin (newest
    version first), where `apt-get install postgresql` puts them without adding them to PATH.
    """
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path)],
        reverse=True,
    )
    server = require_program(shutil.which("postgres") or (debian[0] if debian else "postgres"))
    bin_dir = os.path.dirname(server)
    require_program(os.path.join(bin_dir, "initdb"))
    return bin_dir


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server started in another process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SteppedClock:
    """A store's clock that only the test moves: by a duration (`advance`), or to a
    duration after where it started (`at`)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def at(self, **since_start: float) -> datetime:
        self.now = self.start + timedelta(**since_start)
        return self.now
