"""Each `DataVersion` keeps its contract: a change may move it, nothing committed since
keeps it, and no two openings of a store give the same value; PostgreSQL's never vouches."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticket_sink.data_version import CountedWrites, NoDataVersion, SqliteFileVersion


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    path = str(tmp_path / "store.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = wal")
    writer.execute("CREATE TABLE t (x INTEGER)")
    yield path, writer
    writer.close()


def test_a_sqlite_file_version_moves_with_each_commit(
    database: tuple[str, sqlite3.Connection],
) -> None:
    path, writer = database
    version = SqliteFileVersion(path, opening=1, busy_timeout_ms=1000)
    try:
        first = version.read()
        writer.execute("SELECT count(*) FROM t").fetchone()
        version.wrote()  # the store's own writes are seen through the file, not counted
        assert version.read() == first
        writer.execute("INSERT INTO t VALUES (1)")
        assert version.read() != first
    finally:
        version.close()


def test_openings_of_a_sqlite_file_never_repeat_a_version(
    database: tuple[str, sqlite3.Connection],
) -> None:
    path, writer = database
    seen = set()
    for opening in (1, 2, 3):
        version = SqliteFileVersion(path, opening=opening, busy_timeout_ms=1000)
        try:
            seen.add(version.read())
            writer.execute("INSERT INTO t VALUES (1)")
            seen.add(version.read())
        finally:
            version.close()
    assert len(seen) == 6


def test_counted_writes_move_with_each_write_and_each_opening() -> None:
    first, second = CountedWrites(opening=1), CountedWrites(opening=2)
    before = first.read()
    assert first.read() == before
    first.wrote()
    assert first.read() != before
    assert second.read() not in (before, first.read())
    first.close()


def test_no_data_version_never_says_unchanged() -> None:
    version = NoDataVersion()
    assert version.read() is None
    version.wrote()
    assert version.read() is None
    version.close()
