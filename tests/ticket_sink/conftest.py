"""Fixtures shared by the store's tests: database URLs on SQLite files and, when
PostgreSQL's server programs are installed, on a throwaway PostgreSQL cluster (a child
process of the test run, on a free port of 127.0.0.1); and a store on the `clock` fixture
that a test package defines."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support import SteppedClock, free_port, require_postgres_bin
from ticket_sink import Store

POSTGRES_USER = "vigie"


@dataclass(frozen=True)
class PostgresCluster:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"


def _run(command: list[str], user: pwd.struct_passwd | None, cwd: Path) -> None:
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, **_as(user))
    if completed.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")


def _as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess arguments that run a program as `user` (None: as ourselves)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _server_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: initdb and postgres refuse to run as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _wait_until_ready(server: subprocess.Popen[str]) -> threading.Thread:
    """Block until the server logs that it accepts connections; fail if it exits first.

    Returns the thread that keeps draining the server's log, so a chatty server never
    blocks on a full pipe.
    """
    assert server.stderr is not None
    log: list[str] = []
    ready = threading.Event()

    def drain(stream: IO[str]) -> None:
        for line in stream:
            log.append(line)
            if "database system is ready to accept connections" in line:
                ready.set()
        ready.set()  # end of log: the server exited

    reader = threading.Thread(target=drain, args=(server.stderr,), daemon=True)
    reader.start()
    if not ready.wait(timeout=60) or server.poll() is not None:
        server.kill()
        server.wait()
        pytest.fail("PostgreSQL did not start:\n" + "".join(log))
    return reader


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bin_dir = Path(require_postgres_bin())
    user = _server_user()
    # Not pytest's tmp_path: that is private to the user running pytest, and the server
    # may run as another user.
    root = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", free_port()
    try:
        initdb = [str(bin_dir / "initdb"), f"--pgdata={data}", f"--username={POSTGRES_USER}"]
        _run([*initdb, "--auth=trust", "--encoding=UTF8", "--no-sync"], user, root)
        # The server is our child, not a pg_ctl daemon, so whatever ends this test run
        # (even Ctrl-C or a CI timeout signalling the process group) ends it too.
        # Durability is pointless for a cluster deleted afterwards: fsync=off keeps it fast.
        # lc_messages=C: the readiness line is matched in English.
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(root),
            "fsync": "off",
            "lc_messages": "C",
        }
        command = [str(bin_dir / "postgres"), "-D", str(data)]
        command += [
            argument for key, value in settings.items() for argument in ("-c", f"{key}={value}")
        ]
        server = subprocess.Popen(
            command, cwd=root, stderr=subprocess.PIPE, text=True, errors="replace", **_as(user)
        )
        reader = _wait_until_ready(server)
        try:
            yield PostgresCluster(port)
        finally:
            server.send_signal(signal.SIGINT)  # "fast" shutdown: ends sessions, then exits
            server.wait(timeout=60)
            reader.join()
            assert server.stderr is not None
            server.stderr.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def create_postgres_database(cluster: PostgresCluster) -> str:
    """URL of a new, empty database, so each test starts from an unmigrated schema."""
    import asyncpg  # the optional [postgres] dependency, only needed here

    name = f"vigie_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user=POSTGRES_USER, database="postgres"
    )
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return cluster.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL, as users write it, for a database no store has opened yet."""
    if request.param == "sqlite":
        # A directory that does not exist yet: the store creates it.
        return f"sqlite:///{tmp_path / 'state' / 'vigie.db'}"
    return await create_postgres_database(request.getfixturevalue("postgres_cluster"))


@pytest.fixture
async def store(url: str, clock: SteppedClock) -> AsyncIterator[Store]:
    async with Store(url, clock=clock) as opened:
        yield opened
