"""A lean HTTP/1.1 load loop for the capacity checks: measure the endpoint, not ourselves.

A capacity burst must report the server's latency, so the client's cost per request must
stay far below it: httpx spends about a millisecond of CPU per request, which on one core
would become queueing in our own event loop at a few hundred requests per second. Here
each worker keeps one connection (as wrk does), sends a request prepared once, and reads
just the status line, the headers and a body bounded by Content-Length, chunks or the
connection's end, never more than `max_body` bytes. Latency runs from the write to the
last byte, by `clock` (time.perf_counter unless injected); connecting is not counted.
Every request ends as a `Sample`; nothing here raises for the server's fault.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from vocab.errors import TargetError

__all__ = [
    "BurstTarget",
    "Head",
    "Reader",
    "Sample",
    "TooLarge",
    "parse_head",
    "read_body",
    "run_burst",
]

TRANSPORT_ERROR = 0  # Sample.status of a request that got no HTTP answer
_HEADER_LIMIT = 64 * 1024
_LINES_PER_TURN = 256  # chunk lines read before other tasks get a turn


@dataclass(frozen=True, slots=True)
class BurstTarget:
    host: str
    port: int
    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    request: bytes
    max_body: int
    request_timeout: float

    @classmethod
    def of(
        cls, url: str, ssl_context: ssl.SSLContext | None, *, max_body: int, timeout: float
    ) -> BurstTarget:
        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = f"[{host}]" if ":" in host else host
        if parts.port:
            authority += f":{parts.port}"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: */*\r\n"
            "User-Agent: vigie-capacity\r\n\r\n"
        ).encode("ascii")
        context = (ssl_context or ssl.create_default_context()) if https else None
        return cls(host, port, context, host if https else None, request, max_body, timeout)


@dataclass(frozen=True, slots=True)
class Sample:
    latency: float
    status: int  # TRANSPORT_ERROR when there was no HTTP answer
    error: str = ""  # timeout, reset, refused, tls, malformed, too_large


class _Broken(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Pacer:
    """At most `rate` request starts per second, shared by every worker of a burst."""

    def __init__(self, rate: float, loop: asyncio.AbstractEventLoop) -> None:
        self._gap = 1.0 / rate
        self._loop = loop
        self._next = loop.time()

    async def wait(self) -> None:
        now = self._loop.time()
        slot = max(now, self._next)
        self._next = slot + self._gap
        if slot > now:
            await asyncio.sleep(slot - now)


async def run_burst(
    target: BurstTarget,
    *,
    concurrency: int,
    duration: float,
    rate: float,
    max_requests: int,
    clock: Callable[[], float],
) -> tuple[list[Sample], float]:
    """`concurrency` workers for at most `duration` s and `max_requests`: samples, wall s."""
    loop = asyncio.get_running_loop()
    pacer = _Pacer(rate, loop)
    samples: list[Sample] = []
    started = clock()
    deadline = started + duration

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while len(samples) < max_requests:
                await pacer.wait()
                if clock() >= deadline:
                    return
                try:
                    if connection is None:
                        connection = await _connect(target)
                    begun = clock()
                    status, keep = await _exchange(target, *connection)
                    samples.append(Sample(clock() - begun, status))
                except _Broken as broken:
                    samples.append(Sample(clock() - begun if connection else 0.0, 0, broken.error))
                    keep = False
                if not keep and connection is not None:
                    connection[1].close()
                    connection = None
        finally:
            if connection is not None:
                connection[1].close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, clock() - started


async def _connect(target: BurstTarget) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        async with asyncio.timeout(target.request_timeout):
            return await asyncio.open_connection(
                target.host,
                target.port,
                ssl=target.ssl_context,
                server_hostname=target.server_hostname,
                limit=_HEADER_LIMIT,
            )
    except TimeoutError:
        raise _Broken("timeout") from None
    except ConnectionRefusedError:
        raise _Broken("refused") from None
    except ssl.SSLError:
        raise _Broken("tls") from None
    except OSError:
        raise _Broken("reset") from None


async def _exchange(
    target: BurstTarget, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[int, bool]:
    """One request on an open connection: (status, whether the connection may be reused)."""
    try:
        async with asyncio.timeout(target.request_timeout):
            writer.write(target.request)
            head = parse_head(await reader.readuntil(b"\r\n\r\n"))
            await read_body(reader, head, target.max_body)
            return head.status, not head.close
    except TooLarge:
        raise _Broken("too_large") from None
    except TimeoutError:
        raise _Broken("timeout") from None
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        raise _Broken("malformed") from None
    except ssl.SSLError:
        raise _Broken("tls") from None
    except OSError:
        raise _Broken("reset") from None


class Reader(Protocol):
    """What reading an answer needs: asyncio.StreamReader's three calls."""

    async def readuntil(self, separator: bytes) -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...
    async def read(self, n: int) -> bytes: ...


class TooLarge(TargetError):
    """The body passed `max_body`; reading stopped there."""


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    length: int | None
    chunked: bool
    close: bool  # the connection ends after this answer
    location: str | None


def parse_head(head: bytes) -> Head:
    """The status line and the headers that matter; ValueError if it is not HTTP/1.x."""
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
        raise ValueError("not an HTTP/1.x status line")
    length: int | None = None
    chunked = False
    close = version == b"HTTP/1.0"
    location = None
    for line in lines[1:]:
        name, _, raw = line.partition(b":")
        name = name.strip().lower()
        value = raw.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = value == b"close"
        elif name == b"location":
            location = raw.strip().decode("latin-1")
    return Head(int(rest[:3]), length, chunked, close, location)


async def read_body(reader: Reader, head: Head, max_body: int) -> bytes:
    """The body, by Content-Length, chunks or the connection's end; TooLarge past max_body."""
    if head.status in {204, 304} or 100 <= head.status < 200:
        return b""
    if head.chunked:
        return await _read_chunks(reader, max_body)
    if head.length is not None:
        if head.length > max_body:
            raise TooLarge
        return await reader.readexactly(head.length)
    body = bytearray()
    while True:
        more = await reader.read(max_body + 1 - len(body))
        if not more:
            return bytes(body)
        body += more
        if len(body) > max_body:
            raise TooLarge


async def _read_chunks(reader: Reader, max_body: int) -> bytes:
    body = bytearray()
    ending = False  # past the last chunk: trailer lines until an empty one
    lines = 0
    while True:
        lines += 1
        if lines % _LINES_PER_TURN == 0:
            # Buffered lines are read without waiting: a peer sending one-byte chunks (or
            # endless trailers) would otherwise keep every other check and the timeout out.
            await asyncio.sleep(0)
        line = await reader.readuntil(b"\r\n")
        if ending:
            if line == b"\r\n":
                return bytes(body)
            continue
        size = int(line.split(b";")[0].strip(), 16)
        if size < 0:
            raise ValueError("a negative chunk size")
        if len(body) + size > max_body:
            raise TooLarge
        if size == 0:
            ending = True
        else:
            body += (await reader.readexactly(size + 2))[:-2]
