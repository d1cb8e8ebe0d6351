"""SOA checks of SML zones against a real DNS server on 127.0.0.1, one behaviour per row."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import cast

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from probes import Check, CheckDefaults, FailureReason, ProbeEnv
from probes.dns import SmlTarget, expand_sml
from probes.dns_soa import probe_soa

ZONE = "acc.edelivery.tech.ec.europa.eu"
SERIAL = 2025033001


class Behaviour(StrEnum):
    """How the fake name server answers every query."""

    SOA = "soa"  # NOERROR, AA, the zone's SOA
    NO_AA = "no_aa"  # the SOA, without the AA flag (a cache, not the zone's server)
    NODATA = "nodata"  # NOERROR, AA, empty answer
    OTHER_NAME = "other_name"  # NOERROR, AA, a SOA for another name
    SERVFAIL = "servfail"
    REFUSED = "refused"
    NXDOMAIN = "nxdomain"
    NOTIMP = "notimp"
    TRUNCATED = "truncated"  # TC over UDP; the whole answer over TCP
    SILENT = "silent"  # never answers
    GARBAGE = "garbage"  # bytes that are no DNS message
    WRONG_ID = "wrong_id"  # a well-formed answer to another query
    OTHER_PORT = "other_port"  # the right answer, sent from another port (spoofed, stray)
    MANY_RECORDS = "many_records"  # the SOA among thousands of A records (near 64 KiB)
    TRUNCATED_STALLING = "truncated_stalling"  # TC over UDP; over TCP a length, then nothing


class FakeNameServer:
    """A DNS server on 127.0.0.1 (UDP, and TCP on the same port unless told otherwise)."""

    def __init__(self, behaviour: Behaviour = Behaviour.SOA, zone: str = ZONE) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self.queries: list[tuple[str, dns.message.Message]] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> tuple[str, int]:
        assert self._udp is not None
        host, port = self._udp.get_extra_info("sockname")[:2]
        return host, port

    async def start(self, *, tcp: bool = True) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # the TCP port may be taken even when the UDP one is free
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=("127.0.0.1", 0)
            )
            if not tcp:
                return self.address
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, *self.address)
            except OSError:
                self._udp.close()
                continue
            return self.address
        raise RuntimeError("no port free for both UDP and TCP")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._connections):
                writer.close()
            await self._tcp.wait_closed()

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        self.queries.append((transport, query))
        behaviour = self.behaviour
        if behaviour is Behaviour.SILENT:
            return None
        if behaviour is Behaviour.GARBAGE:
            return b"\xde\xad\xbe\xef\x00"
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        rcodes = {
            Behaviour.SERVFAIL: dns.rcode.SERVFAIL,
            Behaviour.REFUSED: dns.rcode.REFUSED,
            Behaviour.NXDOMAIN: dns.rcode.NXDOMAIN,
            Behaviour.NOTIMP: dns.rcode.NOTIMP,
        }
        if behaviour in rcodes:
            response.set_rcode(rcodes[behaviour])
        elif behaviour is Behaviour.TRUNCATED and transport == "udp":
            response.flags |= dns.flags.TC
        elif behaviour is not Behaviour.NODATA:
            owner = (
                f"elsewhere.{self.zone}." if behaviour is Behaviour.OTHER_NAME else f"{self.zone}."
            )
            response.answer.append(
                dns.rrset.from_text(
                    owner,
                    300,
                    "IN",
                    "SOA",
                    f"ns1.{self.zone}. hostmaster.{self.zone}. {SERIAL} 3600 600 86400 300",
                )
            )
        if behaviour is Behaviour.NO_AA:
            response.flags &= ~dns.flags.AA
        if behaviour is Behaviour.WRONG_ID:
            response.id = (query.id + 1) % 65536
        if behaviour is Behaviour.MANY_RECORDS:
            addresses = [f"10.{n // 256}.{n % 256}.1" for n in range(3000)]
            response.answer.append(dns.rrset.from_text(f"{self.zone}.", 300, "IN", "A", *addresses))
        if behaviour is Behaviour.TRUNCATED_STALLING and transport == "udp":
            response.answer.clear()
            response.flags |= dns.flags.TC
        return response.to_wire(max_size=65535)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                if self.behaviour is Behaviour.TRUNCATED_STALLING:
                    writer.write(b"\x01\x00")  # 256 bytes to come, and none ever comes
                    await reader.read()
                    return
                reply = self.answer(await reader.readexactly(size), "tcp")
                if reply is not None:
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: FakeNameServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self._server.answer(data, "udp")
        if reply is None or self._transport is None:
            return
        if self._server.behaviour is Behaviour.OTHER_PORT:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                other.bind(("127.0.0.1", 0))
                other.sendto(reply, addr)
            return
        self._transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def running_name_server(
    behaviour: Behaviour = Behaviour.SOA, *, tcp: bool = True
) -> AsyncIterator[FakeNameServer]:
    server = FakeNameServer(behaviour)
    await server.start(tcp=tcp)
    try:
        yield server
    finally:
        await server.close()


def soa_check(server: str | None, timeout: float = 2.0) -> Check:
    target = SmlTarget(zone=ZONE, nameservers=[server] if server else [], zone_health=False)
    (check,) = expand_sml(target, CheckDefaults(interval=60.0, timeout=timeout))
    return check


@pytest.mark.parametrize(
    ("behaviour", "tcp", "reason", "detail"),
    [
        pytest.param(Behaviour.SOA, True, FailureReason.OK, "", id="authoritative-soa"),
        pytest.param(Behaviour.TRUNCATED, True, FailureReason.OK, "", id="truncated-then-tcp"),
        pytest.param(
            Behaviour.TRUNCATED,
            False,
            FailureReason.TRUNCATED_NO_TCP,
            "truncated over UDP;",
            id="truncated-without-tcp",
        ),
        pytest.param(
            Behaviour.NO_AA,
            True,
            FailureReason.NOT_AUTHORITATIVE,
            "answered without the AA flag",
            id="not-authoritative",
        ),
        pytest.param(
            Behaviour.SERVFAIL, True, FailureReason.SERVFAIL, f"SERVFAIL for {ZONE}", id="servfail"
        ),
        pytest.param(
            Behaviour.REFUSED, True, FailureReason.REFUSED, f"REFUSED for {ZONE} SOA", id="refused"
        ),
        pytest.param(
            Behaviour.NXDOMAIN, True, FailureReason.NXDOMAIN, f"NXDOMAIN for {ZONE}", id="nxdomain"
        ),
        pytest.param(Behaviour.NOTIMP, True, FailureReason.DNS_ERROR, "NOTIMP", id="other-rcode"),
        pytest.param(
            Behaviour.NODATA, True, FailureReason.NODATA, f"no SOA for {ZONE} in", id="nodata"
        ),
        pytest.param(
            Behaviour.OTHER_NAME,
            True,
            FailureReason.NODATA,
            f"no SOA for {ZONE} in",
            id="soa-of-another-name",
        ),
        pytest.param(Behaviour.SILENT, True, FailureReason.TIMEOUT, "no answer", id="no-answer"),
        # A datagram that is not the answer to the query asked (garbage, another id) is
        # ignored, as a resolver ignores it (it may be forged): the query then times out.
        pytest.param(Behaviour.GARBAGE, True, FailureReason.TIMEOUT, "no answer", id="garbage"),
        pytest.param(
            Behaviour.WRONG_ID,
            True,
            FailureReason.TIMEOUT,
            "no answer",
            id="answer-to-another-query",
        ),
        pytest.param(
            Behaviour.OTHER_PORT, True, FailureReason.TIMEOUT, "no answer", id="from-another-port"
        ),
        pytest.param(Behaviour.MANY_RECORDS, True, FailureReason.OK, "", id="thousands-of-records"),
        pytest.param(
            Behaviour.TRUNCATED_STALLING,
            True,
            FailureReason.TRUNCATED_NO_TCP,
            "no answer from",
            id="truncated-then-tcp-stalls",
        ),
    ],
)
async def test_probe_soa_of_a_name_server(
    behaviour: Behaviour, tcp: bool, reason: FailureReason, detail: str
) -> None:
    async with running_name_server(behaviour, tcp=tcp) as server:
        host, port = server.address
        check = soa_check(f"{host}:{port}", timeout=0.3)

        result = await probe_soa(check, ProbeEnv())

    assert result.reason is reason, result.detail
    assert detail in result.detail
    assert set(result.phases) == {"query"}
    if reason is FailureReason.OK:
        assert result.values == {"serial": SERIAL}
    else:
        assert result.values == {}


async def test_truncated_answer_is_asked_again_over_tcp() -> None:
    async with running_name_server(Behaviour.TRUNCATED) as server:
        host, port = server.address
        result = await probe_soa(soa_check(f"{host}:{port}"), ProbeEnv())

    assert result.success
    assert [transport for transport, _ in server.queries] == ["udp", "tcp"]


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        # A resolver is a cache: its answers are not authoritative, and that is fine.
        pytest.param(Behaviour.NO_AA, FailureReason.OK, id="non-authoritative-ok"),
        pytest.param(Behaviour.SERVFAIL, FailureReason.SERVFAIL, id="servfail"),
    ],
)
async def test_probe_soa_through_the_resolver(behaviour: Behaviour, reason: FailureReason) -> None:
    async with running_name_server(behaviour) as server:
        result = await probe_soa(soa_check(None), ProbeEnv(resolver=server.address))

    assert result.reason is reason
    # A resolver is asked to recurse; a zone's own name server is not.
    ((_, query),) = server.queries
    assert query.flags & dns.flags.RD


async def test_name_server_is_not_asked_to_recurse() -> None:
    async with running_name_server() as server:
        host, port = server.address
        await probe_soa(soa_check(f"{host}:{port}"), ProbeEnv())

    ((_, query),) = server.queries
    assert not query.flags & dns.flags.RD
    assert query.question[0].to_text() == f"{ZONE}. IN SOA"


async def test_no_name_server_and_no_resolver_is_a_dns_error() -> None:
    result = await probe_soa(soa_check(None), ProbeEnv(resolver=None))
    assert result.reason is FailureReason.DNS_ERROR
    assert result.detail == "no name server and no resolver"


async def test_closed_port_is_a_failure_not_an_exception() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await probe_soa(soa_check(f"127.0.0.1:{port}", timeout=0.3), ProbeEnv())
    # Unconnected UDP sockets never hear the ICMP "port unreachable": the query times out.
    assert result.reason in {FailureReason.TIMEOUT, FailureReason.CONNECTION_REFUSED}


# --- expanding SML targets into checks -------------------------------------------------


@pytest.mark.parametrize(
    ("nameservers", "expected"),
    [
        pytest.param([], [(f"{ZONE}@resolver", None)], id="resolver"),
        pytest.param(
            ["192.0.2.1", "[2001:db8::1]:5353"],
            [
                (f"{ZONE}@192.0.2.1", ("192.0.2.1", 53)),
                (f"{ZONE}@[2001:db8::1]:5353", ("2001:db8::1", 5353)),
            ],
            id="one-check-per-name-server",
        ),
    ],
)
def test_expand_sml(
    nameservers: list[str], expected: list[tuple[str, tuple[str, int] | None]]
) -> None:
    # The zone is normalised: lower case, no final dot.
    target = SmlTarget(zone=ZONE.upper() + ".", nameservers=nameservers, timeout="2s")
    expanded = expand_sml(target, CheckDefaults(interval=30.0, timeout=5.0, retries=1))
    checks = [check for check in expanded if check.kind == "dns_soa"]

    assert [(check.target, check.params.server) for check in checks] == expected
    assert {(c.kind, c.service, c.interval, c.timeout, c.retries) for c in checks} == {
        ("dns_soa", "sml", 30.0, 2.0, 1)
    }
    assert len({check.key for check in checks}) == len(checks)


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        pytest.param("a..example", "invalid zone name 'a..example'", id="empty-label"),
        pytest.param(".", "the zone cannot be the DNS root", id="root"),
        pytest.param("x" * 64 + ".example", "invalid zone name", id="label-too-long"),
    ],
)
def test_sml_target_rejects_bad_zones(zone: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SmlTarget(zone=zone)


async def test_a_closed_port_is_refused_at_once_not_after_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # The ICMP port-unreachable answer ends the query; a timeout would say `timeout`.
    result = await probe_soa(soa_check(f"127.0.0.1:{port}", timeout=30.0), ProbeEnv())
    assert result.reason is FailureReason.CONNECTION_REFUSED
    assert result.detail == f"127.0.0.1:{port} refused UDP"
