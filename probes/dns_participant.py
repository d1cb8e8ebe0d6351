"""`dns_participant`: one SML participant looked up the way an eDelivery sender would.

BDXL zones: the participant's NAPTRs give the SMP URL; classic zones: its CNAME chain
gives the publisher name and the SMP host. The zone's name servers are tried in turn
until one answers for the name (a resolver would fail over too, also past a server that
answers SERVFAIL, REFUSED, without authority or garbled); that answer is the check's
reason. A CNAME/DNAME chain that leads out of the answer is followed
(`probes.dns_chain`). What was found (the name asked, the chain, the records, the SMP
chosen) is the result's `ParticipantFindings`, which discovery reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from probes._base import Check, FailureReason, Findings, PhaseTimer, ProbeEnv, ProbeResult
from probes.dns_chain import ChainServers, OtherZone, follow_chain
from probes.dns_client import exchange
from probes.dns_lookup import (
    SERVER_FAULTS,
    Lookup,
    evaluate_classic,
    evaluate_naptr,
    parse_answer,
)
from probes.dns_servers import ZoneServers
from probes.dns_wire import TYPE_A, TYPE_NAPTR, Message, build_query, encode_name
from probes.naming import NamingScheme, ParticipantId, participant_name

__all__ = ["ParticipantFindings", "ParticipantParams", "look_up", "probe_participant"]


@dataclass(frozen=True, slots=True)
class ParticipantFindings(Findings):
    """What one SML lookup found."""

    participant: str  # SCHEME::VALUE as looked up (after the identifier policy)
    naming: str  # "naptr" (BDXL) or "cname" (classic)
    name: str  # the name asked: hash label, scheme, zone
    chain: tuple[str, ...] = ()  # "owner CNAME|DNAME target", in order
    records: tuple[str, ...] = ()  # what the name (at the end of the chain) holds
    smp_url: str | None = None  # BDXL: the SMP chosen
    alternatives: tuple[str, ...] = ()  # BDXL: equal-order usable SMP URLs, when several
    publisher: str | None = None  # classic: {SMP-ID}.publisher.{zone}
    smp_host: str | None = None  # classic: the end of the publisher's CNAME chain

    @classmethod
    def of(cls, params: ParticipantParams, lookup: Lookup) -> ParticipantFindings:
        naptr = params.scheme is NamingScheme.NAPTR
        return cls(
            participant=str(params.participant),
            naming=str(params.scheme),
            name=params.qname.decode("ascii"),
            chain=tuple(str(link) for link in lookup.chain),
            records=lookup.records,
            smp_url=(lookup.smp or None) if naptr else None,
            alternatives=lookup.alternatives if len(lookup.alternatives) > 1 else (),
            publisher=None if naptr else (lookup.smp or None),
            smp_host=lookup.smp_host or None,
        )


class ParticipantParams:
    """What a participant check needs at run time (names built once, not per run)."""

    __slots__ = (
        "expect_smp",
        "other_zones",
        "participant",
        "qname",
        "qname_wire",
        "qtype",
        "scheme",
        "servers",
        "zone",
    )

    def __init__(
        self,
        zone: str,
        scheme: NamingScheme,
        participant: ParticipantId,
        expect_smp: str | None = None,
    ) -> None:
        self.participant = participant
        self.scheme = scheme
        self.expect_smp = expect_smp
        name = participant_name(participant, zone, scheme).lower()
        self.qname = name.encode("ascii")
        self.qname_wire = encode_name(name)
        self.qtype = TYPE_NAPTR if scheme is NamingScheme.NAPTR else TYPE_A
        self.servers = ZoneServers(zone, (), discover=True)
        self.zone = zone.encode("ascii")
        self.other_zones: tuple[OtherZone, ...] = ()

    def evaluate(self, message: Message, name: bytes, zone: bytes) -> Lookup:
        if self.scheme is NamingScheme.NAPTR:
            return evaluate_naptr(message, name, self.expect_smp)
        return evaluate_classic(message, name, zone, self.expect_smp)


def evaluate(params: ParticipantParams, wire: bytes, authoritative: bool) -> Lookup:
    message, lookup = parse_answer(wire, authoritative=authoritative)
    if message is None or lookup.reason is not FailureReason.OK:
        return lookup
    return params.evaluate(message, params.qname, params.zone)


async def look_up(params: ParticipantParams, env: ProbeEnv, time_limit: float) -> Lookup:
    """Ask the zone's servers in turn until one answers; its answer decides."""
    servers = await params.servers.get(env, time_limit / 4)
    if servers.reason is not FailureReason.OK:
        return Lookup(servers.reason, servers.detail)
    query = build_query(params.qname_wire, params.qtype, recursion=not servers.authoritative)
    per_server = time_limit * 0.8 / max(1, len(servers.addresses))
    lookup = Lookup(FailureReason.DNS_ERROR, "no server to ask")
    started = env.monotonic()
    for label, address in servers.addresses:
        wire, reason, detail = await exchange(query, address, per_server)
        if wire is None:
            lookup = Lookup(reason, f"{label}: {detail}")
            continue
        lookup = evaluate(params, wire, servers.authoritative)
        if lookup.reason in SERVER_FAULTS:
            lookup = lookup._replace(detail=f"{label}: {lookup.detail}")
            continue
        break
    if not lookup.follow:
        return lookup
    where = ChainServers(params.zone, params.servers, params.other_zones)
    remaining = max(0.0, time_limit * 0.8 - (env.monotonic() - started))
    return await follow_chain(
        lookup, params.qname, params.qtype, where, params.evaluate, env, remaining
    )


async def probe_participant(check: Check, env: ProbeEnv) -> ProbeResult:
    params: ParticipantParams = check.params
    timer = PhaseTimer(env.monotonic)
    lookup = await look_up(params, env, check.timeout)
    timer.lap("lookup")
    findings = ParticipantFindings.of(params, lookup)
    return ProbeResult(lookup.reason, lookup.detail, phases=timer.phases, findings=findings)
