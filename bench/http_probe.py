"""HTTPS availability checks per CPU-second, next to blackbox_exporter's `http_2xx`.

    .venv/bin/python bench/http_probe.py [CHECKS] [CONCURRENCY]     # default 3000 32

Starts nginx (from Debian, as the anchors do; the server helpers are bench/tls_probe.py's)
on a free 127.0.0.1 port with a P-256 certificate, pinned to core 1; this process runs on
core 0 like blackbox does in the anchors. It runs CHECKS `http` checks through the runner
(each a new TCP connection, a full TLS handshake verified against the CA, GET /, status,
phases, TLS facts, the service-objective counters), CONCURRENCY at a time, and prints
checks/s and vigie's CPU-seconds per 1,000 checks. Blackbox's figure is the
`blackbox-https-2xx` row of the anchors' `results.jsonl` (under
`~/.cache/eDelivery-anchors`) when it is from the last 12 hours
(`QUICK=1 bash ../shared/anchors/run_anchors.sh` refreshes it).
Bounded: CHECKS at most 100,000, every connection to 127.0.0.1, nginx stopped by its PID.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_probe import CLIENT_CORE, SERVER_CORE, blackbox_row, measure

from probes import PROBERS, CheckDefaults, ProbeEnv, ResultBook, Runner
from probes.http import HttpTarget, expand_http
from vigie.http import outbound_client
from vigie.logs import configure_logging


async def run_checks(port: int, ca_file: Path, count: int, concurrency: int) -> Counter[str]:
    target = HttpTarget(url=f"https://127.0.0.1:{port}/", ca_file=ca_file, name="bench")
    (check,) = expand_http(target, CheckDefaults(timeout=5.0))
    outcomes: Counter[str] = Counter()
    remaining = iter(range(count))
    async with outbound_client() as http:
        runner = Runner(PROBERS, ProbeEnv(http=http), ResultBook())

        async def worker() -> None:
            for _ in remaining:
                result = await runner.run(check)
                outcomes[f"{result.reason} {result.detail}".strip()] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def main() -> None:
    count = min(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, 100_000)
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    configure_logging("warning")  # as the agent runs: no line per check
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CORE})
    # The lab PKI's endpoint certificates name 127.0.0.1 too, so the URL's host matches.
    cpu, wall, outcomes, server_name = measure(run_checks, count, concurrency)
    per_1000 = cpu / count * 1000
    print(f"server: {server_name} on core {SERVER_CORE}; vigie on core {CLIENT_CORE}")
    print(f"checks: {count} ({concurrency} at once), outcomes: {dict(outcomes)}")
    print(f"vigie http (HTTPS GET): {per_1000:.3f} CPU-s/1000 checks, {count / wall:.0f} checks/s")
    row = blackbox_row()
    if row is None:
        print("blackbox http_2xx: no recent anchors row; run")
        print("  QUICK=1 bash ../shared/anchors/run_anchors.sh   and run this again")
        return
    reference = float(row["cpu_per_1000"])
    print(
        f"blackbox http_2xx over HTTPS (anchors): {reference:.3f} CPU-s/1000 probes, "
        f"{float(row['rate']):.0f} probes/s"
    )
    print(f"ratio vigie / blackbox: {per_1000 / reference:.2f}x (target <= 1.0x)")


if __name__ == "__main__":
    main()
