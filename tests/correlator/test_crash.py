"""kill -9 in the middle of a storm of alerts: every batch acknowledged before the kill is
in the store, as whole batches, each alert in exactly one ticket, each master's
notification still in the outbox; a restart that sends the storm again completes it
without a duplicate. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from correlator.fingerprint import fingerprint
from tests.correlator.storm import BATCH, storm_alert
from ticket_sink import Store, schema

ROOT = Path(__file__).resolve().parents[2]
BATCHES = 30
KILL_AFTER = 8  # acknowledged batches before the kill


def start(url: str, first: int, batches: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.correlator.storm", url, str(first), str(batches)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)


async def stored(url: str) -> tuple[Counter[str], Counter[str]]:
    """Unclosed tickets per fingerprint, and outbox rows per ticket."""
    async with Store(url) as store, store.transaction(write=False) as tx:
        tickets = (await tx.connection.execute(sa.select(schema.tickets))).all()
        outbox = (await tx.connection.execute(sa.select(schema.outbox))).all()
    per_fingerprint = Counter(row.fingerprint for row in tickets)
    ids = {row.id for row in tickets}
    per_ticket = Counter(row.ticket_id for row in outbox if row.event == "created")
    assert set(per_ticket) <= ids
    return per_fingerprint, Counter({ticket: per_ticket[ticket] for ticket in ids})


async def test_a_killed_correlator_loses_no_acknowledged_alert(url: str) -> None:
    process = start(url, 0, BATCHES)
    assert process.stdout is not None
    acknowledged = [int(process.stdout.readline()) for _ in range(KILL_AFTER)]
    os.kill(process.pid, signal.SIGKILL)  # in the middle of the next batch, or the one after
    process.wait()
    process.stdout.close()
    assert acknowledged == list(range(KILL_AFTER))

    tickets, notifications = await stored(url)
    for index in range(KILL_AFTER * BATCH):
        assert tickets[storm_alert(index).fingerprint] == 1, f"alert {index}"
    assert set(tickets.values()) == {1}, "an alert in two tickets"
    assert len(tickets) % BATCH == 0, "a batch committed in part"
    assert set(notifications.values()) == {1}, "a master without its notification"

    # The restart replays the storm from the start: what is stored changes nothing.
    again = start(url, 0, BATCHES)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0
    assert out.split() == [str(batch) for batch in range(BATCHES)]
    tickets, notifications = await stored(url)
    assert len(tickets) == BATCHES * BATCH
    assert set(tickets.values()) == {1}
    assert set(notifications.values()) == {1}
    assert fingerprint(storm_alert(0).labels) in tickets
