"""What an SML answer says about one participant (pure functions over answer bytes, no I/O).

BDXL: the U-NAPTR records with service `Meta:SMP` (case-insensitive), lowest order then
lowest preference, whose regexp is `!.*!URL!` or `!^.*$!URL!` (any delimiter, optional
`i` flag), give the SMP URL. Classic: the participant name is a CNAME to
`{SMP-ID}.publisher.{ZONE}`, itself an A record or a CNAME to the SMP host. Every outcome
is one `FailureReason`; malformed input is a reason too, never an exception.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from probes._base import FailureReason
from probes.dns_wire import (
    TYPE_A,
    TYPE_CNAME,
    TYPE_NAPTR,
    Message,
    WireError,
    parse_message,
    read_name_rdata,
    read_naptr,
)

__all__ = [
    "RCODE_REASONS",
    "Lookup",
    "canonical_smp",
    "evaluate_classic",
    "evaluate_naptr",
    "naptr_url",
    "parse_answer",
]

RCODE_REASONS = {
    2: FailureReason.SERVFAIL,
    3: FailureReason.NXDOMAIN,
    5: FailureReason.REFUSED,
}
_ACCEPTED_EXPRESSIONS = (b".*", b"^.*$")
_MAX_CNAME_CHAIN = 8


class Lookup(NamedTuple):
    """One participant lookup: its reason, a short detail, and the SMP found (if any)."""

    reason: FailureReason
    detail: str = ""
    smp: str = ""  # BDXL: the SMP URL; classic: the publisher name
    smp_host: str = ""  # classic: the end of the CNAME chain


def canonical_smp(text: str) -> str:
    """An SMP URL or host name in the form two of them are compared in.

    Scheme and host are case-insensitive and a trailing slash means nothing; a bare host
    name (classic publisher names) is just lower-cased.
    """
    text = text.strip()
    if "://" not in text:
        return text.rstrip(".").lower()
    parts = urlsplit(text)
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def parse_answer(wire: bytes, *, authoritative: bool) -> tuple[Message | None, Lookup]:
    """The parsed message, or the reason it cannot be used (rcode, AA, malformed)."""
    try:
        message = parse_message(wire)
    except WireError as exc:
        return None, Lookup(FailureReason.MALFORMED_RESPONSE, f"malformed answer: {exc}")
    if message.rcode:
        reason = RCODE_REASONS.get(message.rcode, FailureReason.DNS_ERROR)
        return message, Lookup(reason, f"rcode {message.rcode}")
    if authoritative and not message.authoritative:
        return message, Lookup(FailureReason.NOT_AUTHORITATIVE, "answer without the AA flag")
    return message, Lookup(FailureReason.OK)


def naptr_url(regexp: bytes) -> str | None:
    """The URL of a `!.*!URL!`-style substitution, or None if the regexp is not one."""
    if len(regexp) < 4:
        return None
    delimiter = regexp[:1]
    if delimiter in b"\\i0123456789" or not delimiter.isascii():
        return None
    parts = regexp[1:].split(delimiter)
    if len(parts) != 3 or parts[2] not in (b"", b"i"):
        return None
    expression, replacement = parts[0], parts[1]
    # A backslash would be a back-reference or an escaped delimiter: not an SML form.
    if expression not in _ACCEPTED_EXPRESSIONS or b"\\" in replacement:
        return None
    try:
        url = replacement.decode("ascii")
    except UnicodeDecodeError:
        return None
    parts_url = urlsplit(url)
    if parts_url.scheme.lower() not in ("http", "https") or not parts_url.hostname:
        return None
    return url


def evaluate_naptr(message: Message, qname: bytes, expected: str | None) -> Lookup:
    """The SMP URL the NAPTRs at `qname` (lower-case dotted) give, compared with `expected`."""
    wire = message.wire
    candidates = []
    found = 0
    try:
        for record in message.answer:
            if record.rtype == TYPE_NAPTR and record.name == qname:
                found += 1
                naptr = read_naptr(wire, record)
                if naptr.flags.lower() == b"u" and naptr.service.lower() == b"meta:smp":
                    candidates.append(naptr)
    except WireError as exc:
        return Lookup(FailureReason.MALFORMED_RECORD, f"NAPTR does not parse: {exc}")
    if not candidates:
        if found:
            return Lookup(FailureReason.NO_META_SMP_RECORD, "no U-NAPTR with service Meta:SMP")
        return Lookup(FailureReason.NODATA, "no NAPTR at the participant's name")
    best = min(candidates, key=lambda naptr: (naptr.order, naptr.preference))
    url = naptr_url(best.regexp)
    if url is None:
        shown = best.regexp[:80].decode("ascii", "replace")
        return Lookup(FailureReason.MALFORMED_RECORD, f"unusable NAPTR regexp {shown!r}")
    if expected is not None and canonical_smp(url) != canonical_smp(expected):
        return Lookup(FailureReason.WRONG_SMP, f"points to {url}, expected {expected}", url)
    return Lookup(FailureReason.OK, "", url)


def evaluate_classic(message: Message, qname: bytes, zone: bytes, expected: str | None) -> Lookup:
    """Follow the CNAME chain from `qname` to the publisher name and the SMP host."""
    wire = message.wire
    publisher_suffix = b".publisher." + zone
    cnames: dict[bytes, bytes] = {}
    addresses: set[bytes] = set()
    try:
        for record in message.answer:
            if record.rtype == TYPE_CNAME:
                cnames[record.name] = read_name_rdata(wire, record)
            elif record.rtype == TYPE_A:
                addresses.add(record.name)
    except WireError as exc:
        return Lookup(FailureReason.MALFORMED_RECORD, f"CNAME does not parse: {exc}")
    publisher = cnames.get(qname)
    if publisher is None:
        return Lookup(FailureReason.NODATA, "no CNAME at the participant's name")
    if not publisher.endswith(publisher_suffix) or b"." in publisher[: -len(publisher_suffix)]:
        shown = publisher.decode("ascii", "replace")
        return Lookup(FailureReason.MALFORMED_RECORD, f"CNAME to {shown}, not a publisher name")
    host = publisher
    for _ in range(_MAX_CNAME_CHAIN):
        following = cnames.get(host)
        if following is None:
            break
        host = following
    publisher_text = publisher.decode("ascii", "replace")
    host_text = host.decode("ascii", "replace")
    if host == publisher and publisher not in addresses:
        return Lookup(FailureReason.NODATA, f"{publisher_text} has no address", publisher_text)
    if expected is not None:
        wanted = canonical_smp(urlsplit(expected).hostname or "" if "://" in expected else expected)
        smp_id = publisher_text[: -len(publisher_suffix)]
        if wanted not in (smp_id, publisher_text, host_text):
            return Lookup(
                FailureReason.WRONG_SMP,
                f"points to {publisher_text}, expected {expected}",
                publisher_text,
                host_text,
            )
    return Lookup(FailureReason.OK, "", publisher_text, host_text)
