"""HTTPS certificate checks per CPU-second, next to blackbox_exporter's `http_2xx`.

    .venv/bin/python bench/tls_probe.py [CHECKS] [CONCURRENCY]     # default 3000 16

Starts nginx (from Debian, as the anchors do) on a free 127.0.0.1 port, presenting the
lab PKI's smp1 chain (P-256 leaf + intermediate), pinned to core 1; this process runs on
core 0 like blackbox does in the anchors. It runs CHECKS x509 checks (each a new TCP
connection and a full TLS handshake, chain validation against the lab root, expiry,
hostname and algorithm policy), CONCURRENCY at a time, and prints vigie's CPU-seconds
per 1,000 checks and checks per second. Without nginx it serves the chain from a Python
process instead (slower server, same client cost).

Blackbox's figure comes from the anchors' `results.jsonl` (under `~/.cache/eDelivery-anchors`)
(row `blackbox-https-2xx`) when that file is from the last 12 hours; run
`QUICK=1 bash ../shared/anchors/run_anchors.sh` first to refresh it. Bounded: CHECKS at
most 100,000, every connection to 127.0.0.1, nginx stopped by its PID at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _processes import free_port, stop

from probes import CheckDefaults, ProbeEnv
from probes.x509 import CertificateTarget, expand_certificates, probe_x509
from vigie.lab.pki import LabPki

RESULTS = Path.home() / ".cache" / "eDelivery-anchors" / "work" / "results.jsonl"
CLIENT_CORE, SERVER_CORE = 0, 1
WARM_UP = 200  # checks before the timed window
# nginx in the foreground with one worker, writing nothing outside `{dir}`: the start of
# every configuration a bench serves from (formatted with the bench's own fields).
NGINX_MAIN = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
"""
NGINX_TEMP_PATHS = """  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
"""
NGINX_CONF = (
    NGINX_MAIN
    + """http {{
  access_log off;
"""
    + NGINX_TEMP_PATHS
    + """  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {dir}/chain.pem;
    ssl_certificate_key {dir}/key.pem;
    location / {{ return 200 'ok'; }}
  }}
}}
"""
)
PYTHON_SERVER = """
import asyncio, ssl, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1] + "/chain.pem", sys.argv[1] + "/key.pem")
async def main():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", int(sys.argv[2]),
                                        ssl=context)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def start_server(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    pin = ["taskset", "-c", str(SERVER_CORE)] if shutil.which("taskset") else []
    if nginx:
        (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, port=port))
        command = [*pin, nginx, "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "e.log")]
        return subprocess.Popen(command), "nginx"
    command = [*pin, sys.executable, "-c", PYTHON_SERVER, str(workdir), str(port)]
    return subprocess.Popen(command), "python asyncio"


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the TLS server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the TLS server did not listen within 10 s")


@dataclass
class Timed:
    cpu: float  # seconds of this process's CPU
    wall: float
    outcomes: Counter[str]


async def timed(check: Callable[[], Awaitable[str]], count: int, concurrency: int) -> Timed:
    """`WARM_UP` checks, then `count` checks timed, `concurrency` at a time: only the checks
    are in the window, not what the caller set up for them (as the anchors time blackbox
    while it probes, not while it starts)."""
    outcomes: Counter[str] = Counter()

    async def checks(total: int) -> None:
        remaining = iter(range(total))

        async def worker() -> None:
            for _ in remaining:
                outcomes[await check()] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    await checks(WARM_UP)
    outcomes.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    await checks(count)
    return Timed(time.process_time() - cpu, time.perf_counter() - wall, outcomes)


async def run_checks(port: int, anchors: Path, count: int, concurrency: int) -> Timed:
    target = CertificateTarget(
        url=f"https://127.0.0.1:{port}",
        server_name="smp1.edelivery.test",
        trust_anchors=str(anchors),
        warn_before=0,
    )
    (check,) = expand_certificates(target, CheckDefaults(timeout=5.0))
    env = ProbeEnv()

    async def one() -> str:
        return str((await probe_x509(check, env)).reason)

    return await timed(one, count, concurrency)


RunChecks = Callable[[int, Path, int, int], Coroutine[Any, Any, Timed]]


def measure(run: RunChecks, count: int, concurrency: int) -> tuple[float, float, Counter[str], str]:
    """CPU and wall seconds of `count` checks by `run` against nginx presenting the lab's
    smp1 chain (also valid for 127.0.0.1); nginx is stopped by its PID."""
    pki = LabPki.generate("http://127.0.0.1:9")
    with tempfile.TemporaryDirectory(prefix="vigie-bench-tls-") as directory:
        workdir = Path(directory)
        (workdir / "chain.pem").write_bytes(pki.endpoint("smp1").chain_pem())
        (workdir / "key.pem").write_bytes(pki.endpoint("smp1").key_pem())
        (workdir / "root.pem").write_bytes(pki.trust_anchor_pem())
        port = free_port()
        server, server_name = start_server(workdir, port)
        try:
            wait_listening(port, server)
            result = asyncio.run(run(port, workdir / "root.pem", count, concurrency))
        finally:
            stop(server)
    return result.cpu, result.wall, result.outcomes, server_name


def blackbox_row() -> dict[str, float] | None:
    if not RESULTS.exists() or time.time() - RESULTS.stat().st_mtime > 12 * 3600:
        return None
    for line in RESULTS.read_text().splitlines():
        row = json.loads(line)
        if row.get("label") == "blackbox-https-2xx":
            return row  # type: ignore[no-any-return]
    return None


def run_bench(label: str, run: RunChecks, default_concurrency: int) -> None:
    """`[CHECKS] [CONCURRENCY]` from the command line, then the measurement and the report
    next to blackbox's `http_2xx` row from the anchors."""
    count = min(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, 100_000)
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else default_concurrency
    # SIGTERM runs the `finally` that stops the server, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CORE})
    cpu, wall, outcomes, server_name = measure(run, count, concurrency)
    per_1000 = cpu / count * 1000
    print(f"server: {server_name} on core {SERVER_CORE}; vigie on core {CLIENT_CORE}")
    print(f"checks: {count} ({concurrency} at once), outcomes: {dict(outcomes)}")
    print(f"{label}: {per_1000:.3f} CPU-s/1000 checks, {count / wall:.0f} checks/s")
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


def main() -> None:
    run_bench("vigie x509 (TLS chain)", run_checks, 16)


if __name__ == "__main__":
    main()
