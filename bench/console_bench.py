"""The console's pages against the API's JSON for the same data, measured in one run.

    .venv/bin/python bench/console_bench.py [--requests 30]

A SQLite store in a temporary directory gets 10,000 open top-level tickets of every
severity and one master with 1,000 children. An agent-like server (the API and the
console on one aiohttp app, in a child process, so that the client does not share its
interpreter) answers, one request at a time over 127.0.0.1:

- the incidents page (`GET /console/`, 50 masters a page, the first page and page 100)
  next to `GET /api/v1/tickets?master=none&state=...&limit=50` (the same tickets);
- the master's ticket page (`GET /console/tickets/{id}`, every child listed) next to
  `GET /api/v1/tickets/{id}` (the detail, every child summarised) read anew, a write to
  another ticket before each request defeating its cache; then, for scale, the same
  detail from its cache and the five pages of `GET /api/v1/tickets?master={id}&limit=200`
  that list the children whole.

The figure is the server's time per request, from a `Server-Timing` header that the
child's middleware sets around the handler (the time to read the request and write the
answer is left out on both sides), median over the requests after 3 of warm-up; and the
ratio console / API (target <= 2). It also prints the JavaScript and CSS the console
ships (target <= 60 KB uncompressed). Bounded: at most 200 requests of each kind; the
child is stopped by its PID when the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _processes import free_port, stop  # noqa: E402

from ticket_sink import Correlation, Store  # noqa: E402
from ticket_sink.api import (  # noqa: E402
    AccessPolicy,
    ApiSettings,
    ApiToken,
    Role,
    hash_token,
    setup_api,
)
from ticket_sink.console import ConsoleSettings, setup_console  # noqa: E402
from ticket_sink.console.render import Renderer  # noqa: E402
from ticket_sink.lifecycle import created  # noqa: E402
from ticket_sink.model import Severity, Ticket, TicketType  # noqa: E402
from ticket_sink.sla import default_policy  # noqa: E402

OPEN_TICKETS = 10_000
CHILDREN = 1_000
WARM_UP = 3
TOKEN = "bench-responder-token"
UNRESOLVED = "state=new&state=open&state=in_progress&state=on_hold"


async def populate(url: str) -> str:
    """10,000 open tickets and a master with 1,000 children; the master's id."""
    store = Store(url)
    await store.open()
    start = datetime.now(UTC) - timedelta(days=2)
    try:
        master_id = "TMASTER0000"
        async with store.transaction(write=True, buffered=True) as tx:
            for index in range(OPEN_TICKETS + 1 + CHILDREN):
                is_master = index == OPEN_TICKETS
                ticket = Ticket(
                    id=master_id if is_master else f"T{index:010d}",
                    fingerprint=f"{index:016x}",
                    title=f"SmlNameServerFailing: ns{index % 7}.zone{index % 40}.test (timeout)",
                    type=TicketType.INCIDENT,
                    severity=Severity(1 + index % 4),
                    created_at=start + timedelta(seconds=index),
                    labels={"service": "sml", "target": f"ns{index % 7}", "zone": f"z{index % 40}"},
                    master_id=master_id if index > OPEN_TICKETS else None,
                )
                correlation = Correlation.for_labels(ticket.labels)
                await tx.insert(ticket, correlation, created(ticket, actor="bench"))
    finally:
        await store.close()
    return master_id


def serve(url: str, port: int) -> None:
    """The child: the API and the console on one app, with a Server-Timing middleware."""
    from aiohttp import web

    @web.middleware
    async def timing(request: web.Request, handler: Any) -> web.StreamResponse:
        began = time.perf_counter()
        response: web.StreamResponse = await handler(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.3f}"
        return response

    store = Store(url)
    settings = ApiSettings(
        store=store,
        policy=default_policy(),
        access=AccessPolicy(tokens=[ApiToken("bench", Role.RESPONDER, hash_token(TOKEN))]),
    )
    app = web.Application(middlewares=[timing])

    async def lifetime(app: web.Application) -> Any:
        await store.open()
        yield
        await store.close()

    app.cleanup_ctx.append(lifetime)
    setup_api(app, settings)
    setup_console(app, ConsoleSettings(api=settings, session_key=os.urandom(32)))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def server_ms(client: httpx.Client, path: str, count: int, before: Any = None) -> float:
    times = []
    for index in range(WARM_UP + count):
        if before is not None:
            before()
        response = client.get(path)
        response.raise_for_status()
        if index >= WARM_UP:
            times.append(float(response.headers["Server-Timing"].split("dur=")[1]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    count = max(1, min(args.requests, 200))
    with tempfile.TemporaryDirectory(prefix="vigie-console-bench-") as workdir:
        url = f"sqlite:///{workdir}/vigie.db"
        began = time.perf_counter()
        master = asyncio.run(populate(url))
        print(
            f"stored {OPEN_TICKETS + 1 + CHILDREN:,} tickets in {time.perf_counter() - began:.1f} s"
        )
        port = free_port()
        child = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        client.get("/console/login").raise_for_status()
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                client.post("/console/login", data={"token": TOKEN})
                api = {"Authorization": f"Bearer {TOKEN}"}
                api_client = httpx.Client(base_url=base, timeout=30, headers=api)

                def change_another_ticket() -> None:
                    # A write moves the store's data version: the API's detail cache misses.
                    api_client.post(
                        "/api/v1/tickets/T0000000000/comments", json={"text": "bench"}
                    ).raise_for_status()

                incidents_api = f"/api/v1/tickets?master=none&{UNRESOLVED}&limit=50"
                detail = f"/api/v1/tickets/{master}"
                rows: list[tuple[str, str, str | None, Any]] = [
                    ("incidents page 1", "/console/", incidents_api, None),
                    ("incidents page 100", "/console/?page=100", None, None),
                    (
                        "master, 1,000 children",
                        f"/console/tickets/{master}",
                        detail,
                        change_another_ticket,
                    ),
                ]
                print(f"\nserver time per request, median of {count} (ms)")
                print(f"{'page':30} {'console':>9} {'API JSON':>9} {'ratio':>6}")
                for name, page, json_path, before in rows:
                    console_ms = server_ms(client, page, count)
                    if json_path is None:
                        print(f"{name:30} {console_ms:9.2f}")
                        continue
                    api_ms = server_ms(api_client, json_path, count, before)
                    print(f"{name:30} {console_ms:9.2f} {api_ms:9.2f} {console_ms / api_ms:6.2f}")
                cached = server_ms(api_client, detail, count)
                print(f"{'  the detail from its cache':30} {'':9} {cached:9.2f}")
                pages_ms = 0.0
                cursor = None
                for _ in range(CHILDREN // 200 + 1):
                    path = f"/api/v1/tickets?master={master}&limit=200"
                    if cursor:
                        path += f"&cursor={cursor}"
                    response = api_client.get(path)
                    pages_ms += float(response.headers["Server-Timing"].split("dur=")[1])
                    cursor = response.json()["next_cursor"]
                    if cursor is None:
                        break
                listed = "  the children, listed whole"
                print(f"{listed:30} {'':9} {pages_ms:9.2f}   (5 pages of 200, once)")
                api_client.close()
        finally:
            stop(child, 10)
    assets = Renderer().script_and_style_bytes()
    print(
        f"\nJavaScript + CSS shipped: {assets:,} bytes ({assets / 1024:.1f} KiB; target <= 60 KB)"
    )


if __name__ == "__main__":
    main()
