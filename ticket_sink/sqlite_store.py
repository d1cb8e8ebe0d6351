"""What the store does on SQLite alone: how its connections are set up and begin, the
synchronous connections of inline transactions, and why a file cannot be written.

It must never hold the event loop for long: an inline connection runs only indexed
statements, and taking the write lock inline never waits for another connection.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_WRITE",
    "InlineConnection",
    "begin_inline_write",
    "begin_sqlite",
    "configure_sqlite_connection",
    "is_sqlite_memory",
    "sqlite_write_problem",
]

# How long a SQLite connection waits for another connection's (or process's) write lock.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option asking SQLite for a write lock at BEGIN (see `begin_sqlite`).
SQLITE_WRITE = "vigie_sqlite_write"


def is_sqlite_memory(url: URL) -> bool:
    """Whether `url` names a memory database (private to its connection), not a file."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def configure_sqlite_connection(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """Each new SQLite connection of the store's engines (a "connect" event listener)."""
    # The sqlite3 module's own transaction handling never BEGINs before DDL, so a failed
    # migration would leave half a schema; `begin_sqlite` emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL itself waits for other connections' locks.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
        # WAL lets the API read while the correlator writes; memory databases keep "memory".
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def begin_sqlite(connection: Connection) -> None:
    """BEGIN, or BEGIN IMMEDIATE for a writer (a "begin" event listener)."""
    # A writer takes the write lock at BEGIN (waiting up to busy_timeout): a deferred
    # transaction that read first and then wants to write fails at once with "database is
    # locked" when another connection wrote in between, which is how two processes
    # migrating the same file at once would collide.
    if connection.get_execution_options().get(SQLITE_WRITE):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def begin_inline_write(reader: sa.Engine) -> tuple[Connection, sa.RootTransaction] | None:
    """A synchronous connection of `reader` that holds the write lock (BEGIN
    IMMEDIATE), or None when another connection holds the lock now."""
    connection = reader.connect()
    try:
        # On the driver's own connection: a statement through SQLAlchemy would begin.
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.execute("PRAGMA busy_timeout = 0")
        try:
            transaction = connection.execution_options(**{SQLITE_WRITE: True}).begin()
        except OperationalError as exc:
            if not _is_locked(exc):
                raise
            transaction = None
        finally:
            driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
    except BaseException:
        connection.close()
        raise
    if transaction is None:
        connection.close()
        return None
    return connection, transaction


def _is_locked(exc: OperationalError) -> bool:
    """Whether SQLite refused a lock another connection holds (SQLITE_BUSY)."""
    return getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


class InlineConnection:
    """The part of `AsyncConnection` the store's inline transactions use, over a
    synchronous connection: statements run at once, in the caller's thread."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.dialect = connection.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self._connection.exec_driver_sql(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.scalar(statement, parameters)


def sqlite_write_problem(path: Path) -> str | None:
    """Why this process cannot write the SQLite database `path` and the journal files it
    creates beside it (`-wal`, `-shm`), or None if the file system shows no reason."""
    directory = path.parent
    who = f"uid {os.geteuid()}"
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError as exc:
        return f"{directory}: {exc.strerror or exc}"
    if read_only:
        return f"{directory} is on a read-only file system"
    journal = f"SQLite creates {path.name}-wal and {path.name}-shm there"
    if not os.access(directory, os.W_OK | os.X_OK, effective_ids=True):
        return f"the directory {directory} is not writable by {who}, and {journal}"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK, effective_ids=True):
        return f"the database file {path} is not readable and writable by {who}"
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists() and not os.access(companion, os.R_OK | os.W_OK, effective_ids=True):
            return f"{companion} is not readable and writable by {who}"
    return None
