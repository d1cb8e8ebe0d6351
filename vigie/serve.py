"""Serving an application until SIGTERM or SIGINT, then shutting down cleanly.

On a signal: stop accepting, let the cleanup contexts stop the scheduler (in-flight checks
are cancelled) and close the store, and return, so the process exits 0 with no traceback
well within 5 seconds.

The server shares the process's descriptor table with the probes, so a flood of inbound
connections must never starve them: the soft descriptor limit is raised to the hard one,
a reserve is kept for probing, inbound connections are capped (the oldest idle one makes
room for a new one), and a connection that sends no complete headers, or idles between
requests, is closed after `idle_timeout`. A malformed request is answered with a bare
status (414 for a request target too long, 431 for header fields too large, 501 for an
unknown method): aiohttp's parser messages quote the offending header, which may be a
token.
Request bodies are never decompressed: a compressed one costs what it weighs on the wire.
"""

from __future__ import annotations

import asyncio
import re
import resource
import signal
import socket
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from vocab import split_host_port

__all__ = ["PROBE_DESCRIPTOR_RESERVE", "inbound_connection_cap", "raise_descriptor_limit", "serve"]

log = structlog.get_logger("vigie.serve")

# Open HTTP connections (a Prometheus scrape, an SSE client) get this long to finish.
_CONNECTION_GRACE_SECONDS = 1.0
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_IDLE_TIMEOUT = 10.0
# Descriptors kept out of the inbound cap: the outbound HTTP pool (200), DNS sockets, the
# store, log files, and the burst of sockets one accept() round may take before the cap
# is applied.
PROBE_DESCRIPTOR_RESERVE = 512
_MIN_INBOUND = 32
# Beyond this a raised limit buys nothing and makes per-descriptor tables huge.
_DESCRIPTOR_CEILING = 1 << 20
_REQUEST_TARGET = re.compile(rb"^(?:[A-Z]+ )?(?:/|[A-Za-z][A-Za-z0-9+.-]*://)")
_HEADERS_TOO_LARGE = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
_REFUSAL = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _DESCRIPTOR_CEILING if hard == resource.RLIM_INFINITY else hard
    target = min(target, _DESCRIPTOR_CEILING)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return _DESCRIPTOR_CEILING if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # a container may forbid it: keep what we have
        log.warning("descriptor_limit_unchanged", soft=soft, hard=hard, error=str(exc))
        return soft
    return target


def inbound_connection_cap(configured: int, descriptor_limit: int) -> int:
    """The configured cap, lowered so that the probes keep their reserve."""
    return max(_MIN_INBOUND, min(configured, descriptor_limit - PROBE_DESCRIPTOR_RESERVE))


async def serve(
    app: web.Application,
    listen: str,
    *,
    started: Callable[[str], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Serve `app` on `listen` (host:port) until a signal or `stop` is set."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host, port = split_host_port(listen, default_port=0)
    cap = inbound_connection_cap(max_connections, raise_descriptor_limit())
    # Bind before the application starts, so a taken port fails before the store opens.
    sock = socket.create_server((host, port), family=_family(host))
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=_CONNECTION_GRACE_SECONDS)
    try:
        await runner.setup()
        # Bodies are handed over as sent: aiohttp would decompress them on the event loop,
        # even one a handler refused while draining it, and a small gzip body can stand
        # for gigabytes. The interfaces refuse a compressed body (415).
        options = {"keepalive_timeout": idle_timeout, "auto_decompress": False}
        site = _CappedSite(runner, sock, cap, options)
        await site.start()
        url = _url_of(runner, host)
        log.info("listening", url=url, max_connections=cap, idle_timeout=idle_timeout)
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


class _Connection(web.RequestHandler):
    """aiohttp's connection handler, reporting its closing and answering parse errors
    with a bare status."""

    def __init__(self, closed: Callable[[_Connection], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._closed = closed

    @property
    def idle(self) -> bool:
        """No request is being handled: waiting for headers, or between requests."""
        return not self._request_in_progress

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closed(self)
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        status = _parse_error_status(status, exc)
        # The parser's message quotes the offending line ("Invalid header value char:
        # b'Authorization: Bearer ...'"): neither the body nor the log may repeat it.
        log.debug("bad_request", status=status, error=type(exc).__name__ if exc else None)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started: no room for an error")
        phrase = HTTPStatus(status).phrase
        response = web.Response(status=status, text=f"{status} {phrase}\n")
        response.force_close()
        return response


def _parse_error_status(status: int, exc: BaseException | None) -> int:
    """The status RFC 9110 and RFC 6585 give a request the parser refused, where aiohttp
    says 400: 414 for a request target over the line limit, 431 for a header field over
    it or too many header fields, 501 for a method it does not know."""
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        # The parser quotes the start of what was too long: the request line or its
        # target (a path, or an absolute URL), or else a header name or value.
        target = isinstance(line, bytes | bytearray) and _REQUEST_TARGET.match(line)
        return HTTPStatus.REQUEST_URI_TOO_LONG if target else _HEADERS_TOO_LARGE
    if isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc):
        return _HEADERS_TOO_LARGE
    if isinstance(exc, BadHttpMessage) and "Invalid method" in str(exc):
        # A method token the parser does not know: RFC 9110 answers 501, not 400.
        return HTTPStatus.NOT_IMPLEMENTED
    return status


class _Refused(asyncio.Protocol):
    """A connection over the cap: answered 503 at once and closed, so it holds a
    descriptor for one loop turn only."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSAL)
        transport.close()


class _CappedSite(web.BaseSite):
    """Serves `runner` on an already-bound socket, holding at most `cap` connections."""

    def __init__(
        self,
        runner: web.AppRunner,
        sock: socket.socket,
        cap: int,
        handler_options: dict[str, Any],
    ) -> None:
        super().__init__(runner)
        self._sock = sock
        self._cap = cap
        self._handler_options = handler_options
        # Insertion order is age: the first idle one is the one to close for a newcomer.
        self._open: dict[_Connection, None] = {}

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, sock=self._sock)

    def _accept(self) -> asyncio.Protocol:
        if len(self._open) >= self._cap and not self._make_room():
            log.warning("connection_refused", reason="max_connections", limit=self._cap)
            return _Refused()
        server = self._runner.server
        assert server is not None
        connection = _Connection(
            self._forget,
            server,
            loop=asyncio.get_running_loop(),
            access_log=None,
            **self._handler_options,
        )
        self._open[connection] = None
        return connection

    def _make_room(self) -> bool:
        for connection in self._open:
            if connection.idle:
                log.warning("connection_evicted", reason="max_connections", limit=self._cap)
                del self._open[connection]
                connection.force_close()
                return True
        return False

    def _forget(self, connection: _Connection) -> None:
        self._open.pop(connection, None)


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
