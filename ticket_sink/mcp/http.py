"""The MCP endpoint of the agent's own listener: Streamable HTTP at /mcp.

`setup_mcp` adds one aiohttp route, `/mcp`. Its handler checks the bearer token with the
API's access policy (401 without a valid one, unless anonymous reads are allowed), takes
only a POST of JSON (405, 415), reads its body within the API's size and time limits
(413, 408), refuses an invalid JSON-RPC envelope (`envelope`), then hands the request to
the SDK's session manager, an ASGI application, through `_serve_asgi` with the caller in
the ASGI scope. The session manager runs in a cleanup context of the app, and the SDK's
transport security checks the Host and Origin headers against the configured lists (DNS
rebinding). It must never let a request reach the MCP server without a checked caller,
never wait on a client's body without a deadline, and never log a token.

The bridge is ours, not a package's: aiohttp-asgi, the maintained bridge, matches its
resource by a bare path prefix (so `/mcpanything` would reach the MCP app), builds the ASGI
scope itself, leaving no way to hand the authenticated caller on but a context variable,
and merges repeated response headers. A Streamable HTTP exchange needs only the part
below: one request body in, one response (JSON or a stream) out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from ticket_sink.api.auth import AccessPolicy
from ticket_sink.api.framework import Operation, bearer, read_body
from ticket_sink.api.problems import Problem, problem_response
from ticket_sink.mcp.dispatch import Caller, LocalApi
from ticket_sink.mcp.envelope import refusal, refusal_response
from ticket_sink.mcp.server import CALLER_KEY, build_server

__all__ = ["MCP_PATH", "McpSettings", "setup_mcp"]

MCP_PATH = "/mcp"

Asgi = Callable[..., Any]


@dataclass(frozen=True)
class McpSettings:
    """How the endpoint is served; see docs/mcp.md."""

    # Host headers a request may carry (`host:*` allows any port); the SDK refuses others
    # with 421, which is what stops DNS rebinding against an agent on a private address.
    allowed_hosts: Sequence[str] = ("127.0.0.1:*", "localhost:*", "[::1]:*")
    # Origin headers a browser request may carry; requests without Origin pass.
    allowed_origins: Sequence[str] = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
    max_answer_bytes: int = 20_000  # each tool answer, before paging
    max_body_bytes: int = 1024 * 1024
    body_timeout_seconds: float = 30.0  # the whole body, however slowly it trickles


def setup_mcp(
    app: web.Application,
    operations: Sequence[Operation],
    *,
    policy: AccessPolicy,
    settings: McpSettings,
    version: str,
    clock: Callable[[], datetime],
) -> None:
    """Serve MCP at /mcp from `app`, its tools calling `operations` (the API's table)."""
    server = build_server(
        LocalApi(operations, policy),
        budget=settings.max_answer_bytes,
        version=version,
        clock=clock,
    )
    manager = StreamableHTTPSessionManager(
        app=server,
        # Stateless, with JSON answers: each POST is one exchange, so no session outlives
        # its request, and a token's rights are checked on every message.
        stateless=True,
        json_response=True,
        security_settings=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(settings.allowed_hosts),
            allowed_origins=list(settings.allowed_origins),
        ),
        max_request_body_size=settings.max_body_bytes,
    )
    app.cleanup_ctx.append(_manager_context(manager))

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            principal = bearer(request, policy)
            if principal.role is None and not policy.anonymous_read:
                raise Problem(
                    401,
                    "the MCP endpoint needs a bearer token",
                    kind="unauthorized",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            _check_post(request)
            # Read here, bounded in size and time like the API's bodies, so that the SDK
            # never waits on a client.
            body = await read_body(
                request, settings.max_body_bytes, settings.body_timeout_seconds, required=False
            )
        except Problem as problem:
            return problem_response(problem)
        reason = refusal(body)
        if reason is not None:
            return refusal_response(reason)
        scope = {CALLER_KEY: Caller(request, principal)}
        return await _serve_asgi(manager.handle_request, request, body, scope)

    app.router.add_route("*", MCP_PATH, handle)


def _check_post(request: web.Request) -> None:
    """405 for anything but a POST, 415 for a body not declared JSON.

    Stateless, the endpoint has no stream for a GET to open (the SDK would hold one open,
    empty, until the client leaves) and no session for a DELETE to end: the specification
    lets it answer both with 405.
    """
    if request.method != "POST":
        raise Problem(
            405,
            f"{request.method} is not allowed on {MCP_PATH}: send each JSON-RPC message "
            "with POST (this endpoint keeps no session and offers no stream)",
            headers={"Allow": "POST"},
        )
    if request.content_type != "application/json":
        raise Problem(
            415,
            "an MCP message is JSON (Content-Type: application/json)",
            field="Content-Type",
            kind="unsupported-media-type",
        )


def _manager_context(
    manager: StreamableHTTPSessionManager,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        # The manager's task group must end in the task it began in; aiohttp may start and
        # clean up an app from different tasks, so the manager gets a task of its own.
        started = asyncio.Event()
        stop = asyncio.Event()

        async def run() -> None:
            async with manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(run(), name="mcp-session-manager")
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiting.cancel()
            await task  # raises what stopped it
        try:
            yield
        finally:
            stop.set()
            await task

    return context


async def _serve_asgi(
    asgi: Asgi, request: web.Request, body: bytes, extra: dict[str, Any]
) -> web.StreamResponse:
    """`request`, whose `body` is already read, answered by the ASGI application `asgi`
    (HTTP only), `extra` in its scope."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.rel_url.raw_path.encode(),
        "query_string": request.query_string.encode(),
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
        "client": (request.remote or "", 0),
        "server": None,
        **extra,
    }
    finished = asyncio.Event()
    body_sent = False
    response: web.StreamResponse | None = None

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, ASGI's receive waits for the client to leave: here, for the
        # exchange to end.
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            response = web.StreamResponse(status=message["status"])
            for name, value in message.get("headers", ()):
                response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
            await response.prepare(request)
        elif message["type"] == "http.response.body" and response is not None:
            await response.write(message.get("body", b""))
            if not message.get("more_body", False):
                await response.write_eof()

    try:
        await asgi(scope, receive, send)
    finally:
        finished.set()
    if response is None:
        return problem_response(Problem(500, "the MCP server sent no answer"))
    return response
