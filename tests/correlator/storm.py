"""A correlator process under a storm of alerts, for the crash test: ingests batches of
distinct alerts into the store at URL and prints the index of each batch once `ingest` has
returned (committed). Run as `python -m tests.correlator.storm URL FIRST_BATCH BATCHES`.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.rules import Alert
from ticket_sink import Store
from ticket_sink.model import Severity
from ticket_sink.sla import default_policy

BATCH = 200
STARTS = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def storm_alert(index: int) -> Alert:
    labels = {
        "alertname": "ParticipantLookupFailed",
        "kind": "dns_participant",
        "service": "sml",
        "target": f"p{index:06d}@zone.test",
    }
    return Alert(labels, {}, Severity.MAJOR, STARTS)


async def main(url: str, first: int, batches: int) -> None:
    async with Store(url) as store:
        # No grouping: every alert its own master ticket with its own notification.
        driver = Correlator(store, default_policy(), CorrelationPolicy(group_by=()))
        for batch in range(first, first + batches):
            await driver.ingest([storm_alert(batch * BATCH + i) for i in range(BATCH)])
            print(batch, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
