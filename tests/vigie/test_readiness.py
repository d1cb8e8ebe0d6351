"""/readyz tells whether the agent can take alerts now: 503 while its PostgreSQL store is
unreachable or read-only, 200 again once it takes writes, never a database round trip
per request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from tests.ticket_sink.conftest import POSTGRES_USER, PostgresCluster, create_postgres_database
from vigie.app import create_app
from vigie.config import VigieConfig

INTERVAL = 0.2
DEADLINE = 10.0


class Cuttable:
    """A TCP relay to PostgreSQL that the test can cut (every connection dropped, new
    ones refused) and restore on the same port: an outage without touching the server."""

    def __init__(self, upstream: int) -> None:
        self._upstream = upstream
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        pipes = [
            asyncio.create_task(pump(reader, up_writer)),
            asyncio.create_task(pump(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)


@contextlib.asynccontextmanager
async def relay(cluster: PostgresCluster) -> AsyncIterator[Cuttable]:
    cuttable = Cuttable(cluster.port)
    await cuttable.start()
    try:
        yield cuttable
    finally:
        await cuttable.cut()


async def ready(client: TestClient, expected: bool) -> None:
    async def now() -> bool:
        response = await client.get("/readyz")
        body = await response.json()
        return (response.status == 200, body["components"]["store"]) == (expected, expected)

    async with asyncio.timeout(DEADLINE):
        while not await now():  # noqa: ASYNC110 - polled state, bounded by the deadline
            await asyncio.sleep(INTERVAL / 2)


def config(url: str) -> VigieConfig:
    return VigieConfig.model_validate(
        {"store": {"url": url}, "server": {"readiness_interval": f"{INTERVAL}s"}}
    )


async def admin(cluster: PostgresCluster, *statements: str) -> None:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user=POSTGRES_USER, database="postgres"
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def test_not_ready_while_postgresql_is_unreachable(postgres_cluster: PostgresCluster) -> None:
    url = await create_postgres_database(postgres_cluster)
    async with relay(postgres_cluster) as cuttable:
        app = create_app(config(url.replace(f":{postgres_cluster.port}/", f":{cuttable.port}/")))
        async with TestClient(TestServer(app)) as client:
            await ready(client, True)
            await cuttable.cut()
            await ready(client, False)
            await cuttable.start()
            await ready(client, True)


async def test_not_ready_while_the_database_is_read_only(postgres_cluster: PostgresCluster) -> None:
    url = await create_postgres_database(postgres_cluster)
    database = url.rsplit("/", 1)[1]
    drop_sessions = (
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    )
    app = create_app(config(url))
    async with TestClient(TestServer(app)) as client:
        await ready(client, True)
        # As after a fail-over to a standby: every new session is read-only.
        await admin(
            postgres_cluster,
            f'ALTER DATABASE "{database}" SET default_transaction_read_only = on',
            drop_sessions,
        )
        await ready(client, False)
        await admin(
            postgres_cluster,
            f'ALTER DATABASE "{database}" SET default_transaction_read_only = off',
            drop_sessions,
        )
        await ready(client, True)


async def test_readyz_reads_the_last_check_not_the_database(
    postgres_cluster: PostgresCluster,
) -> None:
    url = await create_postgres_database(postgres_cluster)
    app = create_app(config(url))
    async with TestClient(TestServer(app)) as client:
        await ready(client, True)
        await admin(postgres_cluster, "SELECT pg_stat_reset()")
        database = url.rsplit("/", 1)[1]
        before = await transactions(postgres_cluster, database)
        for _ in range(50):
            assert (await client.get("/readyz")).status == 200
        # Only the watch's own heartbeats (a few at most in that time) reached the database.
        assert await transactions(postgres_cluster, database) - before < 10


async def transactions(cluster: PostgresCluster, database: str) -> int:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user=POSTGRES_USER, database="postgres"
    )
    try:
        value = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            database,
        )
    finally:
        await connection.close()
    return int(value)
