"""How the store tells, cheaply, whether its database may have changed: what
`Store.data_version` answers, for caches that are read far more often than the database is
written (the ticket-detail cache, the correlator's memory of closed tickets).

One implementation per kind of database, all keeping the contract of `DataVersion.read`.
This module must never write to the database, and never answer "unchanged" when it cannot
be sure: a change costs a re-read, a missed commit a stale answer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Protocol

from ticket_sink.sqlite_version import SqliteVersion

__all__ = ["CountedWrites", "DataVersion", "NoDataVersion", "SqliteFileVersion"]

# Each opening of a store gets a new `DataVersion`, whose counts start afresh; the opening's
# number goes above this many bits, so that no value an earlier opening gave comes back.
_OPENING_SHIFT = 48


class DataVersion(Protocol):
    """The data version of one opening of a store."""

    def read(self) -> int | None:
        """A number that changes whenever a change may have been committed to the database
        since it was last returned, by this store or by any other connection or process;
        None when it cannot be told cheaply, which callers take as "may have changed".

        Read it before reading the data it vouches for: data read after the version was V
        is at least as new as V, and while the version is still V nothing was committed
        since. Only values of one store compare, across its openings too. May raise the
        database driver's error (the store translates it)."""
        ...

    def wrote(self) -> None:
        """A write transaction of the store ended, committed or not."""
        ...

    def close(self) -> None:
        """Release what the version holds; the store closes it with its opening."""
        ...


class SqliteFileVersion:
    """A SQLite file: SQLite's `PRAGMA data_version`, asked of a connection kept for that
    alone (its value changes when any other connection commits, and the store writes through
    others), and only when the WAL-index header changed since it was last asked (see
    `SqliteVersion`): a `pread`, not four file locks. The store's own writes are seen as any
    other connection's."""

    def __init__(
        self,
        path: str,
        *,
        opening: int,
        busy_timeout_ms: int,
        connect: Callable[..., sqlite3.Connection] = sqlite3.connect,
    ) -> None:
        self._base = opening << _OPENING_SHIFT
        self._sqlite = SqliteVersion(path, busy_timeout_ms=busy_timeout_ms, connect=connect)

    def read(self) -> int:
        return self._base + self._sqlite.read()

    def wrote(self) -> None:
        pass  # seen through the file, as another connection's commit is

    def close(self) -> None:
        self._sqlite.close()


class CountedWrites:
    """A memory database, private to the store: the count of its write transactions (so a
    read-only transaction must not write)."""

    def __init__(self, *, opening: int) -> None:
        self._base = opening << _OPENING_SHIFT
        self._writes = 0

    def read(self) -> int:
        return self._base + self._writes

    def wrote(self) -> None:
        # Counted whether the transaction committed or not: one too many only costs a re-read.
        self._writes += 1

    def close(self) -> None:
        pass


class NoDataVersion:
    """PostgreSQL: always None ("may have changed"). Several agents write the database, and
    no counter there is cheap to read."""

    def read(self) -> None:
        return None

    def wrote(self) -> None:
        pass

    def close(self) -> None:
        pass
