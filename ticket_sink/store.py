"""The ticket store: opens the database, brings its schema to the newest migration
(`migrate`) and runs the transactions of the tickets (`TicketTx`) and of the tables beside
them (the agent registry, `agents`); what it does on SQLite alone is in `sqlite_store`.

SQLite (through aiosqlite) is the embedded default; PostgreSQL (through asyncpg) is for
several agents sharing one database. The store must never show a database password (every
URL it prints has the password hidden) and never let a driver's exception escape: callers
only ever see `StoreError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self, cast

import sqlalchemy as sa
import structlog
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ticket_sink import schema
from ticket_sink.data_version import CountedWrites, DataVersion, NoDataVersion, SqliteFileVersion
from ticket_sink.migrate import SchemaError, alembic_turn, migrate
from ticket_sink.sqlite_store import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_WRITE,
    InlineConnection,
    begin_inline_write,
    begin_sqlite,
    configure_sqlite_connection,
    is_sqlite_memory,
    sqlite_write_problem,
)
from ticket_sink.tickets import TicketTx
from vocab.errors import VigieError

log = structlog.get_logger("ticket_sink.store")

# asyncpg waits 60 s by default; /readyz should report a dead server sooner than that.
POSTGRES_CONNECT_TIMEOUT_S = 10.0
# How long `close` lets transactions in progress finish before releasing the connections.
CLOSE_GRACE_SECONDS = 5.0
# The drivers the store runs on, keyed by what users write in their URL.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class StoreError(VigieError):
    """The store could not do what was asked; the message says what, where and why."""


class StoreConflict(StoreError):
    """A write collided with another writer's (a constraint held): read again and retry."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_async_url(url: str) -> URL:
    """`url` with its driver replaced by the async one the store uses.

    Accepts `sqlite:///path`, `postgresql://...` and `postgres://...` as users write them.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # SQLAlchemy's message repeats the text, password included: do not chain it.
        raise StoreError(
            "cannot parse the store URL (expected sqlite:///path or postgresql://user@host/db)"
        ) from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise StoreError(
            f"unsupported store URL {parsed.render_as_string(hide_password=True)}: "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return parsed.set(drivername=driver)


class Store:
    """The database behind the ticket sink. Open it before use, close it at shutdown.

    `url` is checked at once (StoreError if it is not SQLite or PostgreSQL); the database is
    only reached by `open()`. An in-memory SQLite URL (`sqlite://`) gives a private database
    that lives until `close()`.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._url = to_async_url(url)
        # Messages show the URL the way the user wrote it, minus the password.
        self._shown_url = make_url(url).render_as_string(hide_password=True)
        self._clock = clock
        self._engine: AsyncEngine | None = None
        # An in-memory SQLite database lives in one connection that every caller shares;
        # this lock keeps two transactions from interleaving on it.
        self._memory_lock: asyncio.Lock | None = None
        # Transactions in progress, so that `close` can let them end first.
        self._in_progress = 0
        self._reader: sa.Engine | None = None
        self._settled = asyncio.Event()
        # What `data_version` reads while open, and how often the store opened.
        self._version: DataVersion | None = None
        self._openings = 0

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<Store {self._shown_url} {state}>"

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and migrate the schema to the newest revision (a no-op when it is)."""
        if self._engine is not None:
            raise StoreError(f"store {self._shown_url} is already open")
        engine: AsyncEngine | None = None
        version: DataVersion | None = None
        try:
            with (
                self._explained_open_failure(),
                self._translated_errors(f"cannot open store {self._shown_url}"),
            ):
                engine = self._create_engine()
                async with (
                    alembic_turn(),
                    self._begin(engine, write=True) as connection,
                ):
                    await connection.run_sync(migrate)
                version = self._open_data_version(opening=self._openings + 1)
                reader = self._create_reader()
        except BaseException:
            if version is not None:
                version.close()
            if engine is not None:
                await engine.dispose()
            raise
        self._engine = engine
        self._reader = reader
        self._version = version
        self._openings += 1

    async def close(self) -> None:
        """Refuse new work, let the transactions in progress end (up to
        `CLOSE_GRACE_SECONDS`), then release every connection. Closing a closed store does
        nothing."""
        engine, self._engine = self._engine, None
        reader, self._reader = self._reader, None
        version, self._version = self._version, None
        if engine is None:
            return
        if self._in_progress:
            # A connection still checked out when the pool is disposed would never be
            # closed; its transaction ends soon, or is abandoned after the grace period.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_GRACE_SECONDS):
                    while self._in_progress:
                        await self._settled.wait()
                        self._settled.clear()
        try:
            if reader is not None:
                reader.dispose()
            await engine.dispose()
        finally:
            if version is not None:
                version.close()

    @contextlib.asynccontextmanager
    async def transaction(
        self, *, write: bool = True, buffered: bool = False, inline: bool = True
    ) -> AsyncIterator[TicketTx]:
        """One unit of work on the tickets: everything done through the `TicketTx` commits
        together when the block ends, or not at all. Its `now` is the store's clock, read
        once. A constraint violation raises `StoreConflict`. `buffered` writes in bulk
        (see `TicketTx`).

        On a SQLite file, a read-only transaction runs `inline`: on the event loop's own
        thread, through a synchronous connection. A reader in WAL mode never waits for a
        writer, and a few indexed rows take microseconds, where the driver's thread hand-offs
        cost hundreds; pass `inline=False` for a read that scans many rows, so the loop is
        not held for it.

        A `buffered` write (the correlator's batch: its reads are indexed, its writes a few
        bulk statements) runs inline too when the write lock is free at once; only its
        commit, which waits for the disk, leaves the loop for a worker thread. When another
        connection holds the lock, it runs through the driver's thread, which waits for the
        lock without holding the loop."""
        with self._translated_errors(f"ticket transaction on store {self._shown_url} failed"):
            engine = self._require_open()
            if not write and inline and self._reader is not None:
                with self._inline_read(self._reader) as connection:
                    yield TicketTx(connection, self.now())
                return
            began = (
                begin_inline_write(self._reader)
                if write and buffered and inline and self._reader is not None
                else None
            )
            if began is not None:
                async with self._inline_write(*began) as connection:
                    tx = TicketTx(connection, self.now(), buffered=True)
                    yield tx
                    await tx.flush()
                return
            async with self._begin(engine, write=write) as connection:
                tx = TicketTx(connection, self.now(), buffered=buffered)
                yield tx
                await tx.flush()

    def data_version(self) -> int | None:
        """A number that changes whenever a change may have been committed to the database
        since it was last returned; None when the store cannot tell cheaply (on
        PostgreSQL). The contract is `DataVersion.read`'s."""
        version = self._version
        if version is None:
            raise StoreError(f"store {self._shown_url} is not open")
        with self._translated_errors(f"cannot read the data version of store {self._shown_url}"):
            return version.read()

    @contextlib.contextmanager
    def _inline_read(self, reader: sa.Engine) -> Iterator[AsyncConnection]:
        self._in_progress += 1
        try:
            with reader.connect() as sync, sync.begin():
                # Only what the store's readers call on a connection (see `InlineConnection`).
                yield cast(AsyncConnection, InlineConnection(sync))
        finally:
            self._in_progress -= 1
            self._settled.set()

    @contextlib.asynccontextmanager
    async def _inline_write(
        self, connection: Connection, transaction: sa.RootTransaction
    ) -> AsyncIterator[AsyncConnection]:
        self._in_progress += 1
        release_now = True
        try:
            try:
                yield cast(AsyncConnection, InlineConnection(connection))
            except BaseException:
                transaction.rollback()
                raise
            # The commit waits for the disk: in a worker thread. Should the caller be
            # cancelled meanwhile, the connection is released once the commit has ended.
            commit = asyncio.ensure_future(asyncio.to_thread(transaction.commit))
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                release_now = False
                commit.add_done_callback(lambda done: self._release_inline(connection, done))
                raise
        finally:
            if release_now:
                self._release_inline(connection)

    def _release_inline(
        self, connection: Connection, commit: asyncio.Future[None] | None = None
    ) -> None:
        if commit is not None and not commit.cancelled() and commit.exception() is not None:
            # Nobody waits for this commit any more; its alerts come again and are retried.
            log.warning("store_commit_failed_after_cancel", error=str(commit.exception()))
        connection.close()
        self._in_progress -= 1
        self._settled.set()

    @property
    def shown_url(self) -> str:
        """The store's URL as the user wrote it, with the password hidden."""
        return self._shown_url

    @contextlib.asynccontextmanager
    async def connection(self, failure: str, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction of its own that commits when the block ends, for a
        table beside the tickets (the agent registry). A database's error becomes a
        `StoreError` whose message is `failure` (what could not be done, and where) and
        the reason."""
        with self._translated_errors(failure):
            async with self._begin(self._require_open(), write=write) as connection:
                yield connection

    def now(self) -> datetime:
        """The store's clock (a transaction's `now` is read from it)."""
        now = self._clock()
        if now.tzinfo is None:
            # A naive time would be stored as if it were UTC, silently shifted: a bug.
            raise ValueError(f"the store's clock returned a naive datetime: {now!r}")
        return now

    def _require_open(self) -> AsyncEngine:
        if self._engine is None:
            raise StoreError(f"store {self._shown_url} is not open")
        return self._engine

    def _create_engine(self) -> AsyncEngine:
        url = self._url
        if url.get_backend_name() == "postgresql":
            return create_async_engine(
                url,
                **schema.JSON_COLUMNS,
                # A PostgreSQL restart must not leave dead connections in the pool.
                pool_pre_ping=True,
                connect_args={"timeout": POSTGRES_CONNECT_TIMEOUT_S},
            )
        if is_sqlite_memory(url):
            self._memory_lock = asyncio.Lock()
            # One shared connection: a second one would see a different, empty database.
            engine = create_async_engine(url, poolclass=StaticPool, **schema.JSON_COLUMNS)
        else:
            assert url.database is not None
            path = Path(url.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                # SQLite would only say "unable to open database file".
                raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
            engine = create_async_engine(url, **schema.JSON_COLUMNS)
        sa.event.listen(engine.sync_engine, "connect", configure_sqlite_connection)
        sa.event.listen(engine.sync_engine, "begin", begin_sqlite)
        return engine

    def _create_reader(self) -> sa.Engine | None:
        """The synchronous engine of inline reads: SQLite files only (PostgreSQL is a
        network away; a memory database lives in the async engine's one connection)."""
        url = self._url
        if url.get_backend_name() != "sqlite" or is_sqlite_memory(url):
            return None
        reader = sa.create_engine(url.set(drivername="sqlite"), **schema.JSON_COLUMNS)
        sa.event.listen(reader, "connect", configure_sqlite_connection)
        sa.event.listen(reader, "begin", begin_sqlite)
        return reader

    def _open_data_version(self, *, opening: int) -> DataVersion:
        """What `data_version` reads during the store's `opening`."""
        url = self._url
        if url.get_backend_name() != "sqlite":
            return NoDataVersion()
        if is_sqlite_memory(url):
            return CountedWrites(opening=opening)
        assert url.database is not None
        return SqliteFileVersion(
            url.database, opening=opening, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS
        )

    @contextlib.asynccontextmanager
    async def _begin(self, engine: AsyncEngine, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction that commits when the block ends."""
        guard: contextlib.AbstractAsyncContextManager[object] = (
            self._memory_lock or contextlib.nullcontext()
        )
        self._in_progress += 1
        try:
            async with guard, engine.connect() as connection:
                if write:
                    await connection.execution_options(**{SQLITE_WRITE: True})
                async with connection.begin():
                    yield connection
        finally:
            if write and self._version is not None:
                self._version.wrote()
            self._in_progress -= 1
            self._settled.set()

    @contextlib.contextmanager
    def _translated_errors(self, failure: str) -> Iterator[None]:
        """Turn the foreign errors of a database operation into one `StoreError` whose
        message is `failure` (what could not be done, and where) and the reason."""
        try:
            yield
        except (IntegrityError, DBAPIError) as exc:
            if isinstance(exc, IntegrityError) or _is_transient(exc):
                raise StoreConflict(f"{failure}: {self._reason(exc)}") from exc
            raise StoreError(f"{failure}: {self._reason(exc)}") from exc
        except (SQLAlchemyError, OSError, CommandError, SchemaError, sqlite3.Error) as exc:
            raise StoreError(f"{failure}: {self._reason(exc)}") from exc

    @contextlib.contextmanager
    def _explained_open_failure(self) -> Iterator[None]:
        """SQLite says only "unable to open database file" or "attempt to write a readonly
        database": add which path this process cannot write, and why."""
        try:
            yield
        except StoreError as exc:
            url = self._url
            if url.get_backend_name() != "sqlite" or is_sqlite_memory(url):
                raise
            assert url.database is not None
            problem = sqlite_write_problem(Path(url.database))
            if problem is None:
                raise
            raise type(exc)(f"{exc} ({problem})") from exc

    def _reason(self, exc: BaseException) -> str:
        cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
        reason = " ".join(str(cause).split()) or type(cause).__name__
        # Drivers do not echo passwords today; this makes sure a future one cannot.
        password = self._url.password
        if password:
            reason = reason.replace(str(password), "***")
        return reason


# PostgreSQL's "deadlock detected" and "could not serialize access": the transaction lost
# a race with another one and succeeds when run again.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def _is_transient(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _TRANSIENT_SQLSTATES
