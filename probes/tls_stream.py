"""One fresh client connection for the fresh-connection checks: TCP, TLS over memory BIOs.

`ClientStream.open(host, port)` connects; `start_tls` runs a client handshake over memory
BIOs (the caller's context decides what is verified); then `write` and the reads that
`probes.http_burst.read_body` needs (`readuntil`, `readexactly`, `read`). The socket is
driven by an asyncio protocol: it stays registered with the loop from connect to close,
and bytes are handed over as they arrive, which costs less per wait than `sock_recv`
(a certificate check spends about a tenth less CPU). Reads past 256 KiB of unread data
pause the socket, so a large answer is never buffered whole. `close` drops the connection at once,
without a close_notify round trip: nothing of a check outlives it. Errors are the
socket's and ssl's own exceptions; callers turn them into reasons.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from typing import Any, cast

__all__ = ["ClientStream", "resolve"]

_READ_LIMIT = 64 * 1024  # a header or chunk line
_PAUSE_ABOVE = 256 * 1024  # unread bytes held before the socket is paused


@functools.lru_cache(maxsize=256)
def _literal_address(host: str, port: int) -> tuple[int, tuple[Any, ...]] | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.version == 6:
        return socket.AF_INET6, (str(ip), port, 0, 0)
    return socket.AF_INET, (str(ip), port)


async def resolve(
    loop: asyncio.AbstractEventLoop, host: str, port: int
) -> tuple[int, tuple[Any, ...]]:
    """(family, address) of `host`; an IP address skips getaddrinfo, which runs in a
    thread and would cost more than the rest of the connect."""
    literal = _literal_address(host, port)
    if literal is not None:
        return literal
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, address = infos[0]
    return family, address


class ClientStream(asyncio.Protocol):
    """A connected socket, plain or TLS over memory BIOs, read like an asyncio.StreamReader."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._transport: asyncio.Transport | None = None
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()  # ciphertext received, for the SSLObject
        self._outgoing = ssl.MemoryBIO()
        self._buffer = b""  # plaintext received and not read yet
        self._arrived = False  # bytes came since the last wait
        self._eof = False  # the peer closed (or the connection broke)
        self._ended = False  # the plaintext stream has ended
        self._error: Exception | None = None
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> ClientStream:
        """Connect to `host:port` (name resolution included); the socket is closed if
        this fails or is cancelled."""
        loop = asyncio.get_running_loop()
        family, address = await resolve(loop, host, port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            stream = cls(sock)
            await loop.create_connection(lambda: stream, sock=sock)
        except BaseException:
            sock.close()
            raise
        return stream

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> ssl.SSLObject:
        """A client handshake. The client's last flight (TLS 1.3's Finished) goes out with
        the next write, or at `close`: one segment fewer for a request that follows."""
        tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._tls = tls
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if not await self._more():
                    raise ConnectionResetError("closed by the server mid-handshake") from None
        return tls

    def write(self, data: bytes) -> None:
        if self._tls is None:
            self._send(data)
            return
        self._tls.write(data)
        self._flush()

    async def readuntil(self, separator: bytes) -> bytes:
        while True:
            index = self._buffer.find(separator)
            if index >= 0:
                end = index + len(separator)
                line, self._buffer = self._buffer[:end], self._buffer[end:]
                return line
            if len(self._buffer) > _READ_LIMIT:
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

    def close(self) -> None:
        """Send what is pending (no close_notify) and drop the connection; idempotent."""
        if self._transport is not None:
            if not self._transport.is_closing():
                self._flush()
            self._transport.abort()
        self._sock.close()

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._tls is None:
            self._buffer += data
            held = len(self._buffer)
        else:
            self._incoming.write(data)
            held = self._incoming.pending + len(self._buffer)
        if held > _PAUSE_ABOVE and self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._arrived = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self._error is None:
            self._error = exc
        self._eof = True
        self._wake()

    # -- internals ----------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _more(self) -> bool:
        """Wait until bytes arrive; False once the peer has closed and nothing is new.
        A socket error is raised as it is."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        if not self._arrived and not self._eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._arrived:
            self._arrived = False
            return True
        if self._error is not None:
            raise self._error
        return False

    async def _fill(self) -> bool:
        """Read more plaintext into the buffer; False at the end of the stream."""
        if self._ended:
            return False
        tls = self._tls
        if tls is None:
            self._ended = not await self._more()
            return not self._ended
        while True:
            if self._incoming.pending or tls.pending() or self._incoming.eof:
                try:
                    data: bytes | None = tls.read(65536)
                except ssl.SSLWantReadError:
                    data = None  # a record still incomplete, or a resumption ticket
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""
                if data:
                    self._buffer += data
                    return True
                if data is not None:
                    self._ended = True
                    return False
            # Waits without asking tls.read when nothing came in: its SSLWantReadError costs.
            if not await self._more():
                if self._incoming.eof:
                    self._ended = True
                    return False
                self._incoming.write_eof()  # tls.read then tells a clean close from a cut

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self._send(pending)

    def _send(self, data: bytes) -> None:
        # As a socket would: bytes for a peer that has gone are dropped, and the read
        # that follows tells what happened.
        assert self._transport is not None
        self._transport.write(data)
