"""A flood of slow inbound connections against an agent with a low descriptor limit: the
agent keeps answering /healthz, keeps probing, opens no ticket, and logs a bounded number
of lines. The agent is a real process (`vigie run`), its limit set before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import resource
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import free_port

DESCRIPTOR_LIMIT = 1024
SLOW_CONNECTIONS = 1100
FLOOD_SECONDS = 8.0
HEALTH_EVERY = 0.5


def _low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTOR_LIMIT, DESCRIPTOR_LIMIT))


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def local_target() -> Iterator[str]:
    """A target served from its own thread, so the flood's client loop cannot slow it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def slow_client(port: int, deadline: float) -> int:
    """Dribbles one header byte a second; reconnects when the agent closes it. Returns
    how many connections it opened."""
    loop = asyncio.get_running_loop()
    opened = 0
    while loop.time() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        opened += 1
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: agent\r\nX-Slow: ")
            while loop.time() < deadline and not reader.at_eof():
                writer.write(b"a")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1024), 1.0)
        except OSError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await asyncio.sleep(0.5)
    return opened


async def health_during(url: str, deadline: float) -> list[float | None]:
    """Seconds /healthz took on a fresh connection, every HEALTH_EVERY; None: failed."""
    loop = asyncio.get_running_loop()
    answers: list[float | None] = []
    while loop.time() < deadline:
        started = loop.time()
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                response = await client.get(f"{url}/healthz")
            answers.append(loop.time() - started if response.status_code == 200 else None)
        except httpx.HTTPError:
            answers.append(None)
        await asyncio.sleep(HEALTH_EVERY)
    return answers


async def wait_for(
    url: str, path: str, predicate: object, process: asyncio.subprocess.Process
) -> object:
    deadline = time.monotonic() + 30.0
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            assert process.returncode is None, "the agent exited"
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(f"{url}{path}")
                if response.status_code == 200 and predicate(response.json()):  # type: ignore[operator]
                    return response.json()
            await asyncio.sleep(0.2)
    pytest.fail(f"{path} never satisfied the test")


def probe_runs(body: dict[str, list[dict[str, object]]]) -> dict[str, int]:
    [probe] = body["items"]
    runs = probe["runs"]
    assert isinstance(runs, dict)
    return runs


@pytest.fixture
def enough_descriptors_for_the_flood() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CONNECTIONS + 512
    if soft < wanted:
        assert hard >= wanted, "the test itself needs descriptors for its slow clients"
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.mark.usefixtures("enough_descriptors_for_the_flood")
async def test_a_slow_connection_flood_starves_neither_health_nor_probes(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with local_target() as target:
        config = {
            "server": {"listen": f"127.0.0.1:{port}"},
            "log": {"format": "json"},
            "store": {"url": f"sqlite:///{tmp_path / 'vigie.db'}"},
            "scheduler": {"initial_spread": "0s"},
            "api": {"anonymous_read": True},
            "targets": {
                "http": [{"url": target, "name": "local", "interval": "1s", "timeout": "1s"}]
            },
        }
        config_file = tmp_path / "vigie.yaml"
        config_file.write_text(yaml.safe_dump(config))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vigie",
            "run",
            "--config",
            str(config_file),
            cwd=Path(__file__).parents[2],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_low_descriptor_limit,
        )
        try:
            before = probe_runs(
                await wait_for(
                    url, "/api/v1/probes", lambda body: probe_runs(body).get("ok"), process
                )  # type: ignore[arg-type]
            )
            deadline = asyncio.get_running_loop().time() + FLOOD_SECONDS
            flood = [
                asyncio.create_task(slow_client(port, deadline)) for _ in range(SLOW_CONNECTIONS)
            ]
            health = await health_during(url, deadline)
            opened = await asyncio.gather(*flood)
            async with httpx.AsyncClient(timeout=5.0) as client:
                after = probe_runs((await client.get(f"{url}/api/v1/probes")).json())
                tickets = (await client.get(f"{url}/api/v1/tickets")).json()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                _, err = await asyncio.wait_for(process.communicate(), 15)
            except TimeoutError:
                process.kill()
                _, err = await process.communicate()
    log = err.decode()

    assert sum(opened) >= SLOW_CONNECTIONS, "the flood did not open its connections"
    assert None not in health, f"/healthz failed during the flood: {health}"
    assert set(after) == {"ok"}, f"probes failed during the flood: {after}"
    assert after["ok"] - before["ok"] >= FLOOD_SECONDS / 2, "probing stalled"
    assert tickets["items"] == []
    lines = log.splitlines()
    assert len(lines) < 200, f"{len(lines)} log lines"
    assert "Too many open files" not in log
