"""The lab's name server on 127.0.0.1, queried by independent clients: dnspython and dig."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from probes.naming import NamingScheme, ParticipantId, participant_name
from tests.support import require_program
from vigie.lab.dns import LabNameServer
from vigie.lab.faults import FaultKind, Faults
from vigie.lab.zone import LARGE_NAPTR_COUNT, LabZone

SMP1, SMP2 = "https://smp1.edelivery.test", "https://smp2.edelivery.test"
SERIAL = 2026112201
SOA_TEXT = "ns1.edelivery.test. hostmaster.edelivery.test. {serial} 3600 600 86400 60"
# Independent vector (computed outside this code base): the server must publish these names.
VECTOR_ID = "iso6523-actorid-upis::0088:123abc"
VECTOR_CLASSIC = "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis.edelivery.test"
VECTOR_BDXL = (
    "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq.iso6523-actorid-upis.edelivery.test"
)
# Built once at import: the fault table below names its participants.
ZONE = LabZone(participants=10, smp_urls=(SMP1, SMP2), extra_participants=[VECTOR_ID])
P0, P1 = ZONE.participant(0), ZONE.participant(1)  # hosted by SMP1 and SMP2


def name_of(participant_id: str, scheme: NamingScheme) -> str:
    return participant_name(ParticipantId.parse(participant_id), ZONE.origin, scheme)


P0_CLASSIC, P0_BDXL = name_of(P0, NamingScheme.CNAME), name_of(P0, NamingScheme.NAPTR)
P1_CLASSIC, P1_BDXL = name_of(P1, NamingScheme.CNAME), name_of(P1, NamingScheme.NAPTR)


REGEXP_FORMS = ("!^.*$!{}!", "!.*!{}!")  # even participants use the first, odd the second


def naptr_to(url: str, form: str = REGEXP_FORMS[0]) -> str:
    return f'100 10 "U" "Meta:SMP" "{form.format(url)}" .'


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
async def ns1(faults: Faults) -> AsyncIterator[LabNameServer]:
    async with LabNameServer(ZONE, faults, name="ns1") as server:
        yield server


@pytest.fixture
async def ns2(faults: Faults) -> AsyncIterator[LabNameServer]:
    async with LabNameServer(ZONE, faults, name="ns2") as server:
        yield server


async def ask(
    server: LabNameServer,
    qname: str,
    rdtype: str,
    *,
    tcp: bool = False,
    payload: int | None = None,
) -> dns.message.Message:
    """One query with dnspython; `payload` turns EDNS on."""
    query = dns.message.make_query(qname, rdtype, payload=payload)
    host, port = server.address
    if tcp:
        return await dns.asyncquery.tcp(query, host, port=port, timeout=2)
    return await dns.asyncquery.udp(query, host, port=port, timeout=2)


def answers(response: dns.message.Message) -> list[str]:
    return [rdata.to_text() for rrset in response.answer for rdata in rrset]


def rcode(response: dns.message.Message) -> str:
    return dns.rcode.to_text(response.rcode())


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds (no clock involved)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    pytest.fail("the condition never held")


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)


@contextlib.asynccontextmanager
async def raw_udp(
    server: LabNameServer,
) -> AsyncIterator[tuple[asyncio.DatagramTransport, asyncio.Queue[bytes]]]:
    """A UDP socket connected to `server`, for bytes dnspython would refuse to send."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Datagrams, remote_addr=server.address
    )
    try:
        yield transport, protocol.received
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def raw_tcp(
    server: LabNameServer,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(*server.address)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def frame(wire: bytes) -> bytes:
    return len(wire).to_bytes(2, "big") + wire


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 2), "big")
    return await asyncio.wait_for(reader.readexactly(length), 2)


# -- answers -----------------------------------------------------------------------------


async def test_classic_name_is_an_authoritative_cname(ns1: LabNameServer) -> None:
    response = await ask(ns1, P1_CLASSIC, "CNAME")

    assert rcode(response) == "NOERROR"
    assert response.flags & dns.flags.AA
    assert answers(response) == ["smp2.publisher.edelivery.test."]


async def test_naptr_fields(ns1: LabNameServer) -> None:
    response = await ask(ns1, P0_BDXL, "NAPTR")

    (rrset,) = response.answer
    (naptr,) = rrset
    assert response.flags & dns.flags.AA
    assert rrset.ttl == 60
    assert (naptr.order, naptr.preference) == (100, 10)
    assert (naptr.flags, naptr.service) == (b"U", b"Meta:SMP")
    assert naptr.regexp == b"!^.*$!https://smp1.edelivery.test!"
    assert naptr.replacement.to_text() == "."


async def test_soa(ns1: LabNameServer) -> None:
    response = await ask(ns1, "edelivery.test", "SOA")

    assert answers(response) == [SOA_TEXT.format(serial=SERIAL)]


async def test_ns_with_glue(ns1: LabNameServer) -> None:
    response = await ask(ns1, "edelivery.test", "NS")

    assert sorted(answers(response)) == ["ns1.edelivery.test.", "ns2.edelivery.test."]
    glue = {rrset.name.to_text(): [rd.to_text() for rd in rrset] for rrset in response.additional}
    assert glue == {"ns1.edelivery.test.": ["127.0.0.1"], "ns2.edelivery.test.": ["127.0.0.1"]}


async def test_a_query_follows_the_cname_chain(ns1: LabNameServer) -> None:
    response = await ask(ns1, P0_CLASSIC, "A")

    assert [(rrset.name.to_text(), rrset.rdtype) for rrset in response.answer] == [
        (P0_CLASSIC + ".", dns.rdatatype.CNAME),
        ("smp1.publisher.edelivery.test.", dns.rdatatype.A),
    ]
    assert answers(response) == ["smp1.publisher.edelivery.test.", "127.0.0.1"]


@pytest.mark.parametrize(
    ("qname", "rdtype", "expected"),
    [
        pytest.param("nobody.edelivery.test", "NAPTR", "NXDOMAIN", id="nxdomain"),
        pytest.param(P0_BDXL, "TXT", "NOERROR", id="nodata-other-type"),
        pytest.param("iso6523-actorid-upis.edelivery.test", "A", "NOERROR", id="nodata-ent"),
    ],
)
async def test_negative_answers_carry_the_soa(
    ns1: LabNameServer, qname: str, rdtype: str, expected: str
) -> None:
    response = await ask(ns1, qname, rdtype)

    assert rcode(response) == expected
    assert response.flags & dns.flags.AA
    assert response.answer == []
    assert [rd.to_text() for rrset in response.authority for rd in rrset] == [
        SOA_TEXT.format(serial=SERIAL)
    ]


async def test_names_outside_the_zone_are_refused(ns1: LabNameServer) -> None:
    response = await ask(ns1, "www.example.org", "A")

    assert rcode(response) == "REFUSED"
    assert not response.flags & dns.flags.AA
    assert response.answer == []


async def test_upper_case_bdxl_name(ns1: LabNameServer) -> None:
    response = await ask(ns1, P1_BDXL.upper(), "NAPTR")

    assert response.question[0].name.to_text() == P1_BDXL.upper() + "."
    assert answers(response) == ['100 10 "U" "Meta:SMP" "!.*!https://smp2.edelivery.test!" .']


@pytest.mark.parametrize(
    ("qname", "rdtype", "expected"),
    [
        pytest.param(
            VECTOR_CLASSIC, "CNAME", "smp1.publisher.edelivery.test.", id="vector-classic"
        ),
        pytest.param(
            VECTOR_BDXL,
            "NAPTR",
            naptr_to(SMP1),
            id="vector-bdxl",
        ),
        pytest.param(
            name_of(VECTOR_ID, NamingScheme.CNAME),
            "CNAME",
            "smp1.publisher.edelivery.test.",
            id="naming-classic",
        ),
        pytest.param(
            name_of(VECTOR_ID, NamingScheme.NAPTR),
            "NAPTR",
            naptr_to(SMP1),
            id="naming-bdxl",
        ),
    ],
)
async def test_published_names_match_the_vector_and_probes_naming(
    ns1: LabNameServer, qname: str, rdtype: str, expected: str
) -> None:
    # The vector participant has index 12: SMP1, and the first regexp form.
    assert ZONE.index_of(VECTOR_ID) == 12

    assert answers(await ask(ns1, qname, rdtype)) == [expected]


async def test_every_participant_answers_in_both_schemes(ns1: LabNameServer) -> None:
    for index, participant_id in enumerate(ZONE.participant_ids()):
        k = index % 2
        bdxl = await ask(ns1, name_of(participant_id, NamingScheme.NAPTR), "NAPTR")
        classic = await ask(ns1, name_of(participant_id, NamingScheme.CNAME), "CNAME")

        assert answers(bdxl) == [naptr_to(ZONE.smp_url(k), REGEXP_FORMS[k])], participant_id
        assert answers(classic) == [f"smp{k + 1}.publisher.edelivery.test."], participant_id


# -- sizes and transports ----------------------------------------------------------------


async def test_large_answer_is_truncated_over_udp_without_edns(ns1: LabNameServer) -> None:
    response = await ask(ns1, "large.edelivery.test", "NAPTR")

    assert response.flags & dns.flags.TC
    assert response.answer == []


async def test_large_answer_fits_the_edns_payload_the_client_offers(ns1: LabNameServer) -> None:
    response = await ask(ns1, "large.edelivery.test", "NAPTR", payload=4096)

    assert not response.flags & dns.flags.TC
    assert len(answers(response)) == LARGE_NAPTR_COUNT


async def test_large_answer_is_whole_over_tcp(ns1: LabNameServer) -> None:
    response = await ask(ns1, "large.edelivery.test", "NAPTR", tcp=True)

    assert not response.flags & dns.flags.TC
    assert len(answers(response)) == LARGE_NAPTR_COUNT


async def test_several_queries_on_one_tcp_connection(ns1: LabNameServer) -> None:
    queries = [dns.message.make_query(P0_BDXL, "NAPTR"), dns.message.make_query(P1_BDXL, "NAPTR")]

    async with raw_tcp(ns1) as (reader, writer):
        writer.write(b"".join(frame(query.to_wire()) for query in queries))
        replies = [dns.message.from_wire(await read_frame(reader)) for _ in queries]

    assert [reply.id for reply in replies] == [query.id for query in queries]
    assert [SMP1 in answers(replies[0])[0], SMP2 in answers(replies[1])[0]] == [True, True]


def edns_version_1() -> dns.message.Message:
    return dns.message.make_query("edelivery.test", "SOA", use_edns=1)


def notify() -> dns.message.Message:
    query = dns.message.make_query("edelivery.test", "SOA")
    query.set_opcode(dns.opcode.NOTIFY)
    return query


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(edns_version_1, "BADVERS", id="edns-version-1"),
        pytest.param(notify, "NOTIMP", id="opcode-notify"),
        pytest.param(
            lambda: dns.message.make_query("edelivery.test", "SOA", rdclass=dns.rdataclass.CH),
            "REFUSED",
            id="class-chaos",
        ),
        pytest.param(
            lambda: dns.message.make_query("edelivery.test", "AXFR"), "REFUSED", id="zone-transfer"
        ),
    ],
)
async def test_queries_the_server_does_not_serve(
    ns1: LabNameServer, make: Callable[[], dns.message.Message], expected: str
) -> None:
    async with raw_tcp(ns1) as (reader, writer):
        writer.write(frame(make().to_wire()))
        response = dns.message.from_wire(await read_frame(reader))

    assert rcode(response) == expected


# -- malformed input ---------------------------------------------------------------------

GARBAGE = [
    pytest.param(b"\x12\x34" + b"\x00\x00\x00\x01" + b"\x00" * 6, id="question-missing"),
    pytest.param(b"\x12\x34" + bytes(range(40)), id="random-bytes"),
    pytest.param(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c", id="pointer-loop"),
]


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_garbage_over_udp_gets_formerr_and_the_server_keeps_serving(
    ns1: LabNameServer, garbage: bytes
) -> None:
    query = dns.message.make_query("edelivery.test", "SOA")

    async with raw_udp(ns1) as (udp, received):
        udp.sendto(garbage)
        formerr = dns.message.from_wire(await asyncio.wait_for(received.get(), 2))
        udp.sendto(query.to_wire())
        answer = dns.message.from_wire(await asyncio.wait_for(received.get(), 2))

    assert (formerr.id, rcode(formerr)) == (0x1234, "FORMERR")
    assert formerr.flags & dns.flags.QR
    assert answer.id == query.id
    assert answers(answer) == [SOA_TEXT.format(serial=SERIAL)]


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(b"\x00", id="shorter-than-a-header"),
        pytest.param(b"\x12\x34\x80\x00" + b"\x00" * 8, id="a-response"),
    ],
)
async def test_packets_without_an_answerable_header_get_nothing(
    ns1: LabNameServer, packet: bytes
) -> None:
    query = dns.message.make_query("edelivery.test", "SOA")

    async with raw_udp(ns1) as (udp, received):
        udp.sendto(packet)
        udp.sendto(query.to_wire())
        first = dns.message.from_wire(await asyncio.wait_for(received.get(), 2))

    # Datagrams on loopback arrive in order: had the packet been answered, its reply
    # would have come first.
    assert first.id == query.id
    assert ns1.queries == 2


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_garbage_over_tcp_gets_formerr_and_the_connection_stays_usable(
    ns1: LabNameServer, garbage: bytes
) -> None:
    query = dns.message.make_query("edelivery.test", "SOA")

    async with raw_tcp(ns1) as (reader, writer):
        writer.write(frame(garbage) + frame(query.to_wire()))
        formerr = dns.message.from_wire(await read_frame(reader))
        answer = dns.message.from_wire(await read_frame(reader))

    assert rcode(formerr) == "FORMERR"
    assert answers(answer) == [SOA_TEXT.format(serial=SERIAL)]


# -- faults ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultCase:
    kind: FaultKind
    target: str
    qname: str
    rdtype: str
    rcode: str
    answer: list[str]
    params: dict[str, Any] = field(default_factory=dict)


FAULT_CASES = [
    pytest.param(
        FaultCase(FaultKind.NS_SERVFAIL, "ns1", P0_BDXL, "NAPTR", "SERVFAIL", []),
        id="ns-servfail",
    ),
    pytest.param(
        FaultCase(FaultKind.NS_SERVFAIL, "ns2", P0_BDXL, "NAPTR", "NOERROR", [naptr_to(SMP1)]),
        id="ns-servfail-on-another-server",
    ),
    pytest.param(
        FaultCase(
            FaultKind.NS_SERIAL_SKEW,
            "ns1",
            "edelivery.test",
            "SOA",
            "NOERROR",
            [SOA_TEXT.format(serial=SERIAL + 1)],
        ),
        id="serial-skew-default-offset",
    ),
    pytest.param(
        FaultCase(
            FaultKind.NS_SERIAL_SKEW,
            "ns1",
            "edelivery.test",
            "SOA",
            "NOERROR",
            [SOA_TEXT.format(serial=SERIAL - 3)],
            {"offset": -3},
        ),
        id="serial-skew-behind",
    ),
    pytest.param(
        FaultCase(FaultKind.PARTICIPANT_REMOVED, P0, P0_BDXL, "NAPTR", "NXDOMAIN", []),
        id="removed-bdxl",
    ),
    pytest.param(
        FaultCase(FaultKind.PARTICIPANT_REMOVED, P0, P0_CLASSIC, "A", "NXDOMAIN", []),
        id="removed-classic",
    ),
    pytest.param(
        FaultCase(
            FaultKind.PARTICIPANT_REMOVED,
            P0,
            P1_BDXL,
            "NAPTR",
            "NOERROR",
            [naptr_to(SMP2, REGEXP_FORMS[1])],
        ),
        id="removed-leaves-others-alone",
    ),
    pytest.param(
        FaultCase(
            FaultKind.PARTICIPANT_WRONG_SMP, P0, P0_BDXL, "NAPTR", "NOERROR", [naptr_to(SMP2)]
        ),
        id="wrong-smp-bdxl-default",
    ),
    pytest.param(
        FaultCase(
            FaultKind.PARTICIPANT_WRONG_SMP,
            P0,
            P0_CLASSIC,
            "A",
            "NOERROR",
            ["smp2.publisher.edelivery.test.", "127.0.0.1"],
        ),
        id="wrong-smp-classic-default",
    ),
    pytest.param(
        FaultCase(
            FaultKind.PARTICIPANT_WRONG_SMP,
            P0,
            P0_BDXL,
            "NAPTR",
            "NOERROR",
            [naptr_to("https://elsewhere.example")],
            {"smp": "https://elsewhere.example"},
        ),
        id="wrong-smp-bdxl-given",
    ),
    pytest.param(
        FaultCase(
            FaultKind.PARTICIPANT_WRONG_SMP,
            P0,
            P0_CLASSIC,
            "CNAME",
            "NOERROR",
            ["wrong-smp.publisher.edelivery.test."],
            {"smp": "https://elsewhere.example"},
        ),
        id="wrong-smp-classic-given",
    ),
]


@pytest.mark.parametrize("case", FAULT_CASES)
async def test_fault(ns1: LabNameServer, faults: Faults, case: FaultCase) -> None:
    faults.inject(case.kind, case.target, **case.params)

    response = await ask(ns1, case.qname, case.rdtype)

    assert (rcode(response), answers(response)) == (case.rcode, case.answer)


async def test_serial_skew_also_shows_in_negative_answers(
    ns1: LabNameServer, faults: Faults
) -> None:
    faults.inject(FaultKind.NS_SERIAL_SKEW, "ns1", offset=5)

    response = await ask(ns1, "nobody.edelivery.test", "A")

    assert [rd.serial for rrset in response.authority for rd in rrset] == [SERIAL + 5]


async def test_healing_a_fault_restores_the_answer(ns1: LabNameServer, faults: Faults) -> None:
    before = await ask(ns1, P0_BDXL, "NAPTR")
    fault = faults.inject(FaultKind.PARTICIPANT_REMOVED, P0)
    during = await ask(ns1, P0_BDXL, "NAPTR")
    faults.heal(fault.id)
    after = await ask(ns1, P0_BDXL, "NAPTR")

    assert [rcode(before), rcode(during), rcode(after)] == ["NOERROR", "NXDOMAIN", "NOERROR"]
    assert answers(after) == answers(before)


async def test_down_server_drops_udp_queries(ns1: LabNameServer, faults: Faults) -> None:
    fault = faults.inject(FaultKind.NS_DOWN, "ns1")
    dropped = dns.message.make_query("edelivery.test", "SOA")
    answered = dns.message.make_query("edelivery.test", "SOA")

    async with raw_udp(ns1) as (udp, received):
        udp.sendto(dropped.to_wire())
        await until(lambda: ns1.queries == 1)
        faults.heal(fault.id)
        udp.sendto(answered.to_wire())
        first = dns.message.from_wire(await asyncio.wait_for(received.get(), 2))

    assert first.id == answered.id


async def test_down_server_closes_tcp_connections(ns1: LabNameServer, faults: Faults) -> None:
    faults.inject(FaultKind.NS_DOWN, "ns1")

    async with raw_tcp(ns1) as (reader, writer):
        writer.write(frame(dns.message.make_query("edelivery.test", "SOA").to_wire()))
        rest = await asyncio.wait_for(reader.read(), 2)

    assert rest == b""
    assert ns1.queries == 1


async def test_down_server_leaves_the_other_server_up(
    ns1: LabNameServer, ns2: LabNameServer, faults: Faults
) -> None:
    faults.inject(FaultKind.NS_DOWN, "ns1")

    response = await ask(ns2, "edelivery.test", "SOA")

    assert rcode(response) == "NOERROR"


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_slow_server_replies_after_the_delay(
    ns1: LabNameServer, faults: Faults, tcp: bool
) -> None:
    faults.inject(FaultKind.NS_SLOW, "ns1", delay=0.05)

    response = await ask(ns1, P0_BDXL, "NAPTR", tcp=tcp)

    assert answers(response) == [naptr_to(SMP1)]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_a_slow_reply_blocks_no_other_query(
    ns1: LabNameServer, ns2: LabNameServer, faults: Faults, tcp: bool
) -> None:
    # Far longer than the test: the slow reply can only be pending when the others return.
    fault = faults.inject(FaultKind.NS_SLOW, "ns1", delay=60)
    slow = asyncio.create_task(ask(ns1, P0_BDXL, "NAPTR", tcp=tcp))
    await until(lambda: ns1.queries == 1)

    other_server = await ask(ns2, P0_BDXL, "NAPTR", tcp=tcp)
    faults.heal(fault.id)
    same_server = await ask(ns1, P1_BDXL, "NAPTR", tcp=tcp)

    assert not slow.done()
    assert rcode(other_server) == rcode(same_server) == "NOERROR"
    slow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await slow


async def test_stop_discards_pending_slow_replies(faults: Faults) -> None:
    faults.inject(FaultKind.NS_SLOW, "ns1", delay=60)
    server = LabNameServer(ZONE, faults)
    await server.start()
    async with raw_udp(server) as (udp, _), raw_tcp(server) as (_, writer):
        udp.sendto(dns.message.make_query("edelivery.test", "SOA").to_wire())
        writer.write(frame(dns.message.make_query("edelivery.test", "SOA").to_wire()))
        await until(lambda: server.queries == 2)

        await server.stop()

    with pytest.raises(RuntimeError, match="not started"):
        _ = server.address


# -- life cycle --------------------------------------------------------------------------


async def test_udp_and_tcp_share_one_port_and_queries_are_counted(ns1: LabNameServer) -> None:
    host, port = ns1.address

    await ask(ns1, "edelivery.test", "SOA")
    await ask(ns1, "edelivery.test", "SOA", tcp=True)

    assert host == "127.0.0.1"
    assert port > 0
    assert ns1.queries == 2


async def test_servers_can_be_restarted(faults: Faults) -> None:
    server = LabNameServer(ZONE, faults)
    for _ in range(2):
        async with server:
            assert rcode(await ask(server, "edelivery.test", "SOA")) == "NOERROR"


async def test_starting_twice_is_an_error(ns1: LabNameServer) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        await ns1.start()


# -- dig, a second independent client ----------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param([P0_BDXL, "NAPTR"], [naptr_to(SMP1)], id="naptr"),
        pytest.param([P0_BDXL, "NAPTR", "+tcp"], [naptr_to(SMP1)], id="naptr-tcp"),
        pytest.param(["edelivery.test", "SOA"], [SOA_TEXT.format(serial=SERIAL)], id="soa"),
        pytest.param(
            ["edelivery.test", "NS"], ["ns1.edelivery.test.", "ns2.edelivery.test."], id="ns"
        ),
        pytest.param([P1_CLASSIC, "CNAME"], ["smp2.publisher.edelivery.test."], id="cname"),
    ],
)
async def test_dig(ns1: LabNameServer, args: list[str], expected: list[str]) -> None:
    dig = require_program("dig")
    host, port = ns1.address
    # Not subprocess.run: the server runs on this very event loop.
    process = await asyncio.create_subprocess_exec(
        dig,
        f"@{host}",
        "-p",
        str(port),
        *args,
        "+short",
        "+time=2",
        "+tries=1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()

    assert process.returncode == 0, stderr.decode()
    assert sorted(stdout.decode().splitlines()) == sorted(expected)
