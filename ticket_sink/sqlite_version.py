"""The data version of a SQLite file: what `PRAGMA data_version` says, read cheaply while
nothing commits.

The pragma changes when any other connection or process commits, but each reading is a read
transaction: four file-lock system calls, over 10 microseconds on a busy event loop. In WAL
mode every commit rewrites the WAL-index header, the first 96 bytes of the `-shm` file (two
copies of a 48-byte header with a commit counter, the WAL's last frame, its salts and a
checksum; https://sqlite.org/walformat.html), and a reader only sees a commit once that
header shows it. So `SqliteVersion.read` reads those bytes (one `pread`), and while they
are the ones it read before its last pragma, nothing was committed since and the pragma's
answer still holds. Any other bytes, a torn or unknown header, or a database not in WAL mode
mean asking the pragma: a change costs a pragma, never a missed commit.

The header is read through the descriptor SQLite itself holds on the `-shm` file (found in
`/proc/self/fd`), which stays open while the reader's own connection does: this module must
never open or close a descriptor of that file, since closing any descriptor of a file drops
every POSIX lock the process holds on it, SQLite's included. Where there is no such
descriptor to find (not Linux, not WAL mode), every reading asks the pragma.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from collections.abc import Callable

__all__ = ["SqliteVersion"]

# Two copies of the 48-byte WAL-index header; the first field is its format, 3007000.
_HEADER_BYTES = 96
_HEADER_COPY = _HEADER_BYTES // 2
_WAL_INDEX_FORMAT = 3_007_000
_FORMAT_AND_INIT = struct.Struct("=I8xB")  # iVersion, then isInit at byte 12


class SqliteVersion:
    """`PRAGMA data_version` of the SQLite file at `path`, asked of a connection kept for
    it alone (never used to write), and skipped while the WAL-index header is unchanged.
    `connect` opens that connection (as `sqlite3.connect` does)."""

    def __init__(
        self,
        path: str,
        *,
        busy_timeout_ms: int,
        connect: Callable[..., sqlite3.Connection] = sqlite3.connect,
    ) -> None:
        connection = connect(path, isolation_level=None)
        try:
            self._cursor = connection.cursor()
            self._cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
            (mode,) = self._cursor.execute("PRAGMA journal_mode").fetchone()
            self._version = self._pragma()  # opens the WAL index, if any
        except BaseException:
            connection.close()
            raise
        self._header: bytes | None = None
        # SQLite's descriptor, valid while `connection` is open (it holds the WAL index).
        self._index = _descriptor_of(os.path.realpath(path) + "-shm") if mode == "wal" else None

    def read(self) -> int:
        """The data version now: it changes whenever a commit may have happened since."""
        index = self._index
        if index is None:
            return self._pragma()
        try:
            header = os.pread(index, _HEADER_BYTES, 0)
        except OSError:
            header = b""
        if header == self._header:
            return self._version
        # The header is read before the pragma: a commit between the two is then counted by
        # the pragma and changes the header, so the next reading asks the pragma again.
        self._version = self._pragma()
        self._header = header if _trusted(header) else None
        return self._version

    def close(self) -> None:
        """Close the connection (the `-shm` descriptor is SQLite's, not closed here)."""
        self._index = None
        self._cursor.connection.close()

    def _pragma(self) -> int:
        (changes,) = self._cursor.execute("PRAGMA data_version").fetchone()
        return int(changes)


def _trusted(header: bytes) -> bool:
    """A whole header, both copies equal (no commit was writing it), in the known format."""
    if len(header) != _HEADER_BYTES or header[:_HEADER_COPY] != header[_HEADER_COPY:]:
        return False
    version, initialised = _FORMAT_AND_INIT.unpack_from(header)
    return bool(version == _WAL_INDEX_FORMAT and initialised == 1)


def _descriptor_of(path: str) -> int | None:
    """A descriptor this process has open on `path`, or None."""
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in descriptors:
        try:
            if os.readlink(f"/proc/self/fd/{name}") == path:
                return int(name)
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, for one)
    return None
