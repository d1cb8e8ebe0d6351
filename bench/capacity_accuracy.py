"""Does a capacity burst measure the endpoint, not itself? Side by side with wrk.

    .venv/bin/python bench/capacity_accuracy.py [SECONDS]       # default 5

Starts nginx (Debian; plain HTTP, one worker, pinned to core 1) on a free 127.0.0.1 port
with two paths: `/` answers at once, `/slow` after 5 ms (`echo_sleep`, from Debian's
libnginx-mod-http-echo; skipped without it) and `/slower` after 80 ms. First wrk alone,
unpaced with 50
connections, shows the server's ceiling (it must reach 20,000 requests/s). Then, for each
path, the same load twice, on core 0: vigie's capacity check (50 concurrent, no ramp, the
configuration's most requests/s, SECONDS long), and `wrk -c 50` for SECONDS with each
connection pausing so that the 50 together send the same requests/s (a Lua `delay()`).
It prints both p50/p95/p99 and their difference. Bounded in time; nginx is stopped by
its PID; every connection goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _processes import free_port, stop
from tls_probe import CLIENT_CORE, NGINX_MAIN, NGINX_TEMP_PATHS, SERVER_CORE, wait_listening

from probes import PROBERS, CheckDefaults, ProbeEnv, ResultBook, Runner
from probes.capacity import LIMITS, CapacityTarget, expand_capacity
from vigie.logs import configure_logging

CONCURRENCY = 50
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
NGINX_CONF = (
    "{load}"
    + NGINX_MAIN
    + """http {{
  access_log off;
  keepalive_requests 1000000;
"""
    + NGINX_TEMP_PATHS
    + """  server {{
    listen 127.0.0.1:{port};
    location = / {{ return 200 'ok'; }}
    {slow}
  }}
}}
"""
)
SLOW = """location = /slow { echo_sleep 0.005; echo ok; }
    location = /slower { echo_sleep 0.08; echo ok; }"""
# wrk: each connection waits about `pause` ms before its next request (spread at random,
# or the 50 connections would fire together every `pause` ms); prints percentiles in us.
WRK_SCRIPT = """
local pause = tonumber(os.getenv("PAUSE_MS") or "0")
function delay() return pause * (0.5 + math.random()) end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %d\\n", summary.requests, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), summary.errors.status))
end
"""


def start_nginx(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    echo = ECHO_MODULE.exists()
    (workdir / "nginx.conf").write_text(
        NGINX_CONF.format(
            load=f"load_module {ECHO_MODULE};\n" if echo else "",
            dir=workdir,
            port=port,
            slow=SLOW if echo else "",
        )
    )
    pin = ["taskset", "-c", str(SERVER_CORE)]
    command = [*pin, nginx, "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "e.log")]
    return subprocess.Popen(command)


def wrk(url: str, seconds: float, script: Path, pause_ms: float) -> tuple[int, list[float]]:
    """Requests and [p50, p95, p99] in seconds."""
    command = [
        *("taskset", "-c", str(CLIENT_CORE), "wrk", "-t1", f"-c{CONCURRENCY}"),
        *(f"-d{seconds:g}s", "-s", str(script), url),
    ]
    env = {**os.environ, "PAUSE_MS": str(int(pause_ms))}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 30)
    match = re.search(r"^WRK (\d+) (\d+) (\d+) (\d+) (\d+)$", out.stdout, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    requests, *percentiles, _ = (int(group) for group in match.groups())
    return requests, [us / 1e6 for us in percentiles]


async def burst(url: str, seconds: float) -> dict[str, float]:
    target = CapacityTarget(
        url=url,
        concurrency=CONCURRENCY,
        duration=seconds,
        rate=LIMITS.rate,
        ramp=False,
        max_requests=100_000,
        thresholds={"max_p95": "1s"},
    )
    (check,) = expand_capacity(target, CheckDefaults(timeout=seconds + 30))
    result = await Runner(PROBERS, ProbeEnv(), ResultBook()).run(check)
    return {**result.values, "reason": str(result.reason)}  # type: ignore[dict-item]


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    seconds = min(seconds, LIMITS.duration)
    configure_logging("warning")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.sched_setaffinity(0, {CLIENT_CORE})
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="vigie-bench-capacity-") as directory:
        workdir = Path(directory)
        script = workdir / "pause.lua"
        script.write_text(WRK_SCRIPT)
        port = free_port()
        server = start_nginx(workdir, port)
        try:
            wait_listening(port, server)
            base = f"http://127.0.0.1:{port}"
            requests, _ = wrk(f"{base}/", 3, script, 0)
            print(f"server ceiling: nginx on core {SERVER_CORE}, wrk -c{CONCURRENCY} unpaced: ")
            print(f"  {requests / 3:,.0f} requests/s")
            # 50 connections, each pausing 50/R s: together about R requests/s, as our burst.
            # /slower needs no pause: 50 connections each waiting 80 ms stay under R.
            paced = CONCURRENCY / LIMITS.rate * 1000
            runs = [("/", paced), ("/slow", paced), ("/slower", 0.0)]
            for path, pause_ms in runs if ECHO_MODULE.exists() else runs[:1]:
                ours = asyncio.run(burst(base + path, seconds))
                count, theirs = wrk(base + path, seconds, script, pause_ms)
                mine = [ours[f"latency_p{q}_seconds"] for q in (50, 95, 99)]
                print(
                    f"{path}: {CONCURRENCY} concurrent, {seconds:g}s, "
                    f"vigie {ours['throughput_requests_per_second']:.0f}/s "
                    f"({ours['reason']}), wrk {count / seconds:.0f}/s"
                )
                for name, a, b in zip(("p50", "p95", "p99"), mine, theirs, strict=True):
                    print(
                        f"  {name}: vigie {a * 1000:7.3f} ms  wrk {b * 1000:7.3f} ms  "
                        f"diff {(a - b) * 1000:+.3f} ms ({(a / b - 1) * 100 if b else 0:+.1f}%)"
                    )
        finally:
            stop(server)


if __name__ == "__main__":
    main()
