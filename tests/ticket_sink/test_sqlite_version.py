"""`SqliteVersion`: the pragma's answer, without the pragma while nothing commits."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ticket_sink import sqlite_version
from ticket_sink.sqlite_version import SqliteVersion


def _database(path: Path, mode: str = "wal") -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(f"PRAGMA journal_mode = {mode}")
    connection.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return connection


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = _database(tmp_path / "store.db")
    yield connection
    connection.close()


def _counting_pragmas(path: Path) -> tuple[SqliteVersion, list[str]]:
    """A version over `path` and the `PRAGMA data_version` statements it runs from then on
    (seen by its connection's trace callback)."""
    asked: list[str] = []

    def connect(*args: Any, **options: Any) -> sqlite3.Connection:
        connection = sqlite3.connect(*args, **options)
        connection.set_trace_callback(asked.append)
        return connection

    version = SqliteVersion(str(path), busy_timeout_ms=1000, connect=connect)
    asked.clear()  # the pragmas that opened it
    return version, asked


def _pragmas(statements: list[str]) -> int:
    return statements.count("PRAGMA data_version")


def test_commits_move_the_version_and_reads_do_not(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    version, asked = _counting_pragmas(tmp_path / "store.db")
    try:
        first = version.read()
        writer.execute("SELECT count(*) FROM t").fetchone()
        assert [version.read() for _ in range(100)] == [first] * 100
        assert _pragmas(asked) == 1  # the header did not change: the pragma was asked once

        writer.execute("INSERT INTO t VALUES (1)")
        second = version.read()
        assert second != first
        assert version.read() == second

        # A checkpoint that empties the WAL: the commit after it starts the WAL afresh (frame
        # 1 again, new salts), and is seen.
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpointed = version.read()
        writer.execute("INSERT INTO t VALUES (2)")
        assert version.read() != checkpointed
    finally:
        version.close()


def test_a_database_not_in_wal_mode_asks_the_pragma_every_time(tmp_path: Path) -> None:
    writer = _database(tmp_path / "store.db", mode="delete")
    version, asked = _counting_pragmas(tmp_path / "store.db")
    try:
        first = version.read()
        assert version.read() == first
        writer.execute("INSERT INTO t VALUES (1)")
        assert version.read() != first
        assert _pragmas(asked) == 3
    finally:
        version.close()
        writer.close()


@pytest.mark.parametrize(
    "header",
    [
        b"",  # no WAL index yet
        b"\x00" * 96,  # not initialised
        b"\x01" * 48 + b"\x02" * 48,  # two copies that differ: a commit was writing it
        (3_007_000).to_bytes(4, sys.byteorder) + b"\x00" * 8 + b"\x01" + b"\x00" * 35,
    ],
)
def test_only_a_whole_known_header_is_trusted(header: bytes) -> None:
    assert not sqlite_version._trusted(header)


def test_a_header_sqlite_wrote_is_trusted(tmp_path: Path, writer: sqlite3.Connection) -> None:
    writer.execute("INSERT INTO t VALUES (1)")
    # Through SQLite's own descriptor: opening and closing one of the test's would drop
    # the locks `writer` holds on the file.
    version = SqliteVersion(str(tmp_path / "store.db"), busy_timeout_ms=1000)
    try:
        assert version._index is not None
        assert sqlite_version._trusted(os.pread(version._index, 96, 0))
    finally:
        version.close()


def _checkpoint_elsewhere(path: Path) -> str:
    """`PRAGMA wal_checkpoint(TRUNCATE)` from another process: its (busy, log, done)."""
    program = (
        "import sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "print(connection.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(path)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_closing_a_reader_keeps_the_locks_of_the_process_other_connections(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    """Closing a descriptor of a file drops every POSIX lock the process holds on it: a
    reader that closed one of the `-shm` file would let another process truncate the WAL
    under a read transaction of this one."""
    path = tmp_path / "store.db"
    writer.execute("INSERT INTO t VALUES (1)")
    reading = sqlite3.connect(path, isolation_level=None)
    reading.execute("BEGIN")
    reading.execute("SELECT count(*) FROM t").fetchone()
    writer.execute("INSERT INTO t VALUES (2)")
    assert _checkpoint_elsewhere(path).startswith("(1,")  # busy: the reader holds its mark

    for _ in range(2):
        version = SqliteVersion(str(path), busy_timeout_ms=1000)
        assert version._index is not None  # the header is read, not the pragma each time
        version.read()
        version.close()

    assert _checkpoint_elsewhere(path).startswith("(1,")
    assert reading.execute("SELECT count(*) FROM t").fetchone() == (1,)
    reading.execute("COMMIT")
    reading.close()


def test_no_commit_of_another_process_is_missed(tmp_path: Path, writer: sqlite3.Connection) -> None:
    """While another process commits as fast as it can: whenever the rows changed between
    two readings, the second reading's version differs from the first's."""
    path = tmp_path / "store.db"
    program = (
        "import sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n"
        "for row in range(3000):\n"
        "    connection.execute('INSERT INTO t VALUES (?)', (row,))\n"
    )
    version = SqliteVersion(str(path), busy_timeout_ms=10_000)
    rows = sqlite3.connect(path, isolation_level=None, timeout=10)
    process = subprocess.Popen([sys.executable, "-c", program, str(path)])
    try:
        changes = 0
        while process.poll() is None:
            before = version.read()
            (counted,) = rows.execute("SELECT count(*) FROM t").fetchone()
            (recounted,) = rows.execute("SELECT count(*) FROM t").fetchone()
            after = version.read()
            if recounted != counted:
                changes += 1
                assert after != before
        assert process.wait() == 0
        assert changes > 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        rows.close()
        version.close()
