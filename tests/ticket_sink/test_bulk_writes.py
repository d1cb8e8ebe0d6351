"""The correlator's bulk writes: what they store, and how a batch meets another writer.

A buffered transaction writes its rows with `ticket_sink.bulk.insert_many` and, on a
SQLite file, runs on the event loop's thread when the write lock is free; these tests hold
both to what the ordinary path stores and to the store's promises (all or nothing, the
loop never held for another writer's lock).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from ticket_sink import Correlation, Store, schema
from ticket_sink.model import (
    AuditEvent,
    CloseReason,
    NotificationEvent,
    Pause,
    Severity,
    Ticket,
    TicketState,
    TicketType,
)
from ticket_sink.ticket_rows import new_ticket_id

T0 = datetime(2026, 3, 6, 17, 0, 0, 123456, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def _ticket(ticket_id: str) -> Ticket:
    """A ticket with a value of every kind a column stores: times in another zone, with
    and without microseconds, unicode labels, pauses, marks, unset fields."""
    return Ticket(
        id=ticket_id,
        fingerprint=f"fp-{ticket_id}",
        title="SmpDown: smp.example — “quoted”",
        type=TicketType.INCIDENT,
        severity=Severity.MAJOR,
        created_at=T0.astimezone(CET),
        state=TicketState.RESOLVED,
        labels={"alertname": "SmpDown", "target": "smp.example", "note": "é ✓"},
        assignee_group="desk",
        resolved_at=T0.replace(microsecond=0) + timedelta(hours=1),
        close_reason=CloseReason.RESOLVED,
        resolution=None,
        occurrences=3,
        last_seen=T0 + timedelta(minutes=5),
        pauses=(Pause(T0, T0 + timedelta(minutes=1)),),
        sla_marks=frozenset({"response:at_risk"}),
    )


def _correlation() -> Correlation:
    return Correlation(
        service="smp",
        node="smp.example",
        group_key=None,
        notify=False,
        firing=True,
        recovered_at=T0 + timedelta(seconds=30),
        alert_changes=(T0, T0 + timedelta(seconds=1)),
        reporter="alertmanager",
    )


async def _write(store: Store, ticket: Ticket, *, buffered: bool) -> None:
    async with store.transaction(buffered=buffered) as tx:
        event = AuditEvent(ticket.id, "tester", T0, "create", "state", None, "new")
        await tx.insert(ticket, _correlation(), [event])
        await tx.enqueue(NotificationEvent.CREATED, ticket, due_at=T0 + timedelta(seconds=30))


async def _stored(store: Store, table: sa.Table, column: sa.Column[str], key: str) -> list[dict]:
    """The rows of `table` where `column` is `key`, as the database returns them (every
    column but the ones that differ by nature: ids and the ticket's own id)."""
    async with store.transaction(write=False, inline=False) as tx:
        rows = (await tx.connection.execute(sa.select(table).where(column == key))).all()
    skip = {"id", "ticket_id", "fingerprint"}
    return [{k: v for k, v in row._mapping.items() if k not in skip} for row in rows]


async def test_bulk_writes_store_what_the_ordinary_path_stores(url: str) -> None:
    async with Store(url, clock=lambda: T0) as store:
        await _write(store, _ticket("Tbulk"), buffered=True)
        await _write(store, _ticket("Tplain"), buffered=False)
        for table, column in (
            (schema.tickets, schema.tickets.c.id),
            (schema.ticket_events, schema.ticket_events.c.ticket_id),
        ):
            bulk = await _stored(store, table, column, "Tbulk")
            plain = await _stored(store, table, column, "Tplain")
            assert bulk
            assert bulk == plain
        bulk_out = await _stored(store, schema.outbox, schema.outbox.c.ticket_id, "Tbulk")
        plain_out = await _stored(store, schema.outbox, schema.outbox.c.ticket_id, "Tplain")
        assert len(bulk_out) == len(plain_out) == 1
        for row in (bulk_out[0], plain_out[0]):
            for name in ("id", "fingerprint"):
                row["payload"]["ticket"].pop(name)
            row["payload"].pop("id")
        assert bulk_out == plain_out
        async with store.transaction(write=False) as tx:
            read = await tx.get("Tbulk")
        assert read is not None
        assert read.ticket == _ticket("Tbulk")
        assert read.correlation == _correlation()


async def test_a_batch_waits_for_another_writer_without_holding_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    async with Store(f"sqlite:///{path}", clock=lambda: T0) as store:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process's write in progress
            batch = asyncio.create_task(_write(store, _ticket("Twaits"), buffered=True))
            # The loop keeps turning while the batch waits for the lock.
            for _ in range(5):
                started = asyncio.get_running_loop().time()
                await asyncio.sleep(0.02)
                assert asyncio.get_running_loop().time() - started < 1.0
            assert not batch.done()
            other.execute("COMMIT")
            await asyncio.wait_for(batch, timeout=30)
        finally:
            other.close()
        async with store.transaction(write=False) as tx:
            assert await tx.get("Twaits") is not None


async def test_a_failed_inline_batch_stores_nothing_and_frees_the_lock(tmp_path: Path) -> None:
    async with Store(f"sqlite:///{tmp_path / 'vigie.db'}", clock=lambda: T0) as store:

        async def fails() -> None:
            async with store.transaction(buffered=True) as tx:
                await tx.insert(_ticket("Tlost"), _correlation(), [])
                await tx.flush()
                raise RuntimeError("decided badly")

        with pytest.raises(RuntimeError, match="decided badly"):
            await fails()
        await _write(store, _ticket("Tnext"), buffered=True)
        async with store.transaction(write=False) as tx:
            assert await tx.get("Tlost") is None
            assert await tx.get("Tnext") is not None


async def test_a_batch_cancelled_while_committing_still_ends_cleanly(tmp_path: Path) -> None:
    async with Store(f"sqlite:///{tmp_path / 'vigie.db'}", clock=lambda: T0) as store:
        batch = asyncio.create_task(_write(store, _ticket("Tcancel"), buffered=True))
        # Cancelled at its first suspension: the commit in the worker thread.
        await asyncio.sleep(0)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        # Whether the commit landed or not, the lock is free and the store closes cleanly.
        await asyncio.wait_for(_write(store, _ticket("Tafter"), buffered=True), timeout=30)
        async with store.transaction(write=False) as tx:
            assert await tx.get("Tafter") is not None


def test_ticket_ids_are_t_and_ten_base32_characters_of_fifty_random_bits() -> None:
    ids = [new_ticket_id() for _ in range(2000)]
    assert all(re.fullmatch(r"T[A-Z2-7]{10}", ticket_id) for ticket_id in ids)
    assert len(set(ids)) == len(ids)
    # Every digit position takes every value: all 50 bits are drawn, none stuck.
    for position in range(1, 11):
        assert len({ticket_id[position] for ticket_id in ids}) == 32


def test_a_forked_child_draws_ticket_ids_of_its_own() -> None:
    """Ids are drawn from a pool of random bytes: a child process must not inherit the
    parent's pool, or two agents forked from one would hand out the same ids."""
    new_ticket_id()  # the parent's pool holds ids not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, " ".join(new_ticket_id() for _ in range(20)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_ticket_id() for _ in range(20)}
    assert len(child) == 20
    assert not child & parent


@pytest.mark.parametrize(
    "moment",
    [
        T0,
        T0.astimezone(CET),
        T0.replace(microsecond=0),
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
        datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sqlite_timestamps_are_spelled_as_sqlalchemy_spells_them(moment: datetime) -> None:
    """`UTCDateTime` spells a time for SQLite with one call of its own; what it stores must
    be exactly what SQLite's DATETIME type would store for the same UTC wall time, or rows
    written before and after would not compare (and sort) as equals."""
    dialect = sqlite.dialect()
    ours = schema.UTCDateTime().bind_processor(dialect)
    theirs = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    assert ours(moment) == theirs(moment.astimezone(UTC))
    assert ours(None) is None


async def test_the_correlators_fingerprint_reads_use_the_fingerprint_indexes(
    tmp_path: Path,
) -> None:
    """Both fingerprint indexes are partial (unclosed tickets, closed ones): the reads of
    `correlation_queries` must be ones SQLite answers from them, never by scanning the
    table (each batch of the correlator makes them; the table holds every ticket ever)."""
    from ticket_sink import correlation_queries

    store = Store(f"sqlite:///{tmp_path / 'plans.db'}")
    statements: list[tuple[str, tuple[object, ...]]] = []

    def record(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
        if "FROM tickets" in sql and "fingerprint" in sql:
            statements.append((sql, tuple(params)))  # type: ignore[arg-type]

    async with store, store.transaction(write=False, inline=False) as tx:
        sync_connection = tx.connection.sync_connection
        assert sync_connection is not None
        sa.event.listen(sync_connection, "before_cursor_execute", record)
        await correlation_queries.unclosed_records(tx, {"fp-a", "fp-b"})
        await correlation_queries.unclosed_by_fingerprint(tx, {"fp-a"})
        await correlation_queries.latest_closed_many(tx, {"fp-a", "fp-b"})
        await correlation_queries.fingerprints_closed_since(tx, T0)
    assert len(statements) == 4
    database = sqlite3.connect(tmp_path / "plans.db")
    try:
        for sql, params in statements:
            plan = " ".join(row[3] for row in database.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            wanted = "updated_at" if "updated_at >=" in sql else "fingerprint"
            assert "SCAN" not in plan, (sql, plan)
            assert "INDEX" in plan, (sql, plan)
            assert wanted in plan, (sql, plan)
    finally:
        database.close()
