"""A real `vigie demo` scraped by a real Prometheus on 127.0.0.1, to run the dashboards'
queries against: the integration test proves them with it, the picture script draws them.

It starts only its own two processes, on free loopback ports, with Prometheus's storage in
a directory the caller owns, and stops them by their handles. It never contacts a host
other than 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "RULES_DIR",
    "Stack",
    "expand",
    "running_stack",
    "variable_values",
    "waves",
]

RULES_DIR = Path(__file__).resolve().parent.parent / "deploy" / "rules"
SCRAPE_SECONDS = 2
# What Grafana gives $__rate_interval with a 15 s scrape interval (4 scrapes, at least 1m).
RATE_INTERVAL = "1m"
# Grafana escapes these in a multi-value or "All" variable used with =~ (its Prometheus
# datasource's prometheusSpecialRegexEscape).
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]])")
_LABEL_VALUES = re.compile(r"^label_values\((?P<match>.*),\s*(?P<label>\w+)\)$")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Stack:
    agent: str  # http://127.0.0.1:PORT of the demo agent
    control: str  # its lab control
    prometheus: str  # http://127.0.0.1:PORT of Prometheus
    started: float  # Unix time at which both were up

    def get(self, path: str, **params: Any) -> Any:
        """A Prometheus HTTP API answer's `data`; raises with Prometheus's error text."""
        answer = httpx.get(f"{self.prometheus}{path}", params=params, timeout=30)
        body = answer.json()
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Any]:
        data = self.get("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        return list(data["result"])

    def inject(self, faults: Iterable[tuple[str, str]]) -> list[int]:
        """Injects lab faults (kind, target); `@N` targets the lab's Nth participant."""
        participants = httpx.get(f"{self.control}/", timeout=10).json()["sample_participants"]
        ids = []
        for kind, target in faults:
            if target.startswith("@"):
                target = participants[int(target[1:])]
            answer = httpx.post(
                f"{self.control}/faults", json={"kind": kind, "target": target}, timeout=10
            )
            answer.raise_for_status()
            ids.append(int(answer.json()["id"]))
        return ids

    def heal(self, ids: Iterable[int]) -> None:
        for fault_id in ids:
            httpx.delete(f"{self.control}/faults/{fault_id}", timeout=10)

    def play(self, faults: Iterable[tuple[str, str]], baseline: float, hold: float) -> None:
        """Healthy runs for `baseline` seconds, then the faults in `waves`, each held for
        `hold` seconds and healed, except the last, left on for "failing now" panels."""
        time.sleep(baseline)  # real checks run meanwhile; nothing of ours to wait for
        groups = waves(faults)
        for number, wave in enumerate(groups, start=1):
            injected = self.inject(wave)
            time.sleep(hold)
            if number < len(groups):
                self.heal(injected)


def waves(faults: Iterable[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Splits faults into waves in which no two hit the same lab target, in order."""
    out: list[list[tuple[str, str]]] = []
    for fault in faults:
        for wave in out:
            if all(target != fault[1] for _, target in wave):
                wave.append(fault)
                break
        else:
            out.append([fault])
    return out


def _wait(ready: Callable[[], bool], what: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"process {process.pid} exited {process.returncode} before {what}"
                )
        with contextlib.suppress(httpx.HTTPError):
            if ready():
                return
        time.sleep(0.2)  # polling other processes
    raise RuntimeError(f"no {what} within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def prometheus_config(agent: str) -> str:
    """A scrape configuration for the agent at host:port, with deploy/rules loaded."""
    return (
        "global:\n"
        f"  scrape_interval: {SCRAPE_SECONDS}s\n"
        f"  evaluation_interval: {SCRAPE_SECONDS}s\n"
        "rule_files:\n"
        f"  - {RULES_DIR}/*.yml\n"
        "scrape_configs:\n"
        "  - job_name: vigie\n"
        "    static_configs:\n"
        f'      - targets: ["{agent}"]\n'
    )


@contextlib.contextmanager
def running_stack(workdir: Path, prometheus_bin: str, participants: int = 200) -> Iterator[Stack]:
    """The demo agent (no scenario of its own: the caller injects faults) and Prometheus."""
    agent, control, web = (f"127.0.0.1:{_free_port()}" for _ in range(3))
    config = workdir / "prometheus.yml"
    config.write_text(prometheus_config(agent), "utf-8")
    logs = [(workdir / name).open("wb") for name in ("demo.log", "prometheus.log")]
    demo_args = ["demo", "--listen", agent, "--control", control, "--no-scenario"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                [sys.executable, "-m", "vigie", *demo_args, "--participants", str(participants)],
                cwd=workdir,
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        )
        processes.append(
            subprocess.Popen(  # noqa: S603 (a program path the caller found)
                [
                    prometheus_bin,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address={web}",
                    "--log.level=warn",
                ],
                cwd=workdir,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        _wait(
            lambda: httpx.get(f"http://{agent}/readyz").status_code == 200, "ready agent", processes
        )
        _wait(
            lambda: httpx.get(f"http://{web}/-/ready").status_code == 200,
            "ready Prometheus",
            processes,
        )
        yield Stack(f"http://{agent}", f"http://{control}", f"http://{web}", time.time())
    finally:
        for process in reversed(processes):
            _stop(process)
        for log in logs:
            log.close()


def variable_values(stack: Stack, board: dict[str, Any]) -> dict[str, str]:
    """A value for each query variable of a dashboard, as Grafana would put it in a
    query: the first value Prometheus lists for it, regex-escaped, or the "All" value."""
    values: dict[str, str] = {}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        found = _LABEL_VALUES.match(variable["query"])
        if found is None:
            raise ValueError(f"unsupported variable query {variable['query']!r}")
        listed = stack.get(f"/api/v1/label/{found['label']}/values", **{"match[]": found["match"]})
        values[variable["name"]] = (
            _REGEX_SPECIAL.sub(r"\\\\\1", sorted(listed)[0]) if listed else variable["allValue"]
        )
    return values


def expand(expr: str, values: dict[str, str], range_seconds: float) -> str:
    """`expr` with Grafana's built-in and the dashboard's variables replaced."""
    builtins = {
        "__range": f"{int(range_seconds)}s",
        "__rate_interval": RATE_INTERVAL,
        "__interval": f"{SCRAPE_SECONDS}s",
    }
    names = {**builtins, **values}
    return re.sub(
        r"\$\{?(\w+)\}?",
        lambda match: names.get(match[1], match[0]),
        expr,
    )
