"""Local HTTP receivers for the sinks' tests: aiohttp servers on 127.0.0.1, port 0, that
record what they get and answer as the test says."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Answer = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    ids: Counter[str] = field(default_factory=Counter)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


async def ok(request: web.Request, body: bytes) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


@asynccontextmanager
async def receiver(answer: Answer = ok, *, port: int = 0) -> AsyncIterator[Receiver]:
    """A server that records every request (and the Idempotency-Key it carried)."""
    found = Receiver()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        found.requests.append(Received(request.path, dict(request.headers), body))
        if "Idempotency-Key" in request.headers:
            found.ids[request.headers["Idempotency-Key"]] += 1
        found.arrived.set()
        return await answer(request, body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{bound}"
    try:
        yield found
    finally:
        await runner.cleanup()
