"""The lab's SML zone: which names exist and which records they carry (pure data, no I/O).

Every participant is published in both naming schemes: a classic `B-<md5>` name that is a
CNAME to `smp{k}.publisher.<origin>`, and a BDXL `<base32(sha256)>` name with a U-NAPTR
`Meta:SMP` record. Participant records are built on demand from a compact index, so a zone
of a million participants costs a couple of hundred megabytes, not gigabytes of rrsets.

Besides the participants, the zone holds fixtures for the probes' tests (see the module
constants): a name with several NAPTRs of which exactly one is the right pick, a name
with a malformed NAPTR regexp, and a name whose answer is far too large for 512 bytes.

This module must never do I/O and never consult faults: the name server decides what a
fault changes and asks the zone for the records it needs (`participant_node`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.IN.NAPTR
import dns.rrset

from probes.naming import NamingScheme, ParticipantId, bdxl_label, classic_label, participant_name

__all__ = [
    "BAD_REGEXP_PARTICIPANT",
    "EBCORE_PARTICIPANTS",
    "GENERATED_SCHEME",
    "LARGE_LABEL",
    "LARGE_NAPTR_COUNT",
    "MULTI_NAPTR_PARTICIPANT",
    "TTL",
    "WRONG_SMP_PUBLISHER",
    "LabZone",
    "Node",
    "ParticipantRef",
]

TTL = 60
GENERATED_SCHEME = "iso6523-actorid-upis"
# Identifiers without a scheme: hashed whole, published without a scheme label.
EBCORE_PARTICIPANTS = (
    "urn:oasis:names:tc:ebcore:partyid-type:iso6523:0088:lab-ebcore-1",
    "urn:oasis:names:tc:ebcore:partyid-type:iso6523:0088:lab-ebcore-2",
)
# BDXL name with five NAPTRs; the only correct pick (flags U, service Meta:SMP compared
# case-insensitively, lowest order, then lowest preference) is `!.*!<smp_url(0)>!`, written
# with service "meta:smp". The decoys: a lower order with service Meta:SMS, a lower order
# with empty flags (a non-terminal rule), the same order with a worse preference, and a
# better preference with a worse order; each decoy URL names its trap. Not in
# `participant_ids()`.
MULTI_NAPTR_PARTICIPANT = f"{GENERATED_SCHEME}::9915:lab-multi-naptr"
# BDXL name whose only NAPTR has a regexp missing its closing delimiter. A parser that just
# splits on "!" still finds a URL in it; a correct one reports it malformed. Not in
# `participant_ids()`.
BAD_REGEXP_PARTICIPANT = f"{GENERATED_SCHEME}::9915:lab-bad-regexp"
# `large.<origin>` answers NAPTR with LARGE_NAPTR_COUNT records (about 3.5 KB): truncated
# over UDP without EDNS, whole over TCP or with an EDNS payload of 4096.
LARGE_LABEL = "large"
LARGE_NAPTR_COUNT = 40
# Publisher label the classic name points to when a wrong-SMP fault names a URL that is
# not one of the zone's SMPs; it has an A record, so the CNAME chain still resolves.
WRONG_SMP_PUBLISHER = "wrong-smp"

_IN = dns.rdataclass.IN
_LOOPBACK = "127.0.0.1"
_CLASSIC_LABEL_LENGTH = 34  # "b-" + 32 hex digits
_BDXL_LABEL_LENGTH = 52  # base32 of 32 bytes, without its 4 padding characters
_BASE32_TO_DIGITS = bytes.maketrans(
    b"abcdefghijklmnopqrstuvwxyz234567", b"0123456789abcdefghijklmnopqrstuv"
)
_REGEXP_FORMS = ("!^.*$!{url}!", "!.*!{url}!")
# dnspython's rdata constructors carry no annotations; these aliases give them one. They
# are used for per-participant records because parsing zone-file text costs ten times more.
_NaptrRdata: Callable[..., dns.rdata.Rdata] = dns.rdtypes.IN.NAPTR.NAPTR
_CnameRdata: Callable[..., dns.rdata.Rdata] = dns.rdtypes.ANY.CNAME.CNAME


@dataclass(frozen=True, slots=True)
class ParticipantRef:
    """A participant name: the participant's index and the scheme the name belongs to."""

    index: int
    scheme: NamingScheme


@dataclass(frozen=True, slots=True)
class Node:
    """Every rrset at one name of the zone; no rrsets at all is an empty non-terminal."""

    name: dns.name.Name
    rrsets: Mapping[dns.rdatatype.RdataType, dns.rrset.RRset] = field(default_factory=dict)
    participant: ParticipantRef | None = None


class LabZone:
    """The lab's SML zone, answering `lookup(name)` from a compact participant index."""

    def __init__(
        self,
        origin: str = "edelivery.test",
        participants: int = 1000,
        smp_urls: Sequence[str] = ("https://smp1.edelivery.test",),
        serial: int = 2026112201,
        nameservers: Sequence[str] = ("ns1", "ns2"),
        extra_participants: Sequence[str] = (),
    ) -> None:
        if participants < 0:
            raise ValueError("participants must be >= 0")
        if not smp_urls:
            raise ValueError("the zone needs at least one SMP URL")
        if not nameservers:
            raise ValueError("the zone needs at least one name server")
        self.origin = origin.rstrip(".").lower()
        self.origin_name = dns.name.from_text(self.origin)
        self._origin_folded = _folded(self.origin_name)
        self.serial = serial
        self.nameserver_names: tuple[str, ...] = tuple(nameservers)
        self._smp_urls = tuple(smp_urls)
        self._generated = participants
        self._listed = tuple(EBCORE_PARTICIPANTS) + tuple(
            str(ParticipantId.parse(text)) for text in extra_participants
        )
        self._classic_index: dict[bytes, int] = {}
        self._bdxl_index: dict[bytes, int] = {}
        self._index_participants()
        self._publishers = tuple(
            self._name(f"smp{k + 1}.publisher") for k in range(len(self._smp_urls))
        )
        self._wrong_publisher = self._name(f"{WRONG_SMP_PUBLISHER}.publisher")
        # Keyed by lower-case labels: dnspython hashes a Name byte by byte in Python.
        self._static: dict[tuple[bytes, ...], Node] = {}
        self._add_static_nodes()

    # -- participants ------------------------------------------------------------------

    def __len__(self) -> int:
        return self._generated + len(self._listed)

    def participant(self, index: int) -> str:
        """Identifier (`SCHEME::VALUE`, or a bare value) of participant `index`."""
        if not 0 <= index < len(self):
            raise IndexError(f"participant {index} not in a zone of {len(self)}")
        if index < self._generated:
            return f"{GENERATED_SCHEME}::{_generated_value(index)}"
        return self._listed[index - self._generated]

    def participant_ids(self) -> Iterator[str]:
        return (self.participant(index) for index in range(len(self)))

    def index_of(self, participant_id: str) -> int | None:
        """Index of a participant of this zone (values compare case-insensitively)."""
        wanted = ParticipantId.parse(participant_id)
        index = self._classic_index.get(_classic_key(wanted.value))
        if index is None:
            return None
        found = ParticipantId.parse(self.participant(index))
        if found.scheme != wanted.scheme or found.value.lower() != wanted.value.lower():
            return None
        return index

    def smp_index(self, participant_id: str) -> int | None:
        """Which of the zone's SMPs hosts `participant_id`, or None if it is not in the zone."""
        index = self.index_of(participant_id)
        return None if index is None else self._smp_of(index)

    def smp_url(self, k: int) -> str:
        return self._smp_urls[k]

    @property
    def smp_urls(self) -> tuple[str, ...]:
        return self._smp_urls

    def wrong_smp_url(self, index: int) -> str:
        """Default URL of a wrong-SMP fault: the next SMP of the zone, or one it doesn't have."""
        if len(self._smp_urls) > 1:
            return self._smp_urls[(self._smp_of(index) + 1) % len(self._smp_urls)]
        return f"https://{WRONG_SMP_PUBLISHER}.{self.origin}"

    def participant_name(self, index: int, scheme: NamingScheme) -> dns.name.Name:
        """Name of participant `index` in `scheme` (what `probes.naming.participant_name` gives)."""
        pid = ParticipantId.parse(self.participant(index))
        label = classic_label if scheme is NamingScheme.CNAME else bdxl_label
        # Built from labels rather than parsed from text: several times cheaper per query.
        labels = [label(pid.value)]
        if pid.scheme is not None:
            labels.append(pid.scheme)
        return dns.name.Name([*labels, *self.origin_name.labels])

    def publisher_name(self, k: int) -> dns.name.Name:
        """Classic publisher name of SMP `k` (0-based): `smp{k+1}.publisher.<origin>`."""
        return self._publishers[k]

    # -- lookups -----------------------------------------------------------------------

    def contains(self, name: dns.name.Name) -> bool:
        """Whether `name` is at or below the origin (the server refuses anything else)."""
        return name.is_subdomain(self.origin_name)

    def lookup(self, name: dns.name.Name) -> Node | None:
        """The node at `name` (case-insensitive), or None when the name does not exist."""
        folded = _folded(name)
        node = self._static.get(folded)
        if node is not None:
            return node
        return self._participant_at(folded)

    def participant_node(
        self, ref: ParticipantRef, smp_url: str | None = None, name: dns.name.Name | None = None
    ) -> Node:
        """Records of one participant name; `smp_url` replaces its SMP (wrong-SMP fault).

        `name` saves recomputing the name when the caller already has it.
        """
        url = self._smp_urls[self._smp_of(ref.index)] if smp_url is None else smp_url
        if name is None:
            name = self.participant_name(ref.index, ref.scheme)
        if ref.scheme is NamingScheme.CNAME:
            rdata = _cname(self._publisher_for(url))
        else:
            regexp = _REGEXP_FORMS[ref.index % len(_REGEXP_FORMS)].format(url=url)
            rdata = _naptr(100, 10, "U", "Meta:SMP", regexp)
        return Node(name, {rdata.rdtype: dns.rrset.from_rdata(name, TTL, rdata)}, ref)

    def soa(self) -> dns.rrset.RRset:
        return self._static[_folded(self.origin_name)].rrsets[dns.rdatatype.SOA]

    # -- building ----------------------------------------------------------------------

    def _index_participants(self) -> None:
        # Raw digests instead of the text labels: half the memory at a million participants.
        # The generated values are already lower case, which the hashes require.
        classic, bdxl = self._classic_index, self._bdxl_index
        for index in range(self._generated):
            value = _generated_value(index).encode()
            classic[hashlib.md5(value, usedforsecurity=False).digest()] = index
            bdxl[hashlib.sha256(value).digest()] = index
        for offset, text in enumerate(self._listed):
            listed_value = ParticipantId.parse(text).value
            classic[_classic_key(listed_value)] = self._generated + offset
            bdxl[_bdxl_key(listed_value)] = self._generated + offset
        if len(classic) != len(self):
            # Both names hash the value only, so two identifiers sharing a value collide.
            raise ValueError("participant identifiers must have distinct values")

    def _add_static_nodes(self) -> None:
        ns_names = [self._name(label) for label in self.nameserver_names]
        self._add(
            self.origin_name,
            dns.rrset.from_rdata(self.origin_name, TTL, self._soa_rdata()),
            dns.rrset.from_rdata(
                self.origin_name, TTL, *(_rdata("NS", n.to_text()) for n in ns_names)
            ),
        )
        for host in [*ns_names, *self._publishers, self._wrong_publisher]:
            self._add(host, dns.rrset.from_rdata(host, TTL, _rdata("A", _LOOPBACK)))
        self._add_fixtures()
        self._add_empty_non_terminals()

    def _add_fixtures(self) -> None:
        origin, right = self.origin, self._smp_urls[0]
        multi = self._bdxl_name_of(MULTI_NAPTR_PARTICIPANT)
        self._add(
            multi,
            dns.rrset.from_rdata(
                multi,
                TTL,
                _naptr(10, 10, "U", "Meta:SMS", f"!^.*$!https://sms-decoy.{origin}!"),
                _naptr(20, 10, "", "Meta:SMP", "", self.publisher_name(0).to_text()),
                _naptr(100, 10, "U", "meta:smp", f"!.*!{right}!"),
                _naptr(100, 20, "U", "Meta:SMP", f"!^.*$!https://preference-decoy.{origin}!"),
                _naptr(200, 1, "U", "Meta:SMP", f"!^.*$!https://order-decoy.{origin}!"),
            ),
        )
        bad = self._bdxl_name_of(BAD_REGEXP_PARTICIPANT)
        self._add(
            bad, dns.rrset.from_rdata(bad, TTL, _naptr(100, 10, "U", "Meta:SMP", f"!^.*$!{right}"))
        )
        large = self._name(LARGE_LABEL)
        padding = "/" + "x" * 20
        records = (
            _naptr(100, i, "U", "Meta:SMP", f"!^.*$!https://large-{i:02d}.{origin}{padding}!")
            for i in range(LARGE_NAPTR_COUNT)
        )
        self._add(large, dns.rrset.from_rdata(large, TTL, *records))

    def _add_empty_non_terminals(self) -> None:
        # Names with descendants but no records must answer NODATA, not NXDOMAIN (RFC 8020).
        schemes = {ParticipantId.parse(pid).scheme for pid in self._listed}
        labels = {GENERATED_SCHEME, "publisher"} | {s for s in schemes if s is not None}
        for label in labels:
            name = self._name(label)
            self._static.setdefault(_folded(name), Node(name))

    def _add(self, name: dns.name.Name, *rrsets: dns.rrset.RRset) -> None:
        self._static[_folded(name)] = Node(name, {rrset.rdtype: rrset for rrset in rrsets})

    def _soa_rdata(self) -> dns.rdata.Rdata:
        mname = self._name(self.nameserver_names[0]).to_text()
        rname = self._name("hostmaster").to_text()
        return _rdata("SOA", f"{mname} {rname} {self.serial} 3600 600 86400 {TTL}")

    # -- helpers -----------------------------------------------------------------------

    def _name(self, relative: str) -> dns.name.Name:
        return dns.name.from_text(relative, self.origin_name)

    def _bdxl_name_of(self, participant_id: str) -> dns.name.Name:
        pid = ParticipantId.parse(participant_id)
        return dns.name.from_text(participant_name(pid, self.origin, NamingScheme.NAPTR))

    def _smp_of(self, index: int) -> int:
        return index % len(self._smp_urls)

    def _publisher_for(self, url: str) -> dns.name.Name:
        if url in self._smp_urls:
            return self._publishers[self._smp_urls.index(url)]
        return self._wrong_publisher

    def _participant_at(self, folded: tuple[bytes, ...]) -> Node | None:
        # A participant name is one hash label, an optional scheme label, then the origin.
        origin = self._origin_folded
        if len(folded) - len(origin) not in (1, 2) or folded[-len(origin) :] != origin:
            return None
        decoded = _decode_hash_label(folded[0])
        if decoded is None:
            return None
        scheme, digest = decoded
        index_map = self._classic_index if scheme is NamingScheme.CNAME else self._bdxl_index
        index = index_map.get(digest)
        if index is None:
            return None
        # The hash only picked a candidate: the whole name (scheme label included) must match.
        canonical = self.participant_name(index, scheme)
        if _folded(canonical) != folded:
            return None
        return self.participant_node(ParticipantRef(index, scheme), name=canonical)


def _generated_value(index: int) -> str:
    return f"9915:lab{index:07d}"


def _classic_key(value: str) -> bytes:
    return hashlib.md5(value.lower().encode(), usedforsecurity=False).digest()


def _bdxl_key(value: str) -> bytes:
    return hashlib.sha256(value.lower().encode()).digest()


def _decode_hash_label(label: bytes) -> tuple[NamingScheme, bytes] | None:
    """The digest a lower-case first label encodes, or None if it is no hash label."""
    try:
        if len(label) == _CLASSIC_LABEL_LENGTH and label.startswith(b"b-"):
            return NamingScheme.CNAME, bytes.fromhex(label[2:].decode("ascii"))
        if len(label) == _BDXL_LABEL_LENGTH:
            # int() reads base32 once the RFC 4648 alphabet is mapped onto its digits, far
            # faster than base64.b32decode; the 4 bits past the 256 are the padding.
            number = int(label.translate(_BASE32_TO_DIGITS), 32)
            return NamingScheme.NAPTR, (number >> 4).to_bytes(32, "big")
    except (UnicodeDecodeError, ValueError, OverflowError):
        return None
    return None


def _folded(name: dns.name.Name) -> tuple[bytes, ...]:
    return tuple(label.lower() for label in name.labels)


def _rdata(rdtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(_IN, dns.rdatatype.from_text(rdtype), text)


def _naptr(
    order: int, preference: int, flags: str, service: str, regexp: str, replacement: str = "."
) -> dns.rdata.Rdata:
    return _NaptrRdata(
        _IN, dns.rdatatype.NAPTR, order, preference, flags, service, regexp, replacement
    )


def _cname(target: dns.name.Name) -> dns.rdata.Rdata:
    return _CnameRdata(_IN, dns.rdatatype.CNAME, target)
