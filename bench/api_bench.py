"""The ticket API's speed, side by side with reference servers measured the same way.

    .venv/bin/python bench/api_bench.py [--seconds 10] [--runs 3]

Each run starts, on free 127.0.0.1 ports and pinned to core 0 with `taskset`, one server at
a time, and loads it with `wrk` (Debian) pinned to core 1 (`bench/api_wrk.lua`, which also
counts answers that are not 2xx or lack the expected content):

- `GET /api/v1/tickets/{id}` of a vigie agent (configuration: no targets, a SQLite store
  in a temporary directory, one `viewer` and one `ingest` token), 32 connections, for the
  newest ticket of each severity the alerts make: 1 (two SLA clocks running around the
  clock), 2 (two clocks on the business calendar) and 3 (best effort, no clock); next to
  an aiohttp hello-world (`GET /` answering a small JSON body, no access log) on the same
  interpreter with the same wrk settings, measured just before and just after them (the
  ratio is to the mean of the two): requests/s and their ratio (target >= 0.5 for each);
- `POST /api/v1/alerts` of the agent with Alertmanager webhook payloads of 100 alerts,
  cycling over 10,000 label sets, 4 requests in flight, next to Alertmanager's own
  `POST /api/v2/alerts` (Debian `prometheus-alertmanager`, no clustering, a receiver that
  sends nothing, a temporary storage path) with the same alerts: alerts/s and their ratio
  (target >= 1.0). Before the measured window each server gets one pass over the 10,000
  label sets, one request at a time (for the agent: 10,000 new tickets, each committed
  before its response), whose rate is printed too (target >= 0.5), and the agent a second
  such pass, where every alert is known and nothing is written: what the first pass costs
  besides its writes (`bench/first_pass_floor.py` measures the writes alone); the window
  then measures the steady state, where every alert is one the server already holds.

Each load gets a 2 s warm-up before its window; the servers' CPU-seconds come from
/proc/PID/stat. The medians over the runs come last. Bounded: at most 10 runs of at most
60 s windows; every process it starts is stopped by its PID when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _processes import free_port, stop

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WRK_SCRIPT = BENCH / "api_wrk.lua"
SERVER_CORE, LOAD_CORE = "0", "1"
WARM_SECONDS = 2
GET_CONNECTIONS = 32
POST_CONNECTIONS = 4
LABEL_SETS = 10_000
BATCH = 100
NAMES = (
    "SmpDown",
    "SmpSlow",
    "SmlCnameMissing",
    "BdxlNaptrMissing",
    "TlsExpiring",
    "TlsInvalid",
    "As4Unreachable",
    "DnsTimeout",
    "CertRevoked",
    "HttpError",
)
# Alertmanager's spellings of vigie's severities 1, 2 and 3, in turn.
SEVERITY_LABELS = ("critical", "error", "warning")
SEVERITIES = (1, 2, 3)
VIEWER_TOKEN = "bench-viewer-" + os.urandom(16).hex()
INGEST_TOKEN = "bench-ingest-" + os.urandom(16).hex()
TICKS = os.sysconf("SC_CLK_TCK")

HELLO_WORLD = """
from aiohttp import web
import sys

async def hello(request):
    return web.json_response({"status": "ok", "service": "anchor"})

app = web.Application()
app.router.add_get("/", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.contextmanager
def started(
    name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[int]:
    """Run `argv` on the server core; yields its PID and stops it (that PID only)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv], stdout=out, stderr=out, env=env, cwd=ROOT
        )
    try:
        yield process.pid
    finally:
        stop(process)
        if process.returncode not in (0, -15):
            tail = log.read_text(errors="replace").splitlines()[-5:]
            print(f"  ({name} exited {process.returncode}:", *tail, ")", sep="\n", file=sys.stderr)


def request(
    port: int, method: str, path: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_ready(port: int, path: str, pid: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if request(port, "GET", path)[0] == 200:
                return
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not get ready")


@dataclass(frozen=True)
class Load:
    rate: float  # requests/s
    requests: int
    seconds: float
    server_cpu: float  # CPU-seconds of the server over the window
    checks: str


def wrk(
    port: int,
    requests_file: Path,
    *,
    connections: int,
    seconds: int,
    pid: int,
    marker: str | None = None,
    headers: Sequence[str] = (),
) -> Load:
    argv = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", "--timeout", "5s"]
    for header in headers:
        argv += ["-H", header]
    argv += ["-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}", "--", str(requests_file)]
    if marker:
        argv.append(marker)
    subprocess.run([*argv[:5], f"-d{WARM_SECONDS}s", *argv[5:]], capture_output=True, check=False)
    before = cpu_seconds(pid)
    done = subprocess.run(
        [*argv[:5], f"-d{seconds}s", *argv[5:]], capture_output=True, text=True, check=False
    )
    cpu = cpu_seconds(pid) - before
    found = re.search(r"^WRK_RESULT (.*)$", done.stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"wrk failed: {done.stdout}{done.stderr}")
    result = dict(pair.split("=") for pair in found.group(1).split())
    checks = (
        f"non2xx={result['non2xx']} misses={result['misses']} sockerr={result['errors']} "
        f"p50={result['p50_ms']}ms p99={result['p99_ms']}ms"
    )
    return Load(
        float(result["rps"]), int(result["requests"]), float(result["duration_s"]), cpu, checks
    )


def label_sets() -> list[dict[str, str]]:
    return [
        {
            "alertname": NAMES[index % len(NAMES)],
            "instance": f"0088:{5798000000001 + index // len(NAMES):013d}",
            "severity": SEVERITY_LABELS[index % len(SEVERITY_LABELS)],
            "job": "peppol-probe",
        }
        for index in range(LABEL_SETS)
    ]


def alertmanager_bodies() -> list[bytes]:
    """Alertmanager's `POST /api/v2/alerts`: a list of alerts."""
    alerts = [
        {
            "labels": labels,
            "annotations": {"summary": f"synthetic alert {index}"},
            "generatorURL": "http://127.0.0.1/probe",
        }
        for index, labels in enumerate(label_sets())
    ]
    return [json.dumps(alerts[k : k + BATCH]).encode() for k in range(0, LABEL_SETS, BATCH)]


def webhook_bodies(starts_at: str) -> list[bytes]:
    """The same alerts as Alertmanager's webhook receiver posts them to vigie."""
    bodies = []
    sets = label_sets()
    for k in range(0, LABEL_SETS, BATCH):
        alerts = [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"synthetic alert {k + offset}"},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1/probe",
                "fingerprint": f"{k + offset:016x}",
            }
            for offset, labels in enumerate(sets[k : k + BATCH])
        ]
        payload = {
            "version": "4",
            "groupKey": '{}:{alertname="bench"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "vigie",
            "groupLabels": {},
            "commonLabels": {"job": "peppol-probe"},
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "alerts": alerts,
        }
        bodies.append(json.dumps(payload).encode())
    return bodies


def write_requests(path: Path, method: str, url_path: str, bodies: Sequence[bytes]) -> Path:
    with path.open("w") as out:
        for body in bodies:
            out.write(f"{method} {url_path} {body.decode()}\n")
    return path


def first_pass(port: int, path: str, bodies: Sequence[bytes], token: str | None) -> float:
    """Alerts/s of one pass over every label set, one request at a time."""
    begun = time.perf_counter()
    for body in bodies:
        status, answer = request(port, "POST", path, body, token)
        if status != 200:
            raise SystemExit(f"POST {path}: {status} {answer[:300]!r}")
    return LABEL_SETS / (time.perf_counter() - begun)


def agent_config(workdir: Path, port: int) -> Path:
    sys.path.insert(0, str(ROOT))
    from ticket_sink.api import hash_token

    config = {
        "server": {"listen": f"127.0.0.1:{port}"},
        "log": {"level": "warning", "format": "json"},
        "store": {"url": f"sqlite:///{workdir / 'vigie.db'}"},
        "api": {
            "tokens": [
                {"name": "bench-viewer", "role": "viewer", "hash": hash_token(VIEWER_TOKEN)},
                {"name": "alertmanager", "role": "ingest", "hash": hash_token(INGEST_TOKEN)},
            ]
        },
    }
    path = workdir / "vigie.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


ALERTMANAGER_CONFIG = """
route:
  receiver: blackhole
  group_by: [alertname, instance]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: blackhole
"""


@dataclass
class Run:
    hello: tuple[Load, Load]  # before and after the ticket reads
    tickets: dict[int, Load]  # by severity
    am_first: float
    am: Load
    vigie_first: float
    vigie_repeat: float  # the same pass again, one request at a time: every alert known
    vigie: Load

    def get_ratio(self, severity: int) -> float:
        return self.tickets[severity].rate / statistics.mean(h.rate for h in self.hello)


def hello_world(workdir: Path, seconds: int, name: str) -> Load:
    root_file = workdir / "root.txt"
    root_file.write_text("GET /\n")
    port = free_port()
    argv = [sys.executable, "-c", HELLO_WORLD, str(port)]
    with started("hello-world", argv, workdir / f"{name}.log") as pid:
        wait_ready(port, "/", pid)
        return wrk(
            port, root_file, connections=GET_CONNECTIONS, seconds=seconds, pid=pid, marker='"ok"'
        )


def one_run(workdir: Path, seconds: int) -> Run:
    python = sys.executable
    am_bodies = alertmanager_bodies()
    am_file = write_requests(workdir / "am.txt", "POST", "/api/v2/alerts", am_bodies)
    (workdir / "alertmanager.yml").write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    argv = [
        shutil.which("prometheus-alertmanager") or "prometheus-alertmanager",
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with started("alertmanager", argv, workdir / "alertmanager.log") as pid:
        wait_ready(port, "/-/ready", pid)
        am_first = first_pass(port, "/api/v2/alerts", am_bodies, None)
        am = wrk(
            port,
            am_file,
            connections=POST_CONNECTIONS,
            seconds=seconds,
            pid=pid,
            headers=["Content-Type: application/json"],
        )

    starts_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    vigie_bodies = webhook_bodies(starts_at)
    vigie_file = write_requests(workdir / "alerts.txt", "POST", "/api/v1/alerts", vigie_bodies)
    port = free_port()
    agent_dir = Path(tempfile.mkdtemp(dir=workdir, prefix="agent-"))
    argv = [python, "-m", "vigie", "run", "--config", str(agent_config(agent_dir, port))]
    with started("vigie", argv, workdir / "vigie.log") as pid:
        wait_ready(port, "/healthz", pid)
        vigie_first = first_pass(port, "/api/v1/alerts", vigie_bodies, INGEST_TOKEN)
        vigie_repeat = first_pass(port, "/api/v1/alerts", vigie_bodies, INGEST_TOKEN)
        vigie = wrk(
            port,
            vigie_file,
            connections=POST_CONNECTIONS,
            seconds=seconds,
            pid=pid,
            marker='"accepted":100',
            headers=["Content-Type: application/json", f"Authorization: Bearer {INGEST_TOKEN}"],
        )
        # The hello-world runs beside the idle agent (a fraction of a percent of a core).
        before = hello_world(workdir, seconds, "hello-before")
        tickets = {}
        for severity in SEVERITIES:
            path = f"/api/v1/tickets?limit=1&severity={severity}"
            status, page = request(port, "GET", path, token=VIEWER_TOKEN)
            if status != 200:
                raise SystemExit(f"GET {path}: {status} {page[:300]!r}")
            ticket_id = json.loads(page)["items"][0]["id"]
            ticket_file = workdir / f"ticket{severity}.txt"
            ticket_file.write_text(f"GET /api/v1/tickets/{ticket_id}\n")
            tickets[severity] = wrk(
                port,
                ticket_file,
                connections=GET_CONNECTIONS,
                seconds=seconds,
                pid=pid,
                marker=f'"id":"{ticket_id}"',
                headers=[f"Authorization: Bearer {VIEWER_TOKEN}"],
            )
        after = hello_world(workdir, seconds, "hello-after")
    return Run((before, after), tickets, am_first, am, vigie_first, vigie_repeat, vigie)


def describe(name: str, load: Load, unit: str, per_request: int = 1) -> str:
    return (
        f"  {name:<34} {load.rate * per_request:>9,.0f} {unit}  "
        f"server CPU {load.server_cpu / load.seconds:.2f} of a core, "
        f"{1000 * load.server_cpu / max(load.requests * per_request, 1):.3f} CPU-s/1000  "
        f"{load.checks}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="each measured window (s)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seconds = max(1, min(args.seconds, 60))
    runs = max(1, min(args.runs, 10))
    for program in ("taskset", "wrk", "prometheus-alertmanager"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is not installed (apt-get install util-linux wrk ...)")
    results: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="vigie-api-bench-") as tmp:
        for number in range(1, runs + 1):
            workdir = Path(tmp) / f"run{number}"
            workdir.mkdir()
            run = one_run(workdir, seconds)
            results.append(run)
            print(f"run {number}/{runs} ({seconds} s windows, servers on core 0, wrk on core 1)")
            print(describe("aiohttp hello-world GET / (before)", run.hello[0], "requests/s"))
            for severity, load in run.tickets.items():
                name = f"vigie GET /api/v1/tickets/{{id}} sev {severity}"
                print(describe(name, load, "requests/s"))
            print(describe("aiohttp hello-world GET / (after)", run.hello[1], "requests/s"))
            print(describe("alertmanager POST /api/v2/alerts", run.am, "alerts/s", BATCH))
            print(describe("vigie POST /api/v1/alerts", run.vigie, "alerts/s", BATCH))
            print(
                f"  first pass (10,000 new alerts, 1 request at a time): alertmanager "
                f"{run.am_first:,.0f} alerts/s, vigie {run.vigie_first:,.0f} alerts/s "
                f"(10,000 tickets created); the same again, every alert known: vigie "
                f"{run.vigie_repeat:,.0f} alerts/s",
                flush=True,
            )
    hello = statistics.median(h.rate for r in results for h in r.hello)
    am = statistics.median(r.am.rate * BATCH for r in results)
    vigie = statistics.median(r.vigie.rate * BATCH for r in results)
    post_ratios = [r.vigie.rate / r.am.rate for r in results]
    print(f"medians over {runs} runs (hello-world {hello:,.0f} requests/s):")
    for severity in SEVERITIES:
        ticket = statistics.median(r.tickets[severity].rate for r in results)
        get_ratios = [r.get_ratio(severity) for r in results]
        print(
            f"  GET /api/v1/tickets/{{id}}, severity {severity}: {ticket:,.0f} requests/s; "
            f"ratio {statistics.median(get_ratios):.2f} "
            f"(runs {min(get_ratios):.2f}-{max(get_ratios):.2f}; target >= 0.5)"
        )
    print(
        f"  POST /api/v1/alerts: {vigie:,.0f} alerts/s; alertmanager {am:,.0f}; "
        f"ratio {statistics.median(post_ratios):.2f} "
        f"(runs {min(post_ratios):.2f}-{max(post_ratios):.2f}; target >= 1.0)"
    )
    first_ratios = [r.vigie_first / r.am_first for r in results]
    print(
        f"  first pass: vigie {statistics.median(r.vigie_first for r in results):,.0f} "
        f"alerts/s, alertmanager {statistics.median(r.am_first for r in results):,.0f}; "
        f"ratio {statistics.median(first_ratios):.2f} "
        f"(runs {min(first_ratios):.2f}-{max(first_ratios):.2f}); repeated, every alert "
        f"known: vigie {statistics.median(r.vigie_repeat for r in results):,.0f} alerts/s"
    )


if __name__ == "__main__":
    main()
