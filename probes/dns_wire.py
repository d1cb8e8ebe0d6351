"""DNS wire format, only as much as the SML checks need: build a query, read an answer.

dnspython's `from_wire` builds full objects for every record and costs ~175 us per
message; a sweep of a million participants needs far less. This module reads the header,
skips the question, and walks the answer records lazily, decoding only NAPTR, CNAME, DNAME,
A, NS and SOA rdata. dnspython stays the reference: the tests parse the same messages with
both. Any input, however hostile, ends as `WireError` (bounds-checked reads, compression
pointers that may only point backwards, names capped at 255 bytes), never another error.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from probes.naming import bdxl_label
from vocab.errors import TargetError

__all__ = [
    "CLASS_IN",
    "TYPE_A",
    "TYPE_CNAME",
    "TYPE_DNAME",
    "TYPE_NAPTR",
    "TYPE_NS",
    "TYPE_SOA",
    "Message",
    "Naptr",
    "Record",
    "WireError",
    "bdxl_qname",
    "build_query",
    "encode_name",
    "parse_message",
    "read_a",
    "read_name_rdata",
    "read_naptr",
    "read_soa_serial",
]

TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_NAPTR, TYPE_DNAME = 1, 2, 5, 6, 35, 39
CLASS_IN = 1
FLAG_QR, FLAG_AA, FLAG_TC, FLAG_RD = 0x8000, 0x0400, 0x0200, 0x0100
_MAX_NAME = 255
_HEADER = struct.Struct("!HHHHHH")
_RECORD = struct.Struct("!HHIH")


class WireError(TargetError, ValueError):
    """A message or record that does not parse (the only error this module raises)."""


class Record(NamedTuple):
    """One resource record; rdata stays in the message (`start`..`end`) until read."""

    name: bytes  # lower case, dotted, no final dot
    rtype: int
    rclass: int
    ttl: int
    start: int
    end: int


class Message(NamedTuple):
    id: int
    flags: int
    rcode: int
    question: bytes  # the question section as sent back, raw
    answer: list[Record]
    wire: bytes

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & FLAG_AA)

    @property
    def truncated(self) -> bool:
        return bool(self.flags & FLAG_TC)


class Naptr(NamedTuple):
    order: int
    preference: int
    flags: bytes
    service: bytes
    regexp: bytes
    replacement: bytes


def encode_name(name: str) -> bytes:
    """Wire form of a dotted name (ASCII, no escapes); ValueError for an impossible name."""
    out = bytearray()
    for label in name.rstrip(".").encode("ascii").split(b"."):
        if not 0 < len(label) < 64:
            raise ValueError(f"invalid DNS name {name!r}: labels must have 1-63 characters")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > _MAX_NAME:
        raise ValueError(f"invalid DNS name {name!r}: longer than 255 bytes")
    return bytes(out)


def bdxl_qname(value: str, scheme_wire: bytes, zone_wire: bytes) -> bytes:
    """Wire name of a BDXL participant: the hash label, `scheme_wire` (may be b""), the zone.

    The same name as `probes.naming.participant_name`, built without text round trips
    because a sweep builds one per check.
    """
    return b"\x34" + bdxl_label(value).encode("ascii") + scheme_wire + zone_wire


def build_query(qname_wire: bytes, qtype: int, *, recursion: bool, query_id: int = 0) -> bytes:
    """A query without EDNS (answers over 512 bytes come truncated and go to TCP)."""
    flags = FLAG_RD if recursion else 0
    return (
        _HEADER.pack(query_id, flags, 1, 0, 0, 0) + qname_wire + struct.pack("!HH", qtype, CLASS_IN)
    )


def read_name(wire: bytes, pos: int) -> tuple[bytes, int]:
    """(lower-case dotted name, position after it) of the name at `pos`."""
    labels: list[bytes] = []
    size = len(wire)
    after = -1
    total = 1
    while True:
        if pos >= size:
            raise WireError("name runs past the end of the message")
        length = wire[pos]
        if length == 0:
            pos += 1
            break
        if length >= 0xC0:
            if pos + 1 >= size:
                raise WireError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | wire[pos + 1]
            # Only backward pointers: every jump lands strictly earlier, so no loop.
            if target >= pos:
                raise WireError("compression pointer does not point backwards")
            if after < 0:
                after = pos + 2
            pos = target
            continue
        if length > 63:
            raise WireError("unknown label type")
        end = pos + 1 + length
        if end > size:
            raise WireError("label runs past the end of the message")
        total += length + 1
        if total > _MAX_NAME:
            raise WireError("name longer than 255 bytes")
        label = wire[pos + 1 : end]
        if b"." in label or b"\\" in label:  # keep the dotted form unambiguous
            label = label.replace(b"\\", b"\\\\").replace(b".", b"\\.")
        labels.append(label)
        pos = end
    return b".".join(labels).lower(), (after if after >= 0 else pos)


def parse_message(wire: bytes) -> Message:
    """Header, raw question and answer records of a response to one question."""
    if len(wire) < 12:
        raise WireError("shorter than a DNS header")
    query_id, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(wire)
    if not flags & FLAG_QR:
        raise WireError("not a response")
    if qdcount != 1:
        raise WireError(f"{qdcount} questions, expected 1")
    _, pos = read_name(wire, 12)
    pos += 4
    if pos > len(wire):
        raise WireError("question runs past the end of the message")
    question = wire[12:pos]
    answer = []
    size = len(wire)
    for _ in range(ancount):
        name, pos = read_name(wire, pos)
        if pos + 10 > size:
            raise WireError("record header runs past the end of the message")
        rtype, rclass, ttl, rdlength = _RECORD.unpack_from(wire, pos)
        start = pos + 10
        pos = start + rdlength
        if pos > size:
            raise WireError("rdata runs past the end of the message")
        answer.append(Record(name, rtype, rclass, ttl, start, pos))
    return Message(query_id, flags, flags & 0xF, question, answer, wire)


def _char_string(wire: bytes, pos: int, end: int) -> tuple[bytes, int]:
    if pos >= end:
        raise WireError("character-string runs past its record")
    stop = pos + 1 + wire[pos]
    if stop > end:
        raise WireError("character-string runs past its record")
    return wire[pos + 1 : stop], stop


def read_naptr(wire: bytes, record: Record) -> Naptr:
    start, end = record.start, record.end
    if end - start < 4:
        raise WireError("NAPTR rdata too short")
    order, preference = struct.unpack_from("!HH", wire, start)
    flags, pos = _char_string(wire, start + 4, end)
    service, pos = _char_string(wire, pos, end)
    regexp, pos = _char_string(wire, pos, end)
    replacement, pos = read_name(wire[:end], pos)
    if pos != end:
        raise WireError("NAPTR rdata has trailing bytes")
    return Naptr(order, preference, flags, service, regexp, replacement)


def read_name_rdata(wire: bytes, record: Record) -> bytes:
    """The name a CNAME, DNAME or NS record holds."""
    name, pos = read_name(wire[: record.end], record.start)
    if pos != record.end:
        raise WireError("name rdata has trailing bytes")
    return name


def read_a(wire: bytes, record: Record) -> str:
    if record.end - record.start != 4:
        raise WireError("A rdata is not 4 bytes")
    return ".".join(str(octet) for octet in wire[record.start : record.end])


def read_soa_serial(wire: bytes, record: Record) -> int:
    _, pos = read_name(wire[: record.end], record.start)
    _, pos = read_name(wire[: record.end], pos)
    if record.end - pos != 20:
        raise WireError("SOA rdata has the wrong length")
    serial: int = struct.unpack_from("!I", wire, pos)[0]
    return serial
