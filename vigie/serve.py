"""Serving an application until SIGTERM or SIGINT, then shutting down cleanly.

On a signal: stop accepting, let the cleanup contexts stop the scheduler (in-flight checks
are cancelled) and close the store, and return, so the process exits 0 with no traceback
well within 5 seconds.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from probes._config import split_host_port

__all__ = ["serve"]

log = structlog.get_logger("vigie.serve")

# Open HTTP connections (a Prometheus scrape, an SSE client) get this long to finish.
_CONNECTION_GRACE_SECONDS = 1.0


async def serve(
    app: web.Application,
    listen: str,
    *,
    started: Callable[[str], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve `app` on `listen` (host:port) until a signal or `stop` is set."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host, port = split_host_port(listen, default_port=0)
    # Bind before the application starts, so a taken port fails before the store opens.
    sock = socket.create_server((host, port), family=_family(host))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    try:
        await runner.setup()
        site = web.SockSite(runner, sock, shutdown_timeout=_CONNECTION_GRACE_SECONDS)
        await site.start()
        url = _url_of(runner, host)
        log.info("listening", url=url)
        if started is not None:
            await started(url)
        await stop.wait()
        log.info("stopping")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
        sock.close()
    log.info("stopped")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _url_of(runner: web.AppRunner, host: str) -> str:
    """The URL actually bound (port 0 becomes the port the kernel chose)."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound_host, bound_port = address[0], address[1]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            return f"http://{shown}:{bound_port}"
    return f"http://{host}"
