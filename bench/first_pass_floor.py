"""The database's share of the first pass: what the ticket store's writes cost with no code
of vigie's around them.

    .venv/bin/python bench/first_pass_floor.py [--runs 5]

The first pass of `bench/api_bench.py` creates 10,000 tickets through `POST /api/v1/alerts`,
100 alerts a request, each request one transaction committed before its answer. This
script runs vigie's correlator once, in process, over the same alerts with the agent's
default configuration, to get the exact rows that pass writes (tickets, audit events,
outbox). It then replays those rows into a freshly migrated store file through the sqlite3
module alone, one request's rows a transaction (`BEGIN IMMEDIATE`, one `executemany` per
table, `COMMIT`), on a connection set up as the store sets up its own (WAL, foreign keys,
SQLite's default `synchronous`). What it prints, medians over the runs:

- the replay's alerts/s and its milliseconds per request, inserts and commit apart: an
  upper bound for the first pass through the API, which also receives, validates and
  decides every alert and answers over HTTP;
- the in-process first pass (validation, decisions, writes, commits; no HTTP), for scale.

Compare both with Alertmanager's first pass printed by `bench/api_bench.py` in the same
sitting. Temporary files only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pydantic

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from api_bench import BATCH, agent_config, webhook_bodies  # noqa: E402

from correlator import Correlator  # noqa: E402
from correlator.rules import Alert  # noqa: E402
from ticket_sink import Store  # noqa: E402
from ticket_sink.api.alert_models import AlertsIn, incoming_alerts  # noqa: E402
from vigie.config import load_config  # noqa: E402

# The tables a first pass writes, in the order a transaction writes them.
TABLES = ("tickets", "ticket_events", "outbox")


@dataclass(frozen=True)
class Request:
    """One request's rows: table → (column names, rows)."""

    rows: dict[str, tuple[tuple[str, ...], list[tuple[object, ...]]]]


async def first_pass(workdir: Path) -> tuple[float, Path]:
    """Run the agent's correlator over api_bench's first pass; its alerts/s and its file."""
    config = load_config(agent_config(workdir, 1))
    store = Store(config.store.url.get_secret_value())
    adapter = pydantic.TypeAdapter(AlertsIn)
    bodies = webhook_bodies(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    async with store:
        settings = config.correlator
        correlator = Correlator(store, settings.sla_policy(), settings.policy(config.targets.sml))
        begun = time.perf_counter()
        for body in bodies:
            source, alerts, _ = incoming_alerts(
                adapter.validate_json(body, strict=True), now=datetime.now(UTC)
            )
            # As the API hands them to the correlator (vigie/api.py).
            batch = [
                Alert(a.labels, a.annotations, a.severity, a.starts_at, a.ends_at) for a in alerts
            ]
            await correlator.ingest(batch, source=source)
        seconds = time.perf_counter() - begun
    return len(bodies) * BATCH / seconds, workdir / "vigie.db"


def requests_of(database: Path) -> list[Request]:
    """The rows of `database`, cut into the requests that wrote them (BATCH tickets each,
    in the order they were created, with their events and notifications)."""
    connection = sqlite3.connect(database)
    try:
        tables: dict[str, tuple[tuple[str, ...], list[tuple[object, ...]]]] = {}
        for table in TABLES:
            cursor = connection.execute(f"SELECT * FROM {table} ORDER BY rowid")
            columns = tuple(d[0] for d in cursor.description)
            tables[table] = (columns, cursor.fetchall())
    finally:
        connection.close()
    ticket_columns, tickets = tables["tickets"]
    request_of = {
        row[ticket_columns.index("id")]: index // BATCH for index, row in enumerate(tickets)
    }
    requests = [Request({}) for _ in range((len(tickets) + BATCH - 1) // BATCH)]
    for table, (columns, rows) in tables.items():
        key = columns.index("id" if table == "tickets" else "ticket_id")
        kept = tuple(c for c in columns if not (table == "ticket_events" and c == "id"))
        picks = [columns.index(c) for c in kept]
        for request in requests:
            request.rows[table] = (kept, [])
        for row in rows:
            requests[request_of[row[key]]].rows[table][1].append(tuple(row[i] for i in picks))
    return requests


def fresh_store(path: Path) -> None:
    """A store file migrated to the current schema, with no rows."""

    async def create() -> None:
        async with Store(f"sqlite:///{path}"):
            pass

    asyncio.run(create())


def replay(requests: Sequence[Request], path: Path) -> tuple[float, float, float]:
    """Write `requests` into the store file at `path` with the sqlite3 module alone:
    alerts/s, and milliseconds per request inserting and committing."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA foreign_keys = ON")
        statements = {
            table: f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
            for table, (columns, _) in requests[0].rows.items()
        }
        inserting = committing = 0.0
        for request in requests:
            begun = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            for table, (_, rows) in request.rows.items():
                if rows:
                    connection.executemany(statements[table], rows)
            inserted = time.perf_counter()
            connection.execute("COMMIT")
            committed = time.perf_counter()
            inserting += inserted - begun
            committing += committed - inserted
    finally:
        connection.close()
    count = len(requests)
    return (
        count * BATCH / (inserting + committing),
        1000 * inserting / count,
        1000 * committing / count,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = max(1, min(parser.parse_args().runs, 20))
    floors: list[tuple[float, float, float]] = []
    passes: list[float] = []
    with tempfile.TemporaryDirectory(prefix="vigie-floor-") as tmp:
        for number in range(runs):
            workdir = Path(tmp) / f"run{number}"
            workdir.mkdir()
            rate, database = asyncio.run(first_pass(workdir))
            passes.append(rate)
            requests = requests_of(database)
            target = workdir / "replay.db"
            fresh_store(target)
            floors.append(replay(requests, target))
    rates = [floor[0] for floor in floors]
    inserts = statistics.median(floor[1] for floor in floors)
    commits = statistics.median(floor[2] for floor in floors)
    print(f"first pass, {runs} runs of {len(requests)} requests of {BATCH} new alerts (medians)")
    print(
        f"  SQLite alone (rows prebuilt)    {statistics.median(rates):>9,.0f} alerts/s  "
        f"({inserts:.2f} ms inserting + {commits:.2f} ms committing a request; "
        f"min {min(rates):,.0f} max {max(rates):,.0f})"
    )
    print(
        f"  vigie in process (no HTTP)      {statistics.median(passes):>9,.0f} alerts/s  "
        f"(min {min(passes):,.0f} max {max(passes):,.0f})"
    )


if __name__ == "__main__":
    main()
