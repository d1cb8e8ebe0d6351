"""The lab's on-call desk: an HTTP receiver for the agent's webhook notifications, so the
demo shows what on-call staff would be told (`GET /notifications` on it, or through the
lab control).

It keeps the latest notifications in memory (bounded) and never fails a delivery: a
receiver that drops or refuses is the fault injection's job, not this one's.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from aiohttp import web

from vigie.lab.service import LabService, serve_app

__all__ = ["LabReceiver"]

KEPT = 1_000


class LabReceiver(LabService):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.received: deque[dict[str, Any]] = deque(maxlen=KEPT)

    @property
    def url(self) -> str:
        """Where the agent posts: `http://HOST:PORT/notifications`."""
        if self._url is None:
            raise RuntimeError("the lab receiver is not started")
        return self._url

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the lab receiver is already started")
        app = web.Application()
        app.router.add_post("/notifications", self._receive)
        app.router.add_get("/notifications", self._list)
        self._runner, address = await serve_app(app, self._host, self._port, shutdown_timeout=0.5)
        self._url = f"http://{address}/notifications"

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {"unparsed": (await request.text())[:1000]}
        self.received.append(body if isinstance(body, dict) else {"body": body})
        return web.json_response({"status": "received"})

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"items": list(self.received)})
