"""`vigie demo` and `vigie lab` as a new user runs them: real processes, real ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    # The checkout under test first, whatever the virtualenv has installed.
    source = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, "-m", "vigie", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(predicate: object, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"exited {process.returncode} before {what}:\n{out}\n{err}")
        try:
            if predicate():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling a separate process, not waiting for a timer of ours
    pytest.fail(f"no {what} within {DEADLINE_SECONDS:g}s")


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[str, str, float]:
    started = time.monotonic()
    process.send_signal(signum)
    try:
        out, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"still running 10 s after signal {signum}:\n{err}")
    return out, err, time.monotonic() - started


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    agent, control = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    process = start(
        "demo",
        "--listen", agent,
        "--control", control,
        "--participants", "200",
        "--fault-every", "2s",
        cwd=tmp_path,
    )  # fmt: skip
    try:
        yield process, f"http://{agent}", f"http://{control}"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def lab_series(metrics_text: str) -> dict[str, float]:
    return {
        sample.labels["target"]: sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        # The name servers' SOA checks; the demo runs zone, participant and sweep checks too.
        if sample.name == "probe_success" and sample.labels["kind"] == "dns_soa"
    }


def test_demo_comes_up_with_metrics_for_the_lab_and_stops_cleanly(
    demo: tuple[subprocess.Popen[str], str, str],
) -> None:
    process, agent, control = demo
    wait_until(lambda: httpx.get(f"{agent}/readyz").status_code == 200, "/readyz 200", process)
    assert httpx.get(f"{agent}/healthz").status_code == 200
    wait_until(lambda: len(lab_series(httpx.get(f"{agent}/metrics").text)) == 2, "probe", process)
    targets = lab_series(httpx.get(f"{agent}/metrics").text)
    assert all(target.startswith("edelivery.test@127.0.0.1:") for target in targets)

    lab = httpx.get(f"{control}/").json()
    assert set(lab["nameservers"]) == {"ns1", "ns2"}
    assert process.stdout is not None
    banner = [process.stdout.readline()]
    while "sign in with" not in banner[-1] and len(banner) < 40:
        banner.append(process.stdout.readline())
    assert f"console       {agent}/console/" in "".join(banner)
    token = banner[-1].split()[3]
    signed_in = httpx.post(f"{agent}/console/login", data={"token": token})
    assert signed_in.status_code == 303
    assert "demo-responder" in httpx.get(f"{agent}/console/", cookies=signed_in.cookies).text
    wait_until(lambda: httpx.get(f"{control}/faults").json() != [], "a scenario fault", process)
    probes = httpx.get(f"{agent}/api/v1/probes").json()["items"]
    assert {item["target"] for item in probes if item["kind"] == "dns_soa"} == set(targets)
    assert {"dns_zone", "dns_participant", "dns_sweep"} <= {item["kind"] for item in probes}

    out, err, seconds = stop(process)
    assert process.returncode == 0, err
    assert seconds < 5
    assert "Traceback" not in err
    assert f"metrics       {agent}/metrics" in "".join(banner) + out
    assert '"event": "fault_injected"' in err


def test_demo_stops_on_sigint_too(demo: tuple[subprocess.Popen[str], str, str]) -> None:
    process, agent, _ = demo
    wait_until(lambda: httpx.get(f"{agent}/readyz").status_code == 200, "/readyz 200", process)
    _, err, seconds = stop(process, signal.SIGINT)
    assert process.returncode == 0, err
    assert seconds < 5
    assert "Traceback" not in err


def test_vigie_run_watches_a_separately_started_lab(tmp_path: Path) -> None:
    control = f"127.0.0.1:{free_port()}"
    config = tmp_path / "lab.yaml"
    lab = start("lab", "--participants", "100", "--control", control, "--write-config",
                str(config), cwd=tmp_path)  # fmt: skip
    agent = None
    try:
        wait_until(config.exists, "the lab's configuration file", lab)
        listen = f"127.0.0.1:{free_port()}"
        agent = start("run", "--config", str(config), "--listen", listen, cwd=tmp_path)
        wait_until(
            lambda: (
                list(lab_series(httpx.get(f"http://{listen}/metrics").text).values()) == [1.0, 1.0]
            ),
            "both name servers probed successfully",
            agent,
        )
        fault = httpx.post(f"http://{control}/faults", json={"kind": "ns_down", "target": "ns1"})
        assert fault.status_code == 201
        _, err, _ = stop(agent)
        assert agent.returncode == 0, err
    finally:
        for process in (agent, lab):
            if process is not None and process.poll() is None:
                _, err, _ = stop(process)
                assert process.returncode == 0, err
