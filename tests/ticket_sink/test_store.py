"""The store opens, migrates, records agents and fails with clear, password-free errors,
on SQLite files and, when PostgreSQL's server programs are installed, on a throwaway
PostgreSQL cluster."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import ticket_sink
from tests.support import free_port
from tests.ticket_sink.conftest import PostgresCluster, create_postgres_database
from ticket_sink import AgentRow, Store, StoreError, schema
from ticket_sink.agents import heartbeat, list_agents, mark_stopped, register_agent
from ticket_sink.migrate import alembic_config
from ticket_sink.store import to_async_url

T0 = datetime(2025, 3, 30, 0, 59, 59, 123456, tzinfo=UTC)
PASSWORD = "s3cret-Pa55word"
POSTGRES_USER = "vigie"


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# --- helpers that look at the database from outside the store -----------------------------


async def _schema_heads(url: str) -> tuple[str, ...]:
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
    finally:
        await engine.dispose()


async def _execute(url: str, statement: str) -> None:
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


HEADS = tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


# --- opening and closing ----------------------------------------------------------------------


async def test_open_and_close(url: str) -> None:
    store = Store(url)
    assert not store.is_open

    await store.open()
    assert store.is_open
    assert await list_agents(store) == []

    await store.close()
    assert not store.is_open
    await store.close()  # closing twice is harmless: shutdown paths may overlap
    with pytest.raises(StoreError, match="is not open"):
        await list_agents(store)


async def test_context_manager_opens_and_closes(url: str) -> None:
    async with Store(url) as store:
        assert store.is_open
    assert not store.is_open


async def test_opening_an_open_store_is_an_error(url: str) -> None:
    async with Store(url) as store:
        with pytest.raises(StoreError, match="already open"):
            await store.open()
        assert store.is_open


async def test_open_migrates_to_head(url: str) -> None:
    async with Store(url):
        pass
    assert await _schema_heads(url) == HEADS


async def test_migrations_create_the_schema_the_code_uses(url: str) -> None:
    """A column or index added to ticket_sink.schema without a migration (or the reverse)
    shows up here as a difference."""
    async with Store(url):
        pass
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), schema.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_reopening_keeps_data_and_schema(url: str) -> None:
    async with Store(url) as store:
        await register_agent(store, "agent-1", "host-a", "0/1", "0.1.0")
    async with Store(url) as store:
        assert [agent.id for agent in await list_agents(store)] == ["agent-1"]
    assert await _schema_heads(url) == HEADS


async def test_stores_opening_one_fresh_database_at_once_all_succeed(url: str) -> None:
    stores = [Store(url) for _ in range(6)]
    # return_exceptions: a failed open must not leave the others running past the test.
    opened = await asyncio.gather(*(store.open() for store in stores), return_exceptions=True)
    try:
        assert opened == [None] * len(stores)
        await asyncio.gather(
            *(
                register_agent(store, f"agent-{i}", "host", f"{i}/6", "0.1.0")
                for i, store in enumerate(stores)
            )
        )
        assert len(await list_agents(stores[0])) == len(stores)
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    assert await _schema_heads(url) == HEADS


async def test_stores_on_different_databases_open_at_once(url: str, tmp_path: Path) -> None:
    # Alembic's `context` and `op` are process-wide: interleaved migrations on separate
    # databases must not run each other's operations.
    urls = [url, "sqlite://", "sqlite://", f"sqlite:///{tmp_path / 'other.db'}"]
    stores = [Store(each) for each in urls]
    opened = await asyncio.gather(*(store.open() for store in stores), return_exceptions=True)
    try:
        assert opened == [None] * len(stores)
        for store in stores:
            await register_agent(store, "agent-1", "host", "0/1", "0.1.0")
            assert [agent.id for agent in await list_agents(store)] == ["agent-1"]
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_processes_opening_one_fresh_sqlite_file_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'vigie.db'}"
    program = (
        "import asyncio, sys\n"
        "from ticket_sink import Store\n"
        "from ticket_sink.agents import register_agent\n"
        "async def main():\n"
        "    async with Store(sys.argv[1]) as store:\n"
        "        await register_agent(store, sys.argv[2], 'host', '0/1', '0.1.0')\n"
        "asyncio.run(main())\n"
    )
    # The children import the ticket_sink under test, wherever pytest runs from.
    environment = {**os.environ, "PYTHONPATH": str(Path(ticket_sink.__file__).parents[1])}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            program,
            url,
            f"agent-{i}",
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        for i in range(3)
    ]
    results = await asyncio.gather(*(process.communicate() for process in processes))
    assert [
        (process.returncode, stderr)
        for process, (_, stderr) in zip(processes, results, strict=True)
    ] == [(0, b"")] * len(processes)
    async with Store(url) as store:
        assert sorted(agent.id for agent in await list_agents(store)) == [
            f"agent-{i}" for i in range(len(processes))
        ]


async def test_a_schema_newer_than_the_code_is_refused(url: str) -> None:
    async with Store(url):
        pass
    await _execute(url, "UPDATE alembic_version SET version_num = '9999'")

    store = Store(url)
    with pytest.raises(StoreError, match=r"cannot open store .*revision 9999.*newer vigie"):
        await store.open()
    assert not store.is_open


async def test_sqlite_file_uses_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    async with Store(f"sqlite:///{path}"):
        pass
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()


# --- agents -------------------------------------------------------------------------------------


async def test_agent_lifecycle_with_injected_clock(url: str) -> None:
    clock = FakeClock()
    async with Store(url, clock=clock) as store:
        await register_agent(store, "agent-1", "host-a", "0/2", "0.1.0")
        clock.advance(30)
        await register_agent(store, "agent-2", "host-b", "1/2", "0.1.0")
        clock.advance(30)
        await heartbeat(store, "agent-1")
        clock.advance(30)
        await mark_stopped(store, "agent-2")
        clock.advance(30)
        await mark_stopped(store, "agent-2")  # the first stop time stays

        assert await list_agents(store) == [
            AgentRow(
                id="agent-1",
                hostname="host-a",
                shard="0/2",
                version="0.1.0",
                started_at=T0,
                last_seen_at=T0 + timedelta(seconds=60),
                stopped_at=None,
            ),
            AgentRow(
                id="agent-2",
                hostname="host-b",
                shard="1/2",
                version="0.1.0",
                started_at=T0 + timedelta(seconds=30),
                last_seen_at=T0 + timedelta(seconds=120),
                stopped_at=T0 + timedelta(seconds=90),
            ),
        ]


async def test_times_come_back_as_utc_whatever_zone_the_clock_uses(url: str) -> None:
    paris_summer = timezone(timedelta(hours=2))
    clock = FakeClock(datetime(2025, 6, 1, 12, 0, tzinfo=paris_summer))
    async with Store(url, clock=clock) as store:
        await register_agent(store, "agent-1", "host-a", "0/1", "0.1.0")
        [agent] = await list_agents(store)
    assert agent.started_at == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert agent.started_at.utcoffset() == timedelta(0)


async def test_a_naive_clock_is_a_bug(url: str) -> None:
    async with Store(url, clock=lambda: datetime(2025, 1, 1)) as store:
        with pytest.raises(ValueError, match="naive"):
            await register_agent(store, "agent-1", "host-a", "0/1", "0.1.0")


async def test_registering_an_agent_twice_is_an_error(url: str) -> None:
    async with Store(url) as store:
        await register_agent(store, "agent-1", "host-a", "0/1", "0.1.0")
        with pytest.raises(StoreError, match="cannot register agent 'agent-1' in store"):
            await register_agent(store, "agent-1", "host-b", "0/1", "0.1.0")


@pytest.mark.parametrize("action", [heartbeat, mark_stopped], ids=["heartbeat", "mark_stopped"])
async def test_updating_an_unknown_agent_is_an_error(
    url: str, action: Callable[[Store, str], Awaitable[None]]
) -> None:
    async with Store(url) as store:
        with pytest.raises(StoreError, match=r"'ghost'.*no such agent"):
            await action(store, "ghost")


# --- URLs and errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("sqlite:///var/lib/vigie/vigie.db", "sqlite+aiosqlite:///var/lib/vigie/vigie.db"),
        ("sqlite+aiosqlite:////abs/vigie.db", "sqlite+aiosqlite:////abs/vigie.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgresql://u:p@db.example/vigie", "postgresql+asyncpg://u:p@db.example/vigie"),
        ("postgres://u:p@db.example:6543/vigie", "postgresql+asyncpg://u:p@db.example:6543/vigie"),
        ("postgresql+asyncpg://u@db.example/vigie", "postgresql+asyncpg://u@db.example/vigie"),
    ],
    ids=[
        "sqlite",
        "aiosqlite",
        "sqlite-memory",
        "sqlite-memory-name",
        "postgresql",
        "postgres",
        "asyncpg",
    ],
)
def test_urls_map_to_the_async_drivers(written: str, used: str) -> None:
    assert to_async_url(written) == make_url(used)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (f"mysql://u:{PASSWORD}@db/vigie", r"unsupported store URL mysql://u:\*\*\*@db/vigie"),
        (f"postgresql+psycopg2://u:{PASSWORD}@db/vigie", "unsupported store URL"),
        (f"not a url {PASSWORD}", "cannot parse the store URL"),
    ],
    ids=["other-database", "sync-driver", "garbage"],
)
def test_unusable_urls_are_refused_without_the_password(written: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        Store(written)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None or PASSWORD not in str(caught.value.__cause__)


async def test_unreachable_postgresql_error_hides_the_password() -> None:
    url = f"postgresql://vigie:{PASSWORD}@127.0.0.1:{free_port()}/vigie"
    store = Store(url)
    with pytest.raises(StoreError) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith("cannot open store postgresql://vigie:***@127.0.0.1:")
    assert PASSWORD not in message
    assert PASSWORD not in repr(store)
    assert not store.is_open


async def test_missing_postgresql_database_is_a_store_error(
    postgres_cluster: PostgresCluster,
) -> None:
    with pytest.raises(StoreError, match=r'cannot open store .*: database "absent" does not exist'):
        await Store(postgres_cluster.url("absent")).open()


@pytest.mark.parametrize(
    ("relative_path", "reason"),
    [
        ("a-file/vigie.db", "File exists"),
        ("a-directory", "is a directory"),
    ],
    ids=["parent-is-a-file", "path-is-a-directory"],
)
async def test_unusable_sqlite_path_is_a_store_error(
    tmp_path: Path, relative_path: str, reason: str
) -> None:
    # Both fail before SQLite is reached, which matters: a failed aiosqlite connect leaves a
    # worker thread that may raise "Event loop is closed" once the test's loop is gone
    # (omnilib/aiosqlite#241). Running as root, permissions cannot make a path unusable.
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-directory").mkdir()
    path = tmp_path / relative_path
    store = Store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match=f"^cannot open store sqlite:///{path}: .*{reason}"):
        await store.open()
    assert not store.is_open


# --- in-memory SQLite ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_in_memory_store_lives_as_long_as_it_is_open(url: str) -> None:
    async with Store(url) as store, Store(url) as other:
        await register_agent(store, "agent-1", "host-a", "0/1", "0.1.0")
        # Concurrent callers share the single connection without tripping over each other.
        await asyncio.gather(*(heartbeat(store, "agent-1") for _ in range(20)), list_agents(store))
        assert [agent.id for agent in await list_agents(store)] == ["agent-1"]
        assert await list_agents(other) == []  # each in-memory store is its own database

    async with Store(url) as store:
        assert await list_agents(store) == []


# --- inline reads (SQLite files) --------------------------------------------------------------


async def test_reads_see_what_other_connections_committed_and_never_wait_for_a_writer(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'vigie.db'}"
    async with Store(url) as reader, Store(url) as writer:
        await register_agent(writer, "agent-1", "host", "0/1", "0.1.0")
        async with reader.transaction(write=False) as tx:
            query = sa.select(sa.func.count()).select_from(schema.agents)
            assert await tx.connection.scalar(query) == 1
        holding = asyncio.Event()
        release = asyncio.Event()

        async def long_write() -> None:
            async with writer.transaction() as tx:
                await tx.connection.execute(schema.agents.delete())
                holding.set()
                await release.wait()

        task = asyncio.create_task(long_write())
        await holding.wait()
        # The writer holds SQLite's write lock; a reader still sees the last commit, at once.
        for inline in (True, False):
            async with reader.transaction(write=False, inline=inline) as tx:
                assert await tx.connection.scalar(query) == 1
        release.set()
        await task
        async with reader.transaction(write=False) as tx:
            assert await tx.connection.scalar(query) == 0


# --- the data version ---------------------------------------------------------------------------


async def test_the_data_version_of_a_sqlite_file_moves_with_every_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vigie.db'}"
    async with Store(url) as store, Store(url) as other:
        version = store.data_version()
        assert version is not None
        await list_agents(store)
        async with store.transaction(write=False) as tx:
            await tx.get("TNOSUCHTICK")
        assert store.data_version() == version  # reads change nothing

        await register_agent(other, "agent-1", "host", "0/1", "0.1.0")
        moved = store.data_version()
        assert moved not in (None, version)
        assert store.data_version() == moved

        await heartbeat(store, "agent-1")  # the store's own writes count too
        assert store.data_version() != moved


async def test_the_data_version_sees_another_process_commit(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    async with Store(f"sqlite:///{path}") as store:
        await register_agent(store, "agent-1", "host", "0/1", "0.1.0")
        version = store.data_version()
        program = (
            "import sqlite3, sys\n"
            "connection = sqlite3.connect(sys.argv[1])\n"
            "connection.execute('DELETE FROM agents')\n"
            "connection.commit()\n"
        )
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", program, str(path))
        assert await process.wait() == 0
        assert store.data_version() != version
        assert await list_agents(store) == []


async def test_each_opening_has_data_versions_of_its_own(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'vigie.db'}")
    versions = set()
    for _ in range(3):
        async with store:
            versions.add(store.data_version())
    assert len(versions) == 3
    with pytest.raises(StoreError, match="is not open"):
        store.data_version()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_the_data_version_of_a_memory_store_counts_its_writes(url: str) -> None:
    async with Store(url) as store:
        version = store.data_version()
        assert version is not None
        await list_agents(store)
        async with store.transaction(write=False) as tx:
            await tx.get("TNOSUCHTICK")
        assert store.data_version() == version

        await register_agent(store, "agent-1", "host", "0/1", "0.1.0")
        assert store.data_version() not in (None, version)


async def test_postgresql_has_no_data_version(postgres_cluster: PostgresCluster) -> None:
    async with Store(await create_postgres_database(postgres_cluster)) as store:
        assert store.data_version() is None
