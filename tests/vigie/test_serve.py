"""The agent's server (`vigie.serve`) as a client meets it: request bodies are handed to
the application as they were sent, never decompressed on the event loop."""

from __future__ import annotations

import asyncio
import gzip

import httpx
from aiohttp import web

from vigie.serve import serve


async def test_a_compressed_body_reaches_the_application_as_sent() -> None:
    """A gzip body of a few kilobytes can stand for gigabytes: aiohttp would inflate it
    on the event loop, even while draining a body the handler refused."""

    async def length(request: web.Request) -> web.Response:
        return web.json_response({"bytes": len(await request.read())})

    app = web.Application()
    app.router.add_post("/echo-length", length)
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_start(url: str) -> None:
        started.set_result(url)

    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, "127.0.0.1", started=on_start, stop=stop))
    try:
        url = await asyncio.wait_for(started, 10)
        body = gzip.compress(b"\0" * (4 * 1024 * 1024))
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            response = await client.post(
                "/echo-length", content=body, headers={"Content-Encoding": "gzip"}
            )
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)

    assert response.status_code == 200
    assert response.json() == {"bytes": len(body)}
