"""What an SML answer says about one participant (pure functions over answer bytes, no I/O).

A CNAME or DNAME chain in the answer is followed first (RFC 1034 section 3.6.2, RFC 6672):
from the participant's name to the name that holds its records, loops and chains longer
than `MAX_CHAIN` refused. When the chain leaves the answer (the target zone is served
elsewhere), the lookup says which name to ask next (`Lookup.follow`); `probes.dns_chain`
asks it. BDXL: among the U-NAPTR records with service `Meta:SMP` (case-insensitive), in
order then preference (RFC 3403, RFC 4848), the first whose regexp is `!.*!URL!` or
`!^.*$!URL!` (any delimiter, optional `i` flag; `^.*`, `.*$` and `(.*)` too: they match
every name alike) gives the SMP URL; unusable records are skipped, and usable records of
equal order and preference are alternatives, chosen by their URL, never by the order the
server sent them in. Classic: the participant name is
a CNAME to `{SMP-ID}.publisher.{ZONE}`, itself an A record or a CNAME to the SMP host.
Every outcome is one `FailureReason`; malformed input is a reason too, never an exception.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

import dns.rcode

from probes._base import FailureReason
from probes.dns_wire import (
    TYPE_A,
    TYPE_CNAME,
    TYPE_DNAME,
    TYPE_NAPTR,
    Message,
    Naptr,
    WireError,
    parse_message,
    read_name_rdata,
    read_naptr,
)
from vocab.errors import TargetError

__all__ = [
    "MAX_CHAIN",
    "RCODE_REASONS",
    "SERVER_FAULTS",
    "ChainError",
    "ChainLink",
    "Lookup",
    "canonical_smp",
    "evaluate_classic",
    "evaluate_naptr",
    "naptr_url",
    "parse_answer",
    "renamed_zone",
    "rewrite_by_dname",
    "select_naptr",
    "walk_chain",
]

# Answers that speak of the server, not of the name: a resolver asks the zone's next
# server after one of these (RFC 1034 5.3.3, RFC 1035 7.2), so a sender still finds the
# participant when another server answers; only when none does is it the verdict.
SERVER_FAULTS = frozenset(
    {
        FailureReason.SERVFAIL,
        FailureReason.REFUSED,
        FailureReason.NOT_AUTHORITATIVE,
        FailureReason.MALFORMED_RESPONSE,
    }
)
RCODE_REASONS = {
    2: FailureReason.SERVFAIL,
    3: FailureReason.NXDOMAIN,
    5: FailureReason.REFUSED,
}
# Expressions that match every name, so the replacement is the URL whatever the name is:
# `.*` (or `.+`: a name is never empty), anchored or not, grouped or not. Senders anchor
# an expression at both ends before matching (ph-dns), so `^.*` and `.*$` are one rule.
_WHOLE_NAME = re.compile(rb"\^?(?:\.[*+]|\(\.[*+]\))\$?")
# Links of one CNAME/DNAME chain, across every answer of a lookup: resolvers stop near
# here too (BIND follows 16 CNAMEs, Unbound 11); SML chains have one or two.
MAX_CHAIN = 8
_MAX_NAME_TEXT = 253
_MAX_RECORDS_SHOWN = 20


class ChainLink(NamedTuple):
    """One step of a CNAME or DNAME chain: `owner rtype target` (lower case, no final dot)."""

    owner: str
    rtype: str  # "CNAME" or "DNAME"
    target: str

    def __str__(self) -> str:
        return f"{self.owner} {self.rtype} {self.target}"


class ChainError(TargetError, ValueError):
    """A chain that loops or is longer than MAX_CHAIN."""


class Lookup(NamedTuple):
    """One participant lookup: its reason, a short detail, and the SMP found (if any)."""

    reason: FailureReason
    detail: str = ""
    smp: str = ""  # BDXL: the SMP URL; classic: the publisher name
    smp_host: str = ""  # classic: the end of the CNAME chain
    chain: tuple[ChainLink, ...] = ()  # CNAME/DNAME links from the participant's name
    # The chain leads out of this answer: the name to ask next (lower-case dotted).
    follow: bytes = b""
    # BDXL: every usable SMP URL of the chosen order and preference (smp is one of them).
    alternatives: tuple[str, ...] = ()
    # The records read at the end of the chain, as text (NAPTRs; classic: the CNAMEs).
    records: tuple[str, ...] = ()


def canonical_smp(text: str) -> str:
    """An SMP URL or host name in the form two of them are compared in.

    Scheme and host are case-insensitive, a default port and a trailing slash mean
    nothing; a bare host name (classic publisher names) is just lower-cased.
    """
    text = text.strip()
    if "://" not in text:
        return text.rstrip(".").lower()
    parts = urlsplit(text)
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    # RFC 3986 6.2.3: a scheme's default port, written or not, is the same URL.
    default = {"https": ":443", "http": ":80"}.get(scheme)
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def parse_answer(wire: bytes, *, authoritative: bool) -> tuple[Message | None, Lookup]:
    """The parsed message, or the reason it cannot be used (rcode, AA, malformed)."""
    try:
        message = parse_message(wire)
    except WireError as exc:
        return None, Lookup(FailureReason.MALFORMED_RESPONSE, f"malformed answer: {exc}")
    if message.rcode:
        reason = RCODE_REASONS.get(message.rcode, FailureReason.DNS_ERROR)
        return message, Lookup(reason, dns.rcode.to_text(dns.rcode.Rcode.make(message.rcode)))
    if authoritative and not message.authoritative:
        return message, Lookup(FailureReason.NOT_AUTHORITATIVE, "answer without the AA flag")
    return message, Lookup(FailureReason.OK)


def naptr_url(regexp: bytes) -> str | None:
    """The URL of a `!.*!URL!`-style substitution, or None if the regexp is not one."""
    if len(regexp) < 4:
        return None
    delimiter = regexp[:1]
    # RFC 3402's ABNF: the flag is "i", and ABNF strings are case-insensitive, so "I" too;
    # neither may be the delimiter, nor a digit or a backslash.
    if delimiter in b"\\iI0123456789" or not delimiter.isascii():
        return None
    parts = regexp[1:].split(delimiter)
    if len(parts) != 3 or parts[2].lower() not in (b"", b"i"):
        return None
    expression, replacement = parts[0], parts[1]
    # A backslash would be a back-reference or an escaped delimiter: not an SML form.
    if not _WHOLE_NAME.fullmatch(expression) or b"\\" in replacement:
        return None
    try:
        url = replacement.decode("ascii")
    except UnicodeDecodeError:
        return None
    parts_url = urlsplit(url)
    if parts_url.scheme.lower() not in ("http", "https") or not parts_url.hostname:
        return None
    return url


def rewrite_by_dname(name: bytes, owner: bytes, target: bytes) -> bytes | None:
    """`name` with the suffix `owner` replaced by `target`, None when `owner` is not a proper
    ancestor of `name` (a DNAME redirects the names below its owner, not the owner)."""
    if not name.endswith(b"." + owner):
        return None
    return name[: -len(owner)] + target


def renamed_zone(zone: bytes, chain: tuple[ChainLink, ...]) -> bytes:
    """`zone` as the DNAMEs of `chain` rename it (a DNAME at or above the zone moves it)."""
    for link in chain:
        if link.rtype != "DNAME":
            continue
        owner, target = link.owner.encode(), link.target.encode()
        zone = target if zone == owner else rewrite_by_dname(zone, owner, target) or zone
    return zone


def walk_chain(
    message: Message, name: bytes, *, cnames: bool = True
) -> tuple[bytes, tuple[ChainLink, ...]]:
    """Follow the DNAME (and, with `cnames`, CNAME) records of the answer from `name`.

    Returns the name the chain ends at and its links; ChainError for a loop, a chain longer
    than MAX_CHAIN, or a substitution longer than a DNS name may be. A DNAME is preferred
    over the CNAME a server synthesised from it: both lead to the same name, and the DNAME
    is the fact a person needs to see.
    """
    wire = message.wire
    cname_of: dict[bytes, bytes] = {}
    dnames: dict[bytes, bytes] = {}
    try:
        for record in message.answer:
            if record.rtype == TYPE_CNAME:
                cname_of.setdefault(record.name, read_name_rdata(wire, record))
            elif record.rtype == TYPE_DNAME:
                dnames.setdefault(record.name, read_name_rdata(wire, record))
    except WireError as exc:
        raise ChainError(f"CNAME/DNAME does not parse: {exc}") from None
    links: list[ChainLink] = []
    seen = {name}
    while True:
        step: tuple[bytes, str, bytes] | None = None
        # The nearest covering DNAME: the longest owner that is an ancestor of the name.
        for owner in sorted(dnames, key=len, reverse=True):
            rewritten = rewrite_by_dname(name, owner, dnames[owner])
            if rewritten is not None:
                step = (owner, "DNAME", rewritten)
                break
        if step is None and cnames and name in cname_of:
            step = (name, "CNAME", cname_of[name])
        if step is None:
            return name, tuple(links)
        owner, rtype, following = step
        target = dnames[owner] if rtype == "DNAME" else following
        links.append(ChainLink(_text(owner), rtype, _text(target)))
        if len(following) > _MAX_NAME_TEXT:
            raise ChainError(f"{rtype} of {_text(owner)} makes a name longer than 255 bytes")
        if following in seen:
            raise ChainError(f"{rtype} loop at {_text(following)}")
        if len(links) > MAX_CHAIN:
            raise ChainError(f"CNAME/DNAME chain longer than {MAX_CHAIN} links")
        seen.add(following)
        name = following


def _text(name: bytes) -> str:
    return name.decode("ascii", "replace")


def select_naptr(naptrs: list[Naptr], expected: str | None) -> Lookup:
    """The SMP URL a NAPTR set gives (RFC 3403 order and preference, RFC 4848 U-NAPTR).

    Records that are not U + Meta:SMP, or whose regexp is not an SML form, are skipped;
    the first usable (order, preference) wins, and its usable records are alternatives:
    the expected SMP when it is one of them, else the first by URL, so the verdict never
    depends on the order the records arrived in.
    """
    candidates = sorted(
        (n for n in naptrs if n.flags.lower() == b"u" and n.service.lower() == b"meta:smp"),
        key=lambda naptr: (naptr.order, naptr.preference),
    )
    if not candidates:
        return Lookup(FailureReason.NO_META_SMP_RECORD, "no U-NAPTR with service Meta:SMP")
    usable: dict[tuple[int, int], set[str]] = {}
    for naptr in candidates:
        url = naptr_url(naptr.regexp)
        if url is not None:
            usable.setdefault((naptr.order, naptr.preference), set()).add(url)
    if not usable:
        shown = candidates[0].regexp[:80].decode("ascii", "replace")
        return Lookup(FailureReason.MALFORMED_RECORD, f"unusable NAPTR regexp {shown!r}")
    alternatives = tuple(sorted(usable[min(usable)], key=lambda url: (canonical_smp(url), url)))
    if expected is None:
        return Lookup(FailureReason.OK, "", alternatives[0], alternatives=alternatives)
    wanted = canonical_smp(expected)
    for url in alternatives:
        if canonical_smp(url) == wanted:
            return Lookup(FailureReason.OK, "", url, alternatives=alternatives)
    return Lookup(
        FailureReason.WRONG_SMP,
        f"points to {' or '.join(alternatives)}, expected {expected}",
        alternatives[0],
        alternatives=alternatives,
    )


def evaluate_naptr(message: Message, qname: bytes, expected: str | None) -> Lookup:
    """The SMP URL the NAPTRs at `qname` (lower-case dotted) give, compared with `expected`."""
    try:
        name, chain = walk_chain(message, qname)
    except ChainError as exc:
        return Lookup(FailureReason.MALFORMED_RECORD, str(exc))
    wire = message.wire
    try:
        naptrs = [
            read_naptr(wire, record)
            for record in message.answer
            if record.rtype == TYPE_NAPTR and record.name == name
        ]
    except WireError as exc:
        return Lookup(FailureReason.MALFORMED_RECORD, f"NAPTR does not parse: {exc}", chain=chain)
    if not naptrs:
        if chain:
            return Lookup(
                FailureReason.NODATA, "no NAPTR at the end of the chain", chain=chain, follow=name
            )
        return Lookup(FailureReason.NODATA, "no NAPTR at the participant's name")
    records = tuple(_naptr_text(naptr) for naptr in naptrs[:_MAX_RECORDS_SHOWN])
    return select_naptr(naptrs, expected)._replace(chain=chain, records=records)


def _naptr_text(naptr: Naptr) -> str:
    def quoted(text: bytes) -> str:
        return '"' + text[:200].decode("ascii", "replace") + '"'

    return (
        f"{naptr.order} {naptr.preference} {quoted(naptr.flags)} {quoted(naptr.service)} "
        f"{quoted(naptr.regexp)} {_text(naptr.replacement) or '.'}"
    )


def evaluate_classic(message: Message, qname: bytes, zone: bytes, expected: str | None) -> Lookup:
    """Follow the CNAME chain from `qname` to the publisher name and the SMP host.

    A DNAME above the participant's name (the zone renamed, RFC 6672) is followed first;
    the publisher name is then expected under the renamed zone.
    """
    try:
        qname_after, chain = walk_chain(message, qname, cnames=False)
    except ChainError as exc:
        return Lookup(FailureReason.MALFORMED_RECORD, str(exc))
    zone = renamed_zone(zone, chain)
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
        return Lookup(FailureReason.MALFORMED_RECORD, f"CNAME does not parse: {exc}", chain=chain)
    publisher = cnames.get(qname_after)
    if publisher is None:
        if chain:
            return Lookup(
                FailureReason.NODATA,
                "no CNAME at the end of the chain",
                chain=chain,
                follow=qname_after,
            )
        return Lookup(FailureReason.NODATA, "no CNAME at the participant's name")
    if not publisher.endswith(publisher_suffix) or b"." in publisher[: -len(publisher_suffix)]:
        shown = publisher.decode("ascii", "replace")
        return Lookup(
            FailureReason.MALFORMED_RECORD, f"CNAME to {shown}, not a publisher name", chain=chain
        )
    host = publisher
    seen = {publisher}
    records = [f"{_text(qname_after)} CNAME {_text(publisher)}"]
    for _ in range(MAX_CHAIN):
        following = cnames.get(host)
        if following is None or following in seen:
            break
        records.append(f"{_text(host)} CNAME {_text(following)}")
        seen.add(following)
        host = following
    publisher_text = publisher.decode("ascii", "replace")
    host_text = host.decode("ascii", "replace")
    if host == publisher and publisher not in addresses:
        return Lookup(
            FailureReason.NODATA,
            f"{publisher_text} has no address",
            publisher_text,
            chain=chain,
            records=tuple(records),
        )
    if expected is not None:
        wanted = canonical_smp(urlsplit(expected).hostname or "" if "://" in expected else expected)
        smp_id = publisher_text[: -len(publisher_suffix)]
        if wanted not in (smp_id, publisher_text, host_text):
            return Lookup(
                FailureReason.WRONG_SMP,
                f"points to {publisher_text}, expected {expected}",
                publisher_text,
                host_text,
                chain,
                records=tuple(records),
            )
    return Lookup(FailureReason.OK, "", publisher_text, host_text, chain, records=tuple(records))
