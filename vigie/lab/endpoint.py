"""What every lab HTTPS endpoint shares: lifecycle on 127.0.0.1 and the HTTP faults.

The lab's SMPs and Access Points are aiohttp applications served over TLS. This module
owns starting and stopping them, the expired-certificate switch (CERT_EXPIRED) and the
HTTP faults (SMP_SLOW, SMP_5XX, SMP_SATURATED, which despite their names apply to any lab
endpoint), consulted on every request under the endpoint's name. It must never bind
anything but the address it is given, nor block the event loop while a fault delays an
answer.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from vigie.lab.faults import FaultKind, Faults
from vigie.lab.service import LabService, serve_app
from vigie.lab.tls import TlsMaterial, switchable_ssl_context

__all__ = ["DEFAULT_MAX_BODY_BYTES", "FaultGate", "LabHttpsServer"]

DEFAULT_MAX_BODY_BYTES = 1024**2

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Long enough for a normal answer to finish, short enough that stopping the lab while a
# slow fault holds requests does not stall a test run.
_SHUTDOWN_TIMEOUT_SECONDS = 1.0


class FaultGate:
    """aiohttp middleware applying the HTTP faults injected on one endpoint.

    In order: SMP_SATURATED admits at most `capacity` requests in flight, answers the
    others 503 with `Retry-After: 1` at once, and holds each admitted request for
    `delay` seconds times the number in flight, so latency climbs with load as on a real
    overloaded server; SMP_SLOW then waits `delay` seconds; SMP_5XX answers `status`
    instead of the real handler.
    """

    # Marks this as a new-style middleware; aiohttp warns about the old style otherwise.
    __middleware_version__ = 1

    def __init__(self, name: str, faults: Faults) -> None:
        self._name = name
        self._faults = faults
        self._in_flight = 0

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        saturated = self._faults.get(FaultKind.SMP_SATURATED, self._name)
        if saturated is not None and self._in_flight >= int(saturated.param("capacity", 2)):
            return web.Response(
                status=503, text="lab endpoint saturated\n", headers={"Retry-After": "1"}
            )
        self._in_flight += 1
        try:
            if saturated is not None:
                await asyncio.sleep(float(saturated.param("delay", 0.5)) * self._in_flight)
            slow = self._faults.get(FaultKind.SMP_SLOW, self._name)
            if slow is not None:
                await asyncio.sleep(float(slow.param("delay", 2.0)))
            failing = self._faults.get(FaultKind.SMP_5XX, self._name)
            if failing is not None:
                status = int(failing.param("status", 503))
                return web.Response(status=status, text=f"lab fault: HTTP {status}\n")
            return await handler(request)
        finally:
            self._in_flight -= 1


class LabHttpsServer(LabService):
    """One lab endpoint served over HTTPS; subclasses add their routes.

    Use as `async with Server(...) as server:` or call `start()` and `stop()`. `url` is
    `https://HOST:PORT` once started (with `port=0` the system picks the port).
    """

    def __init__(
        self,
        name: str,
        faults: Faults,
        tls: TlsMaterial,
        expired_tls: TlsMaterial | None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.name = name
        self.faults = faults
        self._tls = tls
        self._expired_tls = expired_tls
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        self.created_at = datetime.now(UTC)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @abstractmethod
    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register this endpoint's handlers."""

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError(f"lab endpoint {self.name!r} is not started")
        return self._url

    def _certificate_expired(self) -> bool:
        return self.faults.get(FaultKind.CERT_EXPIRED, self.name) is not None

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError(f"lab endpoint {self.name!r} is already started")
        app = web.Application(
            middlewares=[FaultGate(self.name, self.faults)],
            client_max_size=self._max_body_bytes,
        )
        self.add_routes(app.router)
        ssl_context = switchable_ssl_context(
            self._tls, self._expired_tls, self._certificate_expired
        )
        self._runner, address = await serve_app(
            app,
            self._host,
            self._port,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS,
            ssl_context=ssl_context,
        )
        self._url = f"https://{address}"

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()
