"""DNS transport for the SML checks: UDP with many queries in flight, TCP on truncation.

`UdpChannel` is one connected UDP socket to one name server; queries carry a fresh id and
their answer is matched by id *and* by the echoed question, so a stray or forged datagram
cannot answer the wrong query. `exchange` is one query with TCP fallback; `ask` is one
query whose answer must also be usable (parsed, NOERROR, authoritative when asked so). Failures come
back as a `FailureReason` with a short detail, never as exceptions; sizes are capped by
the protocol (64 KiB) and times by the caller's time_limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from typing import NamedTuple, cast

from probes._base import FailureReason
from probes.dns_lookup import parse_answer
from probes.dns_wire import Message

__all__ = ["Answer", "Asked", "UdpChannel", "ask", "exchange", "tcp_exchange"]

# (wire of the answer or None, reason, detail)
Answer = tuple[bytes | None, FailureReason, str]

_FLAG_TC = 0x02  # in the third header byte


class UdpChannel(asyncio.DatagramProtocol):
    """One connected UDP socket; `ask` sends a query and waits for its own answer."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, tuple[asyncio.Future[bytes], bytes]] = {}
        self._ids = itertools.cycle(range(1, 65536))
        self._error: OSError | None = None

    @classmethod
    async def open(cls, server: tuple[str, int]) -> UdpChannel:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(lambda: cls(server), remote_addr=server)
        return protocol

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        for future, _ in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()

    # -- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        entry = self._pending.get((data[0] << 8) | data[1])
        if entry is None:
            return
        future, question = entry
        # The server echoes the question; 0x20-style case changes are allowed.
        if data[12 : 12 + len(question)].lower() != question:
            return
        del self._pending[(data[0] << 8) | data[1]]
        if not future.done():
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable) arrive here on a connected socket; every query in
        # flight to this server fails with it.
        error = exc if isinstance(exc, OSError) else OSError(str(exc))
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    # -- queries -----------------------------------------------------------------------

    def send(self, query: bytes) -> asyncio.Future[bytes]:
        """Send `query` (its id bytes are replaced) and return the future of its answer."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise OSError("the channel is closed")
        if len(self._pending) >= 60000:
            raise OSError("too many queries in flight")
        query_id = next(self._ids)
        while query_id in self._pending:
            query_id = next(self._ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        # The question section starts after the 12-byte header; compare it lower-cased.
        self._pending[query_id] = (future, query[12:].lower())
        transport.sendto(struct.pack("!H", query_id) + query[2:])
        return future

    def forget(self, future: asyncio.Future[bytes]) -> None:
        """Drop a query whose answer is no longer awaited (it timed out)."""
        for query_id, (pending, _) in list(self._pending.items()):
            if pending is future:
                del self._pending[query_id]
                return

    async def ask(self, query: bytes, time_limit: float) -> Answer:
        host, port = self.server
        try:
            future = self.send(query)
        except OSError as exc:
            return None, FailureReason.NETWORK_ERROR, f"{host}:{port}: {exc.strerror or exc}"
        try:
            async with asyncio.timeout(time_limit):
                wire = await future
        except TimeoutError:
            self.forget(future)
            return None, FailureReason.TIMEOUT, f"no answer from {host}:{port} over UDP"
        except ConnectionRefusedError:
            return None, FailureReason.CONNECTION_REFUSED, f"{host}:{port} refused UDP"
        except OSError as exc:
            return None, FailureReason.NETWORK_ERROR, f"{host}:{port}: {exc.strerror or exc}"
        return wire, FailureReason.OK, ""


async def tcp_exchange(query: bytes, server: tuple[str, int], time_limit: float) -> Answer:
    """One query over a new TCP connection (the answer is at most 64 KiB by framing)."""
    host, port = server
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(time_limit):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(len(query).to_bytes(2, "big") + query)
            await writer.drain()
            size = int.from_bytes(await reader.readexactly(2), "big")
            wire = await reader.readexactly(size)
    except TimeoutError:
        return None, FailureReason.TIMEOUT, f"no answer from {host}:{port} over TCP"
    except asyncio.IncompleteReadError:
        return None, FailureReason.MALFORMED_RESPONSE, f"{host}:{port} closed TCP mid-answer"
    except ConnectionRefusedError:
        return None, FailureReason.CONNECTION_REFUSED, f"{host}:{port} refused TCP"
    except OSError as exc:
        return None, FailureReason.NETWORK_ERROR, f"{host}:{port}: {exc.strerror or exc}"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    if wire[:2] != query[:2] or len(wire) < 12:
        return None, FailureReason.MALFORMED_RESPONSE, f"{host}:{port} answered another query"
    return wire, FailureReason.OK, ""


async def exchange(
    query: bytes,
    server: tuple[str, int],
    time_limit: float,
    channel: UdpChannel | None = None,
) -> Answer:
    """One query over UDP (a new socket unless `channel` is given), TCP when truncated."""
    own = channel is None
    try:
        if channel is None:
            try:
                channel = await UdpChannel.open(server)
            except OSError as exc:
                host, port = server
                return None, FailureReason.NETWORK_ERROR, f"{host}:{port}: {exc.strerror or exc}"
        wire, reason, detail = await channel.ask(query, time_limit)
    finally:
        if own and channel is not None:
            channel.close()
    if wire is None or not wire[2] & _FLAG_TC:
        return wire, reason, detail
    # TCP gets the id the UDP query went out with, so its answer can be matched too.
    tcp_wire, tcp_reason, tcp_detail = await tcp_exchange(wire[:2] + query[2:], server, time_limit)
    if tcp_wire is None:
        return None, FailureReason.TRUNCATED_NO_TCP, f"truncated over UDP; {tcp_detail}"
    return tcp_wire, tcp_reason, tcp_detail


class Asked(NamedTuple):
    """A usable answer (`message` set, reason OK), or why there is none."""

    wire: bytes
    message: Message | None
    reason: FailureReason
    detail: str


async def ask(
    query: bytes, server: tuple[str, int], time_limit: float, *, authoritative: bool
) -> Asked:
    """`exchange`, then `parse_answer`: the answer only if it can be read for records."""
    wire, reason, detail = await exchange(query, server, time_limit)
    if wire is None:
        return Asked(b"", None, reason, detail)
    message, lookup = parse_answer(wire, authoritative=authoritative)
    if message is None or lookup.reason is not FailureReason.OK:
        return Asked(wire, None, lookup.reason, lookup.detail)
    return Asked(wire, message, FailureReason.OK, "")
