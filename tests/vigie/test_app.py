"""The application serves health, readiness and Prometheus metrics of real checks run
against a local DNS server, with its store in a SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from probes import CheckRecord, ProbeEnv
from tests.probes.test_dns_soa import SERIAL, ZONE, Behaviour, FakeNameServer
from ticket_sink import Store
from ticket_sink.agents import list_agents
from vigie import __version__
from vigie.app import BOOK, SCHEDULER, STORE, create_app
from vigie.config import VigieConfig, parse_config
from vigie.scheduler import in_shard

DEADLINE_SECONDS = 5.0


@pytest.fixture
async def name_server() -> AsyncIterator[FakeNameServer]:
    server = FakeNameServer(Behaviour.SOA)
    await server.start()
    yield server
    await server.close()


def config_for(tmp_path: Path, name_server: FakeNameServer) -> VigieConfig:
    host, port = name_server.address
    return parse_config(
        f"""
store: {{url: "sqlite:///{tmp_path}/vigie.db"}}
scheduler: {{initial_spread: 0s}}
defaults: {{interval: 1h, timeout: 2s}}
targets:
  sml:
    - zone: {ZONE}
      nameservers: ["{host}:{port}"]
"""
    )


def target_of(name_server: FakeNameServer) -> str:
    host, port = name_server.address
    return f"{ZONE}@{host}:{port}"


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds; the app exposes state, not events, so poll it."""
    async with asyncio.timeout(DEADLINE_SECONDS):
        while not condition():  # noqa: ASYNC110 - polled state, bounded by the deadline
            await asyncio.sleep(0.01)


def scheduler_running(app: web.Application) -> bool:
    return bool(app[SCHEDULER]) and app[SCHEDULER][0].running


async def first_result(app: web.Application, key: str) -> CheckRecord:
    book = app[BOOK]
    await eventually(lambda: (record := book.get(key)) is not None and record.result is not None)
    record = book.get(key)
    assert record is not None
    return record


async def scrape(client: TestClient[web.Request, web.Application]) -> dict[str, list[Sample]]:
    response = await client.get("/metrics")
    assert response.status == 200
    # Prometheus's text exposition format.
    assert response.content_type == "text/plain"
    families = text_string_to_metric_families(await response.text())
    return {family.name: family.samples for family in families}


def value(families: dict[str, list[Sample]], name: str, **labels: str) -> float:
    (sample,) = [s for s in families[name] if labels.items() <= s.labels.items()]
    return sample.value


async def test_healthz(tmp_path: Path, name_server: FakeNameServer) -> None:
    async with TestClient(TestServer(create_app(config_for(tmp_path, name_server)))) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_readyz_once_started(tmp_path: Path, name_server: FakeNameServer) -> None:
    app = create_app(config_for(tmp_path, name_server))
    async with TestClient(TestServer(app)) as client:
        await eventually(lambda: scheduler_running(app))

        response = await client.get("/readyz")

        assert response.status == 200
        assert await response.json() == {
            "status": "ready",
            "components": {"store": True, "scheduler": True},
        }


async def test_readyz_503_when_the_store_is_not_open(
    tmp_path: Path, name_server: FakeNameServer
) -> None:
    app = create_app(config_for(tmp_path, name_server))
    async with TestClient(TestServer(app)) as client:
        await app[STORE].close()

        response = await client.get("/readyz")

        assert response.status == 503
        body = await response.json()
        assert body["status"] == "not ready"
        assert body["components"]["store"] is False


async def test_readyz_503_when_the_scheduler_stopped(
    tmp_path: Path, name_server: FakeNameServer
) -> None:
    app = create_app(config_for(tmp_path, name_server))
    async with TestClient(TestServer(app)) as client:
        (scheduler,) = app[SCHEDULER]
        scheduler.stop()
        await eventually(lambda: not scheduler.running)

        response = await client.get("/readyz")

        assert response.status == 503
        assert (await response.json())["components"] == {"store": True, "scheduler": False}


async def test_metrics_after_the_first_run(tmp_path: Path, name_server: FakeNameServer) -> None:
    app = create_app(config_for(tmp_path, name_server), env=ProbeEnv())
    target = target_of(name_server)
    async with TestClient(TestServer(app)) as client:
        await first_result(app, f"dns_soa:{target}")

        families = await scrape(client)

    labels = {"kind": "dns_soa", "service": "sml", "target": target}
    assert value(families, "probe_success", **labels) == 1.0
    assert value(families, "probe_failure_reason", **labels, reason="ok") == 1.0
    assert value(families, "probe_dns_soa_serial", **labels) == SERIAL
    assert value(families, "probe_runs", **labels, reason="ok") == 1.0
    assert value(families, "probe_duration_seconds", **labels) > 0
    # The agent's own metrics.
    assert value(families, "vigie_build_info", version=__version__) == 1.0
    assert value(families, "vigie_checks", kind="dns_soa") == 1.0
    assert value(families, "vigie_shard", index="0", count="1") == 1.0
    assert value(families, "vigie_scheduler_running") == 1.0
    assert value(families, "vigie_check_runs") >= 1.0
    assert "dns_soa" in {s.labels["kind"] for s in families["vigie_check_start_delay_seconds"]}
    # Process and platform metrics, as every Prometheus exporter has them.
    assert value(families, "process_cpu_seconds") > 0
    assert value(families, "process_resident_memory_bytes") > 0
    assert "python_info" in families


async def test_failing_target_shows_its_reason(tmp_path: Path) -> None:
    server = FakeNameServer(Behaviour.SERVFAIL)
    await server.start()
    try:
        app = create_app(config_for(tmp_path, server))
        target = target_of(server)
        async with TestClient(TestServer(app)) as client:
            await first_result(app, f"dns_soa:{target}")
            families = await scrape(client)
    finally:
        await server.close()

    labels = {"kind": "dns_soa", "service": "sml", "target": target}
    assert value(families, "probe_success", **labels) == 0.0
    assert value(families, "probe_failure_reason", **labels, reason="servfail") == 1.0
    assert "probe_dns_soa_serial" not in families


async def test_agent_runs_only_its_shard(tmp_path: Path, name_server: FakeNameServer) -> None:
    key = f"dns_soa:{target_of(name_server)}"
    other = (1, 2) if in_shard(key, (0, 2)) else (0, 2)
    config = config_for(tmp_path, name_server)
    app = create_app(config, shard=other)
    async with TestClient(TestServer(app)) as client:
        families = await scrape(client)
        (scheduler,) = app[SCHEDULER]
        keys = [check.key for check in scheduler.checks]

    assert key not in keys
    assert keys == [check.key for check in config.checks() if in_shard(check.key, other)]
    assert value(families, "vigie_shard", index=str(other[0]), count="2") == 1.0
    assert not any(sample.labels["kind"] == "dns_soa" for sample in families["probe_success"])


async def test_agent_is_registered_then_marked_stopped(
    tmp_path: Path, name_server: FakeNameServer
) -> None:
    config = config_for(tmp_path, name_server)
    async with TestClient(TestServer(create_app(config, shard=(0, 1)))):
        pass

    async with Store(config.store.url.get_secret_value()) as store:
        (agent,) = await list_agents(store)
    assert (agent.shard, agent.version) == ("0/1", __version__)
    assert agent.stopped_at is not None
