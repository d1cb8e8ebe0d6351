"""The aiohttp application: /metrics, /healthz, /readyz, the ticket API (/api/v1), the
on-call console (/console) and MCP for AI assistants (/mcp).

`create_app` is the only place that opens long-lived resources, each in a cleanup context
so it is closed in reverse order on shutdown: the store, then the scheduler. No globals:
everything hangs off typed `web.AppKey`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import socket
import uuid
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from correlator.correlator import Correlator
from correlator.probe_alerts import ProbeAlerts
from probes import PROBERS, Check, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.http_discovery import findings_view
from ticket_sink import Store, StoreError
from ticket_sink.agents import mark_stopped, register_agent
from ticket_sink.api import setup_api
from ticket_sink.console import CheckRow, ConsoleSettings, setup_console
from ticket_sink.mcp import setup_mcp
from ticket_sink.outbound.metrics import NotificationMetrics
from vigie import USER_AGENT, __version__
from vigie.api import api_settings
from vigie.config import VigieConfig
from vigie.correlation import AlertPump
from vigie.http import outbound_client
from vigie.metrics import build_registry
from vigie.notifications import notifications_context
from vigie.readiness import StoreWatch
from vigie.scheduler import Scheduler, in_shard
from vigie.ticket_metrics import TicketCollector

__all__ = [
    "BOOK",
    "CONFIG",
    "CORRELATOR",
    "PUMP",
    "REGISTRY",
    "SCHEDULER",
    "STORE",
    "create_app",
]

log = structlog.get_logger("vigie.app")

CONFIG = web.AppKey("config", VigieConfig)
BOOK = web.AppKey("book", ResultBook)
REGISTRY = web.AppKey("registry", CollectorRegistry)
STORE = web.AppKey("store", Store)
SCHEDULER = web.AppKey("scheduler", list[Scheduler])
CORRELATOR = web.AppKey("correlator", Correlator)
PUMP = web.AppKey("pump", AlertPump)
STORE_WATCH = web.AppKey("store_watch", list[StoreWatch])

# How long shutdown waits for in-flight checks after cancelling them.
_STOP_GRACE_SECONDS = 2.0


def create_app(
    config: VigieConfig,
    *,
    shard: tuple[int, int] = (0, 1),
    env: ProbeEnv | None = None,
) -> web.Application:
    app = web.Application()
    book = ResultBook()
    scheduler_ref: list[Scheduler] = []
    app[CONFIG] = config
    app[BOOK] = book
    app[SCHEDULER] = scheduler_ref
    app[REGISTRY] = build_registry(book, scheduler_ref, shard)
    app[STORE] = Store(config.store.url.get_secret_value())
    app[STORE_WATCH] = []
    # The agent's row in the store: its heartbeats, and the mark on what its worker claims.
    agent_id = uuid.uuid4().hex
    app.cleanup_ctx.append(_store_context(shard, agent_id))
    notification_metrics = NotificationMetrics()
    app[REGISTRY].register(notification_metrics)
    app.cleanup_ctx.append(
        notifications_context(app[STORE], config.notifications, notification_metrics, agent_id)
    )
    correlation = config.correlator
    correlator = Correlator(
        app[STORE], correlation.sla_policy(), correlation.policy(config.targets.sml)
    )
    app[CORRELATOR] = correlator
    app[PUMP] = AlertPump(
        correlator,
        ProbeAlerts(correlation.alert_rules()),
        sweep_interval=correlation.sweep_interval,
    )
    app[REGISTRY].register(TicketCollector(app[PUMP]))
    if correlation.enabled:
        app.cleanup_ctx.append(_correlator_context)
    app.cleanup_ctx.append(_scheduler_context(shard, env or ProbeEnv()))
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    settings = api_settings(
        config.api,
        store=app[STORE],
        policy=correlation.sla_policy(),
        correlator=correlator,
        probes=_probes,
        zones=config.targets.sml,
        env=env,
    )
    operations = setup_api(app, settings)
    if config.api.mcp.enabled:
        setup_mcp(
            app,
            operations,
            policy=settings.access,
            settings=config.api.mcp.settings(
                settings.max_body_bytes, settings.body_timeout_seconds
            ),
            version=__version__,
            clock=app[STORE].now,
        )
    console = config.console
    if console.enabled:
        setup_console(
            app,
            ConsoleSettings(
                api=settings,
                session_key=console.session_key(),
                session_seconds=console.session_lifetime,
                proxy=None if console.proxy is None else console.proxy.auth(),
                checks=functools.partial(_check_rows, book),
                secure_cookie=console.secure_cookie,
            ),
        )
    return app


def _check_rows(book: ResultBook) -> list[CheckRow]:
    """The latest result of every check, as the console's checks page shows it."""
    rows = []
    for record in book:
        check, result = record.check, record.result
        rows.append(
            CheckRow(
                kind=check.kind,
                service=check.service,
                target=check.target,
                success=None if result is None else result.success,
                reason="" if result is None else str(result.reason),
                detail="" if result is None else (result.detail or ""),
                finished_at=record.finished_at if result else None,
                values={} if result is None else dict(result.values),
            )
        )
    return rows


CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def _store_context(shard: tuple[int, int], agent_id: str) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]
        await store.open()
        await register_agent(
            store, agent_id, socket.gethostname(), f"{shard[0]}/{shard[1]}", __version__
        )
        watch = StoreWatch(store, agent_id, app[CONFIG].server.readiness_interval)
        app[STORE_WATCH].append(watch)
        heartbeat = asyncio.create_task(watch.run(), name="vigie-heartbeat")
        log.info("store_open", store=repr(store), agent_id=agent_id)
        try:
            yield
        finally:
            app[STORE_WATCH].clear()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(StoreError):
                await mark_stopped(store, agent_id)
            await store.close()

    return context


async def _correlator_context(app: web.Application) -> AsyncIterator[None]:
    """Feeds alerts to the store and sweeps; stops after the scheduler (cleanup runs in
    reverse), flushing what the last checks sent, and before the store closes."""
    pump = app[PUMP]
    tasks = [
        asyncio.create_task(pump.run(), name="vigie-alerts"),
        asyncio.create_task(pump.sweep_forever(), name="vigie-sweep"),
    ]
    try:
        yield
    finally:
        await pump.stop(tasks)


def _scheduler_context(shard: tuple[int, int], env: ProbeEnv) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        checks = [check for check in config.checks() if in_shard(check.key, shard)]
        for check in checks:
            app[BOOK].register(check)
        http = outbound_client()
        # Discovery checks read what other checks found (SMP URLs, Access Point URLs).
        book: ResultBook = app[BOOK]
        probe_env = dataclasses.replace(
            env, http=http, user_agent=USER_AGENT, findings=findings_view(book)
        )
        runner = Runner(PROBERS, probe_env, app[BOOK])
        run = runner.run
        if app[CONFIG].correlator.enabled:
            pump = app[PUMP]

            async def run(check: Check) -> ProbeResult:
                result = await runner.run(check)
                pump.on_result(check, result)
                return result

        scheduler = Scheduler(
            checks,
            run,
            limits=config.scheduler.limit,
            jitter=config.scheduler.jitter,
            initial_spread=config.scheduler.initial_spread,
        )
        app[SCHEDULER].append(scheduler)
        task = asyncio.create_task(scheduler.run(), name="vigie-scheduler")
        try:
            yield
        finally:
            scheduler.stop()
            try:
                async with asyncio.timeout(_STOP_GRACE_SECONDS):
                    await task
            except TimeoutError:
                log.warning("scheduler_stop_slow", grace_seconds=_STOP_GRACE_SECONDS)
            app[SCHEDULER].clear()
            await probe_env.aclose()
            await http.aclose()

    return context


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Ready while the store takes writes (as last seen by the store watch, never asked
    here) and the scheduler dispatches checks."""
    app = request.app
    schedulers, watches = app[SCHEDULER], app[STORE_WATCH]
    components = {
        "store": app[STORE].is_open and bool(watches) and watches[0].writable,
        "scheduler": bool(schedulers) and schedulers[0].running,
    }
    ready = all(components.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "components": components},
        status=200 if ready else 503,
    )


async def _probes(request: web.Request) -> web.Response:
    """The latest result of every check this agent runs (for agents and scripts)."""
    items = []
    for record in request.app[BOOK]:
        check, result = record.check, record.result
        items.append(
            {
                "kind": check.kind,
                "service": check.service,
                "target": check.target,
                "interval_seconds": check.interval,
                "success": None if result is None else result.success,
                "reason": None if result is None else str(result.reason),
                "detail": None if result is None else result.detail,
                "duration_seconds": record.duration if result else None,
                "finished_at": record.finished_at if result else None,
                "phases": {} if result is None else dict(result.phases),
                "values": {} if result is None else dict(result.values),
                "runs": {str(reason): count for reason, count in record.outcomes.items()},
            }
        )
    return web.json_response({"items": items})
