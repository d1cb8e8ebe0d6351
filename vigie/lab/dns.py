"""The lab's authoritative name server: serves a `LabZone` over UDP and TCP on one port.

It answers like a real authoritative server (AA, NXDOMAIN/NODATA with the SOA, REFUSED
outside its zone, TC when a UDP answer does not fit) and consults the lab's `Faults` on
every query, so probes can be tested against outages they would meet in production.

It must never stop serving because of what a client sent: a malformed packet costs one
FORMERR (or nothing), never the listener. It must never block the event loop either: a
slow-server fault delays one reply, not the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import structlog

from vigie.lab.faults import FaultKind, Faults
from vigie.lab.service import LabService
from vigie.lab.zone import LabZone, Node

__all__ = ["LabNameServer"]

log = structlog.get_logger("vigie.lab.dns")

_HEADER_SIZE = 12
_CLASSIC_UDP_SIZE = 512  # RFC 1035: the most a UDP answer may carry without EDNS
_TCP_MAX_SIZE = 65535
_OUR_EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 value, what real servers advertise now
_MAX_CNAME_CHAIN = 8
_BIND_ATTEMPTS = 5
# Bounded so a scan of a million participants cannot grow it without limit.
_CACHE_ENTRIES = 8192
_REFUSED_TYPES = {dns.rdatatype.AXFR, dns.rdatatype.IXFR}


class LabNameServer(LabService):
    """One name server of the lab (`name` is its fault target, e.g. "ns1")."""

    def __init__(
        self,
        zone: LabZone,
        faults: Faults,
        name: str = "ns1",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.zone = zone
        self.faults = faults
        self.name = name
        # DNS messages received (answered, dropped by a fault, or malformed).
        self.queries = 0
        self._host = host
        self._port = port
        self._address: tuple[str, int] | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        # Delayed replies and TCP conversations, cancelled on stop so nothing outlives it,
        # and the tasks asyncio runs per connection, awaited on stop once those are gone.
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        # Wire replies without their first two bytes (the id), keyed on the query minus id.
        self._cache: dict[tuple[bool, bytes], bytes] = {}
        self._cache_version = -1

    # -- life cycle --------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) for both UDP and TCP; only once started."""
        if self._address is None:
            raise RuntimeError(f"name server {self.name} is not started")
        return self._address

    async def start(self) -> None:
        if self._address is not None:
            raise RuntimeError(f"name server {self.name} is already started")
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            udp, port = await self._bind_udp()
            try:
                self._tcp = await asyncio.start_server(self._serve_connection, self._host, port)
            except OSError:
                udp.close()
                # Port 0 gave a UDP port whose TCP twin is taken: try another one.
                if self._port != 0 or attempt == _BIND_ATTEMPTS:
                    raise
                continue
            self._udp = udp
            self._address = (self._host, port)
            return

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._handlers, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        self._udp, self._tcp, self._address = None, None, None

    async def _bind_udp(self) -> tuple[asyncio.DatagramTransport, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self._on_datagram), local_addr=(self._host, self._port)
        )
        port: int = transport.get_extra_info("sockname")[1]
        return transport, port

    # -- transports --------------------------------------------------------------------

    def _on_datagram(self, wire: bytes, client: tuple[str, int]) -> None:
        reply = self._reply(wire, over_tcp=False)
        udp = self._udp
        if reply is None or udp is None:
            return
        delay = self._delay()
        if delay > 0:
            self._spawn(self._send_datagram_later(delay, udp, reply, client))
        else:
            udp.sendto(reply, client)

    async def _send_datagram_later(
        self,
        delay: float,
        udp: asyncio.DatagramTransport,
        reply: bytes,
        client: tuple[str, int],
    ) -> None:
        await asyncio.sleep(delay)
        if not udp.is_closing():
            udp.sendto(reply, client)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Python 3.11 logs an error when the task asyncio made for this callback is
        # cancelled, so the conversation runs in a task of ours, the one stop() cancels.
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            await asyncio.wait([self._spawn(self._converse(reader, writer))])
        finally:
            if handler is not None:
                self._handlers.discard(handler)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        replies: set[asyncio.Task[None]] = set()
        try:
            # A client that resets the connection ends the conversation, nothing more.
            with contextlib.suppress(ConnectionError):
                await self._read_queries(reader, writer, replies)
                # A client may half-close after its last query and still expect the answers.
                await asyncio.gather(*replies)
        finally:
            for task in replies:
                task.cancel()
            await asyncio.gather(*replies, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _read_queries(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        replies: set[asyncio.Task[None]],
    ) -> None:
        """Answer length-prefixed queries until EOF; each delayed reply runs on its own."""
        while True:
            try:
                length = int.from_bytes(await reader.readexactly(2), "big")
                wire = await reader.readexactly(length)
            except asyncio.IncompleteReadError:
                return
            reply = self._reply(wire, over_tcp=True)
            if reply is None:
                return  # a down server (or an unanswerable packet) closes the connection
            frame = len(reply).to_bytes(2, "big") + reply
            delay = self._delay()
            if delay > 0:
                task = asyncio.create_task(self._write_later(delay, writer, frame))
                replies.add(task)
                task.add_done_callback(replies.discard)
            else:
                writer.write(frame)
                await writer.drain()

    @staticmethod
    async def _write_later(delay: float, writer: asyncio.StreamWriter, frame: bytes) -> None:
        await asyncio.sleep(delay)
        if not writer.is_closing():
            writer.write(frame)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- answering ---------------------------------------------------------------------

    def _delay(self) -> float:
        fault = self.faults.get(FaultKind.NS_SLOW, self.name)
        return 0.0 if fault is None else float(fault.param("delay", 2.0))

    def _reply(self, wire: bytes, *, over_tcp: bool) -> bytes | None:
        """The reply to one received message, or None to send nothing."""
        self.queries += 1
        if self.faults.get(FaultKind.NS_DOWN, self.name) is not None:
            return None
        try:
            return self._cached_reply(wire, over_tcp)
        except Exception:
            # A bug here must cost one answer, not the listener: asyncio closes a UDP
            # transport whose callback raises.
            log.exception("lab_dns_answer_failed", server=self.name)
            return None

    def _cached_reply(self, wire: bytes, over_tcp: bool) -> bytes | None:
        if self._cache_version != self.faults.version:
            self._cache.clear()
            self._cache_version = self.faults.version
        # Everything but the id decides the reply, so identical queries share one.
        key = (over_tcp, wire[2:])
        cached = self._cache.get(key)
        if cached is not None:
            return wire[:2] + cached[2:]
        reply = self._render(wire, over_tcp)
        if reply is not None:
            if len(self._cache) >= _CACHE_ENTRIES:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = reply
        return reply

    def _render(self, wire: bytes, over_tcp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            # dnspython raises a dozen types for hostile input; all of them mean FORMERR.
            return _format_error(wire)
        if query.flags & dns.flags.QR:
            return None  # never answer a response: two servers could bounce forever
        response = dns.message.make_response(query, our_payload=_OUR_EDNS_PAYLOAD)
        self._answer(query, response)
        if over_tcp:
            limit = _TCP_MAX_SIZE
        elif query.edns >= 0:
            limit = max(query.payload, _CLASSIC_UDP_SIZE)
        else:
            limit = _CLASSIC_UDP_SIZE
        # Drops the rrsets that do not fit and sets TC when the answer was cut.
        return response.to_wire(max_size=limit, prefer_truncation=True)

    def _answer(self, query: dns.message.Message, response: dns.message.Message) -> None:
        """Fill `response` for `query`: rcode, flags and sections."""
        rcode = self._precheck(query)
        if rcode is not None:
            response.set_rcode(rcode)
            return
        question = query.question[0]
        response.flags |= dns.flags.AA
        self._resolve(question.name, question.rdtype, response)

    def _precheck(self, query: dns.message.Message) -> dns.rcode.Rcode | None:
        """The rcode a query gets without a lookup, or None when it is one to look up."""
        if query.opcode() != dns.opcode.QUERY:
            return dns.rcode.NOTIMP
        if query.edns > 0:
            return dns.rcode.BADVERS
        if len(query.question) != 1:
            return dns.rcode.FORMERR
        if self.faults.get(FaultKind.NS_SERVFAIL, self.name) is not None:
            return dns.rcode.SERVFAIL
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN or question.rdtype in _REFUSED_TYPES:
            return dns.rcode.REFUSED
        if not self.zone.contains(question.name):
            return dns.rcode.REFUSED
        return None

    def _resolve(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, response: dns.message.Message
    ) -> None:
        name = qname
        for _ in range(_MAX_CNAME_CHAIN):
            node = self._node(name)
            if node is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(self._soa())
                return
            if rdtype == dns.rdatatype.ANY and node.rrsets:
                response.answer.extend(self._served(rrset) for rrset in node.rrsets.values())
                return
            rrset = node.rrsets.get(rdtype)
            if rrset is not None:
                response.answer.append(self._served(rrset))
                self._add_glue(rrset, response)
                return
            cname = node.rrsets.get(dns.rdatatype.CNAME)
            if cname is None:
                response.authority.append(self._soa())  # NODATA
                return
            response.answer.append(cname)
            name = cname[0].target
            if not self.zone.contains(name):
                return  # the resolver follows names outside the zone itself

    def _node(self, name: dns.name.Name) -> Node | None:
        """The zone's node at `name` as this server serves it, participant faults applied."""
        node = self.zone.lookup(name)
        if node is None or node.participant is None:
            return node
        participant_id = self.zone.participant(node.participant.index)
        if self.faults.get(FaultKind.PARTICIPANT_REMOVED, participant_id) is not None:
            return None
        wrong = self.faults.get(FaultKind.PARTICIPANT_WRONG_SMP, participant_id)
        if wrong is None:
            return node
        url = str(wrong.param("smp", self.zone.wrong_smp_url(node.participant.index)))
        return self.zone.participant_node(node.participant, smp_url=url, name=node.name)

    def _soa(self) -> dns.rrset.RRset:
        return self._served(self.zone.soa())

    def _served(self, rrset: dns.rrset.RRset) -> dns.rrset.RRset:
        """`rrset` as this server serves it: a serial-skew fault shifts its SOA serial."""
        if rrset.rdtype != dns.rdatatype.SOA:
            return rrset
        fault = self.faults.get(FaultKind.NS_SERIAL_SKEW, self.name)
        if fault is None:
            return rrset
        soa = rrset[0]
        serial = (soa.serial + int(fault.param("offset", 1))) % 2**32
        return dns.rrset.from_rdata(rrset.name, rrset.ttl, soa.replace(serial=serial))

    def _add_glue(self, rrset: dns.rrset.RRset, response: dns.message.Message) -> None:
        if rrset.rdtype != dns.rdatatype.NS:
            return
        for ns in rrset:
            node = self.zone.lookup(ns.target)
            address = None if node is None else node.rrsets.get(dns.rdatatype.A)
            if address is not None:
                response.additional.append(address)


def _format_error(wire: bytes) -> bytes | None:
    """FORMERR for a packet that does not parse, echoing its id; nothing if it has no header."""
    if len(wire) < _HEADER_SIZE or wire[2] & 0x80:
        return None  # too short to carry an id, or itself a response
    response = dns.message.Message(id=int.from_bytes(wire[:2], "big"))
    response.flags = dns.flags.QR
    response.set_rcode(dns.rcode.FORMERR)
    return response.to_wire()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors from clients that went away: nothing to do, keep serving.
        pass
