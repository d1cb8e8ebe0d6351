"""HTTPS availability checks per CPU-second, next to blackbox_exporter's `http_2xx`.

    .venv/bin/python bench/http_probe.py [CHECKS] [CONCURRENCY] [--insecure-skip-verify]
    # default 3000 32, verifying

Starts nginx (from Debian, as the anchors do; the server helpers are bench/tls_probe.py's)
on a free 127.0.0.1 port with a P-256 certificate, pinned to core 1; this process runs on
core 0 like blackbox does in the anchors. It runs CHECKS `http` checks through the runner
(each a new TCP connection, a full TLS handshake verified against the CA, GET /, status,
phases, TLS facts, the service-objective counters), CONCURRENCY at a time, and prints
checks/s and vigie's CPU-seconds per 1,000 checks. The anchors' blackbox module sets
`insecure_skip_verify: true`; `--insecure-skip-verify` runs vigie's checks the same way
(no chain or host name verification: two ECDSA verifications fewer per handshake), for a
like-for-like figure. Blackbox's figure is the
`blackbox-https-2xx` row of the anchors' `results.jsonl` (under
`~/.cache/eDelivery-anchors`) when it is from the last 12 hours
(`QUICK=1 bash ../shared/anchors/run_anchors.sh` refreshes it).
Bounded: CHECKS at most 100,000, every connection to 127.0.0.1, nginx stopped by its PID.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_probe import Timed, run_bench, timed

from probes import PROBERS, CheckDefaults, ProbeEnv, ResultBook, Runner
from probes.http import HttpTarget, expand_http
from vigie.http import outbound_client
from vigie.logs import configure_logging

SKIP_VERIFY = "--insecure-skip-verify"
# Set from the command line by `main`.
skip_verify = False


async def run_checks(port: int, ca_file: Path, count: int, concurrency: int) -> Timed:
    target = HttpTarget(
        url=f"https://127.0.0.1:{port}/",
        ca_file=ca_file,
        name="bench",
        insecure_skip_verify=skip_verify,
    )
    (check,) = expand_http(target, CheckDefaults(timeout=5.0))
    async with outbound_client() as http:
        runner = Runner(PROBERS, ProbeEnv(http=http), ResultBook())

        async def one() -> str:
            result = await runner.run(check)
            return f"{result.reason} {result.detail}".strip()

        return await timed(one, count, concurrency)


def main() -> None:
    configure_logging("warning")  # as the agent runs: no line per check
    # The lab PKI's endpoint certificates name 127.0.0.1 too, so the URL's host matches.
    global skip_verify
    skip_verify = SKIP_VERIFY in sys.argv
    sys.argv[1:] = [arg for arg in sys.argv[1:] if arg != SKIP_VERIFY]  # run_bench's are positional
    label = "vigie http (HTTPS GET" + (", no verification)" if skip_verify else ")")
    run_bench(label, run_checks, 32)


if __name__ == "__main__":
    main()
