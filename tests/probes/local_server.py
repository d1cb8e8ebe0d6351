"""The scaffolding of the probes' hostile test servers: an aiohttp application on
127.0.0.1 (port 0) whose one route a subclass answers, run as an async context manager."""

from __future__ import annotations

import asyncio
from typing import Self

from aiohttp import web

from vigie.lab.service import serve_app


class LocalServer:
    """A server answering `handle` on `route` (for `method`) at `url` while the block
    runs. `release` is set before it stops, so a handler that hangs until then ends."""

    route = "/{name}"
    method = "GET"
    shutdown_timeout = 0.5

    def __init__(self) -> None:
        self.url = ""
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route(self.method, self.route, self.handle)
        self._runner, address = await serve_app(
            app, "127.0.0.1", 0, shutdown_timeout=self.shutdown_timeout
        )
        self.url = f"http://{address}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release.set()
        assert self._runner is not None
        await self._runner.cleanup()
