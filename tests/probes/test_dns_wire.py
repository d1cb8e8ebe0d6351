"""The lean DNS reader against dnspython, the reference, and against hostile bytes."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.NAPTR
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.dns_wire import (
    TYPE_A,
    TYPE_CNAME,
    TYPE_NAPTR,
    TYPE_SOA,
    WireError,
    bdxl_qname,
    build_query,
    encode_name,
    parse_message,
    read_a,
    read_name_rdata,
    read_naptr,
    read_soa_serial,
)
from probes.naming import NamingScheme, ParticipantId, participant_name

ZONE = "sml.vigie.test"
# dnspython's rdata constructors carry no annotations.
NAPTR: Any = dns.rdtypes.IN.NAPTR.NAPTR

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
names = st.lists(labels, min_size=1, max_size=5).map(lambda parts: ".".join(parts) + ".")
char_strings = st.binary(max_size=60)


@st.composite
def responses(draw: st.DrawFn) -> dns.message.Message:
    """A response with random NAPTR, CNAME, A and SOA records (compressed by dnspython)."""
    qname = draw(names)
    message = dns.message.make_response(dns.message.make_query(qname, "NAPTR"))
    message.flags |= dns.flags.AA if draw(st.booleans()) else 0
    message.set_rcode(dns.rcode.Rcode(draw(st.sampled_from([0, 2, 3, 5]))))
    for _ in range(draw(st.integers(0, 6))):
        owner = draw(st.sampled_from([qname, draw(names)]))
        kind = draw(st.sampled_from(["NAPTR", "CNAME", "A", "SOA"]))
        if kind == "NAPTR":
            rdata = NAPTR(
                dns.rdataclass.IN,
                dns.rdatatype.NAPTR,
                draw(st.integers(0, 65535)),
                draw(st.integers(0, 65535)),
                draw(char_strings),
                draw(char_strings),
                draw(char_strings),
                dns.name.from_text(draw(names)),
            )
        elif kind == "CNAME":
            rdata = dns.rdata.from_text("IN", "CNAME", draw(names))
        elif kind == "A":
            rdata = dns.rdata.from_text("IN", "A", draw(st.ip_addresses(v=4)).exploded)
        else:
            serial = draw(st.integers(0, 2**32 - 1))
            rdata = dns.rdata.from_text(
                "IN", "SOA", f"{draw(names)} {draw(names)} {serial} 1 2 3 4"
            )
        message.answer.append(dns.rrset.from_rdata(owner, 60, rdata))
    return message


def _text(name: dns.name.Name) -> bytes:
    return name.to_text(omit_final_dot=True).lower().encode()


@settings(max_examples=150, deadline=None)
@given(responses())
def test_the_reader_agrees_with_dnspython(reference: dns.message.Message) -> None:
    wire = reference.to_wire()
    ours = parse_message(wire)
    assert (ours.id, ours.rcode, ours.authoritative) == (
        reference.id,
        reference.rcode(),
        bool(reference.flags & dns.flags.AA),
    )
    expected = [(rrset, rdata) for rrset in reference.answer for rdata in rrset]
    assert len(ours.answer) == len(expected)
    for record, (rrset, rdata) in zip(ours.answer, expected, strict=True):
        assert (record.name, record.rtype) == (_text(rrset.name), rrset.rdtype)
        if record.rtype == TYPE_NAPTR:
            naptr = read_naptr(wire, record)
            assert (naptr.order, naptr.preference) == (rdata.order, rdata.preference)
            assert (naptr.flags, naptr.service, naptr.regexp) == (
                rdata.flags,
                rdata.service,
                rdata.regexp,
            )
            assert naptr.replacement == _text(rdata.replacement)
        elif record.rtype == TYPE_CNAME:
            assert read_name_rdata(wire, record) == _text(rdata.target)
        elif record.rtype == TYPE_A:
            assert read_a(wire, record) == rdata.address
        elif record.rtype == TYPE_SOA:
            assert read_soa_serial(wire, record) == rdata.serial


@settings(max_examples=200, deadline=None)
@given(responses(), st.data())
def test_damaged_messages_raise_only_wire_error(
    reference: dns.message.Message, data: st.DataObject
) -> None:
    wire = bytearray(reference.to_wire())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(wire) - 1))
        wire[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    _read_everything(bytes(wire[:cut]))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_raises_only_wire_error(wire: bytes) -> None:
    _read_everything(wire)


def _read_everything(wire: bytes) -> None:
    try:
        message = parse_message(wire)
        for record in message.answer:
            reader = {
                TYPE_NAPTR: read_naptr,
                TYPE_CNAME: read_name_rdata,
                TYPE_A: read_a,
                TYPE_SOA: read_soa_serial,
            }.get(record.rtype)
            if reader is not None:
                reader(wire, record)
    except WireError:
        pass


@pytest.mark.parametrize(
    "wire",
    [
        # A name that points at itself, and two that point at each other.
        pytest.param(b"\x00\x01\x84\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c", id="self-loop"),
        pytest.param(
            b"\x00\x01\x84\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\xc0\x10\xc0\x0c",
            id="forward-pointer",
        ),
        pytest.param(
            b"\x00\x01\x04\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01", id="a-query"
        ),
        pytest.param(b"\x00\x01\x84\x00\x00\x02\x00\x00\x00\x00\x00\x00", id="two-questions"),
        pytest.param(b"\x00\x01\x84\x00" + b"\x00" * 7, id="short-header"),
        pytest.param(
            b"\x00\x01\x84\x00\x00\x01\x00\x00\x00\x00\x00\x00"
            + b"\x3fa" * 5
            + b"\x00\x00\x01\x00\x01",
            id="label-past-the-end",
        ),
    ],
)
def test_hostile_messages_are_wire_errors(wire: bytes) -> None:
    with pytest.raises(WireError):
        parse_message(wire)


def test_a_name_longer_than_255_bytes_is_a_wire_error() -> None:
    long_name = (b"\x3f" + b"a" * 63) * 4 + b"\x00"
    wire = b"\x00\x01\x84\x00\x00\x01\x00\x00\x00\x00\x00\x00" + long_name + b"\x00\x01\x00\x01"
    with pytest.raises(WireError, match="longer than 255"):
        parse_message(wire)


@pytest.mark.parametrize("recursion", [True, False])
def test_queries_are_what_dnspython_reads(recursion: bool) -> None:
    participant = ParticipantId.parse("iso6523-actorid-upis::0088:123ABC")
    qname = bdxl_qname(
        participant.value, encode_name(str(participant.scheme))[:-1], encode_name(ZONE)
    )
    query = dns.message.from_wire(build_query(qname, TYPE_NAPTR, recursion=recursion, query_id=7))
    question = query.question[0]
    expected = participant_name(participant, ZONE, NamingScheme.NAPTR)
    assert question.name == dns.name.from_text(expected)
    assert (question.rdtype, query.id, bool(query.flags & dns.flags.RD)) == (
        dns.rdatatype.NAPTR,
        7,
        recursion,
    )


@pytest.mark.parametrize("name", ["a..b", "x" * 64 + ".test", ".".join(["abcdefghi"] * 30)])
def test_impossible_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid DNS name"):
        encode_name(name)
