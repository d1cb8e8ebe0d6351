"""The agent's server (`vigie.serve`) as a client meets it: request bodies are handed to
the application as they were sent, never decompressed on the event loop, and a request
too large to parse gets the status that says what was too large."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from vigie.serve import serve


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[int]:
    """`app` served by the agent's server on 127.0.0.1; its port."""
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_start(url: str) -> None:
        started.set_result(url)

    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, "127.0.0.1", started=on_start, stop=stop))
    try:
        url = await asyncio.wait_for(started, 10)
        yield int(url.rsplit(":", 1)[1])
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)


async def test_a_compressed_body_reaches_the_application_as_sent() -> None:
    """A gzip body of a few kilobytes can stand for gigabytes: aiohttp would inflate it
    on the event loop, even while draining a body the handler refused."""

    async def length(request: web.Request) -> web.Response:
        return web.json_response({"bytes": len(await request.read())})

    app = web.Application()
    app.router.add_post("/echo-length", length)
    body = gzip.compress(b"\0" * (4 * 1024 * 1024))
    async with served(app) as port, httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"http://127.0.0.1:{port}/echo-length",
            content=body,
            headers={"Content-Encoding": "gzip"},
        )

    assert response.status_code == 200
    assert response.json() == {"bytes": len(body)}


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        pytest.param(f"GET /{'a' * 9000} HTTP/1.1\r\n", 414, id="a target over the line limit"),
        pytest.param(f"GET / HTTP/1.1\r\nX-Note: {'b' * 9000}\r\n", 431, id="a long header"),
        pytest.param("GET / HTTP/1.1\r\n" + "X-N: b\r\n" * 200, 431, id="too many headers"),
        pytest.param("BREW /aaaa HTTP/1.1\r\n", 501, id="a method no server knows"),
    ],
)
async def test_a_request_too_large_to_parse_gets_the_status_that_says_why(
    request_head: str, status: int
) -> None:
    app = web.Application()
    async with served(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{request_head}Host: agent\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
        writer.close()
    assert answer.split(b"\r\n")[0].split(b" ")[1] == str(status).encode()
    assert b"aaaa" not in answer
    assert b"bbbb" not in answer
