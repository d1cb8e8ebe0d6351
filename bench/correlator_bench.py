"""How fast alerts go through the correlator, and what an open ticket costs in memory.

    .venv/bin/python bench/correlator_bench.py [LABEL_SETS] [ALERTS] [OPEN_TICKETS]
    # defaults: 10,000 label sets, 200,000 alerts, 100,000 open tickets

Prints one line per figure:
- pure dedupe: alerts/s through `correlator.decide.decide` with LABEL_SETS distinct
  alerts cycling against their tickets' records (the decision only, one core);
- end to end: alerts/s through `Correlator.ingest` into a SQLite file, batches of 1,000,
  ALERTS alerts cycling over LABEL_SETS label sets (every batch committed before `ingest`
  returns; repeats of recorded episodes are known to the correlator and skip the store),
  with the first pass (every alert a new ticket) and repeats read from the store by a
  correlator that remembers nothing, apart;
- memory: resident bytes per open ticket after OPEN_TICKETS tickets were created through
  `ingest` (the growth of this process's RSS divided by the count), and how long one sweep
  and one metrics snapshot take at that size.
The store is a temporary SQLite file; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.decide import Snapshot, TicketRecord, decide
from correlator.rules import Alert
from ticket_sink import Store
from ticket_sink.model import Severity, TicketState
from ticket_sink.reports import snapshot
from ticket_sink.sla import default_policy

BATCH = 1_000
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096


def make_alerts(count: int, prefix: str = "p") -> list[Alert]:
    return [
        Alert(
            {
                "alertname": "ParticipantLookupFailed",
                "kind": "dns_participant",
                "service": "sml",
                "target": f"{prefix}{index:07d}@zone.test",
                "reason": "timeout",
            },
            {"summary": "lookup failed"},
            Severity.MAJOR,
            T0,
        )
        for index in range(count)
    ]


def pure(label_sets: int, total: int) -> float:
    alerts = make_alerts(label_sets)
    snapshots = {
        a.fingerprint: Snapshot((TicketRecord(f"T{i}", TicketState.NEW, T0, T0, firing=True),))
        for i, a in enumerate(alerts)
    }
    policy = CorrelationPolicy()
    now = T0 + timedelta(minutes=1)
    started = time.process_time()
    for index in range(total):
        alert = alerts[index % label_sets]
        decide(alert, snapshots[alert.fingerprint], now, policy)
    return total / (time.process_time() - started)


async def end_to_end(label_sets: int, total: int, workdir: Path) -> tuple[float, float, float]:
    """alerts/s of: the first pass (every alert opens a ticket), TOTAL alerts cycling over
    the label sets (the first pass included), and repeats read from the store (a correlator
    that remembers nothing, as after a restart or for another agent's alerts)."""
    alerts = make_alerts(label_sets)
    clock = [T0]
    async with Store(f"sqlite:///{workdir}/e2e.db", clock=lambda: clock[0]) as store:
        policy = default_policy()
        driver = Correlator(store, policy, CorrelationPolicy())
        started = time.perf_counter()
        for offset in range(0, label_sets, BATCH):
            await driver.ingest(alerts[offset : offset + BATCH])
        first = label_sets / (time.perf_counter() - started)

        driver = Correlator(store, policy, CorrelationPolicy())
        started = time.perf_counter()
        for offset in range(0, total, BATCH):
            batch = [alerts[(offset + i) % label_sets] for i in range(min(BATCH, total - offset))]
            await driver.ingest(batch)
        overall = total / (time.perf_counter() - started)

        started = time.perf_counter()
        for offset in range(0, label_sets, BATCH):
            cold = Correlator(store, policy, CorrelationPolicy())
            await cold.ingest(alerts[offset : offset + BATCH])
        from_store = label_sets / (time.perf_counter() - started)
        return first, overall, from_store


async def memory(open_tickets: int, workdir: Path) -> tuple[float, int, float, float]:
    alerts = make_alerts(open_tickets, prefix="m")
    async with Store(f"sqlite:///{workdir}/memory.db") as store:
        # No grouping: every alert its own master, the worst case for the sweep.
        driver = Correlator(store, default_policy(), CorrelationPolicy(group_by=()))
        await driver.ingest(alerts[:BATCH])  # warm: imports, caches, the connection
        gc.collect()
        before = rss_bytes()
        for offset in range(BATCH, open_tickets, BATCH):
            await driver.ingest(alerts[offset : offset + BATCH])
        del alerts
        gc.collect()
        grown = rss_bytes() - before
        per_ticket = grown / (open_tickets - BATCH)
        started = time.perf_counter()
        await driver.sweep()
        sweep = time.perf_counter() - started
        started = time.perf_counter()
        await snapshot(store, driver.sla_policy)
        snap = time.perf_counter() - started
        return per_ticket, grown, sweep, snap


async def main() -> None:
    label_sets = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    open_tickets = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    print(f"pure dedupe: {pure(label_sets, total):,.0f} alerts/s (target >= 100,000)")
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as workdir:
        first, overall, from_store = await end_to_end(label_sets, total, Path(workdir))
        print(
            f"end to end into SQLite: {overall:,.0f} alerts/s over {total:,} alerts cycling "
            f"over {label_sets:,} label sets (target >= 20,000); the first pass, every alert "
            f"a new ticket: {first:,.0f} alerts/s; repeats read from the store (nothing "
            f"remembered): {from_store:,.0f} alerts/s"
        )
        per_ticket, grown, sweep, snap = await memory(open_tickets, Path(workdir))
        # The process keeps no state per ticket (they live in the database; SQLite's page
        # cache is bounded), so the growth is noise around zero and may be negative.
        print(
            f"memory: {per_ticket:,.0f} bytes of RSS per open ticket at {open_tickets:,} "
            f"(RSS grew {grown / 2**20:+.1f} MiB; target <= 4,096); "
            f"one sweep {sweep:.2f} s, one metrics snapshot {snap:.2f} s"
        )


if __name__ == "__main__":
    asyncio.run(main())
