"""The fresh-connection HTTP/1.1 GET of the endpoint checks, lean enough for the CPU target.

Most `http` checks open a new connection, make one GET and close it. Through httpx that
costs about twice blackbox_exporter's CPU per check (anyio's TLS stream, the connection
pool, the client's layers), so those checks take this path instead: a non-blocking
socket, the TLS handshake over memory BIOs (`probes.tls_chain`, as the certificate checks
do), one request prepared as bytes, the answer read with `probes.http_burst`'s parser.
Redirects are followed by hand, at most `max_redirects`, and a URL seen twice is a loop
(the same rules as `probes.smp_http.fetch`, which keep-alive and HTTP/2 checks use).
Phases: connect (name resolution included), tls, ttfb, transfer. Every target's fault
ends as a `Failed`; the socket is always closed before returning.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from probes._base import FailureReason
from probes.http_burst import Head, TooLarge, parse_head, read_body
from probes.http_client import TlsFacts
from probes.smp_http import Failed
from probes.tls_chain import _resolve, presented_chain

__all__ = ["FastAnswer", "fast_get"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class FastAnswer:
    url: str  # after redirects
    status: int
    body: bytes
    requests: int
    tls: TlsFacts | None


class _Connection:
    """One socket, plain or TLS over memory BIOs, read like an asyncio.StreamReader."""

    def __init__(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._tls: ssl.SSLObject | None = None
        self._bio_in = ssl.MemoryBIO()
        self._bio_out = ssl.MemoryBIO()
        self._buffer = b""
        self._eof = False

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> ssl.SSLObject:
        # The loop of tls_chain._handshake, keeping the BIOs for the request that follows.
        tls = context.wrap_bio(self._bio_in, self._bio_out, server_hostname=server_hostname)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = self._bio_out.read()
                if pending:
                    await self._loop.sock_sendall(self._sock, pending)
                received = await self._loop.sock_recv(self._sock, 65536)
                if not received:
                    raise ConnectionResetError("closed by the server mid-handshake") from None
                self._bio_in.write(received)
        self._tls = tls
        await self._flush()  # the client's Finished (TLS 1.3), sent with the request
        return tls

    async def send(self, data: bytes) -> None:
        if self._tls is None:
            await self._loop.sock_sendall(self._sock, data)
            return
        self._tls.write(data)
        await self._flush()

    async def _flush(self) -> None:
        assert self._tls is not None
        pending = self._bio_out.read()
        if pending:
            await self._loop.sock_sendall(self._sock, pending)

    async def _fill(self) -> bool:
        """Read more into the buffer; False at the end of the stream."""
        if self._eof:
            return False
        if self._tls is None:
            data = await self._loop.sock_recv(self._sock, 65536)
            if not data:
                self._eof = True
                return False
            self._buffer += data
            return True
        while True:
            try:
                data = self._tls.read(65536)
            except ssl.SSLWantReadError:
                received = await self._loop.sock_recv(self._sock, 65536)
                if not received:
                    self._bio_in.write_eof()
                else:
                    self._bio_in.write(received)
                continue
            except ssl.SSLZeroReturnError:
                data = b""
            except ssl.SSLEOFError:
                data = b""
            if not data:
                self._eof = True
                return False
            self._buffer += data
            return True

    async def readuntil(self, separator: bytes) -> bytes:
        while True:
            index = self._buffer.find(separator)
            if index >= 0:
                end = index + len(separator)
                line, self._buffer = self._buffer[:end], self._buffer[end:]
                return line
            if len(self._buffer) > _HEAD_LIMIT:
                raise ValueError("a header or chunk line longer than 64 KiB")
            if not await self._fill():
                raise asyncio.IncompleteReadError(self._buffer, None)

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not await self._fill():
                raise asyncio.IncompleteReadError(self._buffer, n)
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    async def read(self, n: int) -> bytes:
        if not self._buffer and not await self._fill():
            return b""
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data


async def fast_get(
    url: str,
    context: ssl.SSLContext,
    *,
    max_body: int,
    max_redirects: int,
    user_agent: str,
    clock: Callable[[], float],
    phases: dict[str, float],
) -> FastAnswer | Failed:
    """GET `url` on fresh connections (one per redirect), adding up `phases`; the caller
    bounds the time."""
    visited = [url]
    current = url
    tls: TlsFacts | None = None
    while True:
        answer = await _one(current, context, max_body, user_agent, clock, phases)
        if isinstance(answer, Failed):
            return answer
        head, body, facts = answer
        tls = facts or tls
        if head.status not in _REDIRECTS or not head.location:
            return FastAnswer(current, head.status, body, len(visited), tls)
        following = urljoin(current, head.location)
        if following in visited:
            chain = " -> ".join([*visited, following][-4:])
            return Failed(FailureReason.HTTP_REDIRECT_LOOP, f"redirect loop: {chain}")
        if len(visited) > max_redirects:
            return Failed(
                FailureReason.HTTP_REDIRECT_LOOP,
                f"more than {max_redirects} redirects (last to {following})",
            )
        visited.append(following)
        current = following


def _add(phases: dict[str, float], phase: str, seconds: float) -> None:
    phases[phase] = phases.get(phase, 0.0) + seconds


async def _one(
    url: str,
    context: ssl.SSLContext,
    max_body: int,
    user_agent: str,
    clock: Callable[[], float],
    phases: dict[str, float],
) -> tuple[Head, bytes, TlsFacts | None] | Failed:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return Failed(FailureReason.NETWORK_ERROR, f"unsupported URL: {url[:100]}")
    host = parts.hostname
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        return Failed(FailureReason.NETWORK_ERROR, f"invalid port in {url[:100]}")
    authority = f"[{host}]" if ":" in host else host
    if parts.port:
        authority += f":{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: */*\r\n"
        f"User-Agent: {user_agent}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    loop = asyncio.get_running_loop()
    sock: socket.socket | None = None
    phase = "connect"
    mark = clock()
    facts: TlsFacts | None = None
    try:
        family, address = await _resolve(loop, host, port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
        connection = _Connection(sock)
        now = clock()
        _add(phases, phase, now - mark)
        mark = now
        if https:
            phase = "tls"
            tls = await connection.start_tls(context, host)
            cipher = tls.cipher()
            facts = TlsFacts(tls.version() or "", cipher[0] if cipher else "", presented_chain(tls))
            now = clock()
            _add(phases, phase, now - mark)
            mark = now
        phase = "ttfb"
        await connection.send(request)
        head = parse_head(await connection.readuntil(b"\r\n\r\n"))
        now = clock()
        _add(phases, phase, now - mark)
        mark = now
        phase = "transfer"
        body = await read_body(connection, head, max_body)
        _add(phases, phase, clock() - mark)
        return head, body, facts
    except TooLarge:
        _add(phases, phase, clock() - mark)
        return Failed(FailureReason.HTTP_TOO_LARGE, f"more than {max_body} bytes, not read")
    except ssl.SSLCertVerificationError as exc:
        message = exc.verify_message or exc.reason or str(exc)
        return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS: {message}")
    except ssl.SSLError as exc:
        return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS: {exc.reason or exc}")
    except ConnectionRefusedError:
        return Failed(FailureReason.CONNECTION_REFUSED, "connection refused")
    except (asyncio.IncompleteReadError, ValueError) as exc:
        what = "closed before an answer" if phase == "ttfb" else "broken HTTP answer"
        return Failed(FailureReason.MALFORMED_RESPONSE, f"{what}: {str(exc)[:80]}")
    except OSError as exc:
        if phase == "tls":
            return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS: {exc.strerror or exc}")
        return Failed(FailureReason.NETWORK_ERROR, exc.strerror or str(exc) or type(exc).__name__)
    finally:
        if sock is not None:
            sock.close()
