"""`dns_participant`: one SML participant looked up the way an eDelivery sender would.

BDXL zones: the participant's NAPTRs give the SMP URL; classic zones: its CNAME chain
gives the publisher name and the SMP host. The zone's name servers are tried in turn
until one answers (a resolver would fail over too); whatever the answer says is the
check's reason. The SMP found is kept as an artifact for the SMP checks.
"""

from __future__ import annotations

from probes._base import Check, FailureReason, PhaseTimer, ProbeEnv, ProbeResult
from probes.dns_client import exchange
from probes.dns_lookup import Lookup, evaluate_classic, evaluate_naptr, parse_answer
from probes.dns_servers import ZoneServers
from probes.dns_wire import TYPE_A, TYPE_NAPTR, build_query, encode_name
from probes.naming import NamingScheme, ParticipantId, participant_name

__all__ = ["ParticipantParams", "look_up", "probe_participant"]


class ParticipantParams:
    """What a participant check needs at run time (names built once, not per run)."""

    __slots__ = (
        "expect_smp",
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


def evaluate(params: ParticipantParams, wire: bytes, authoritative: bool) -> Lookup:
    message, lookup = parse_answer(wire, authoritative=authoritative)
    if message is None or lookup.reason is not FailureReason.OK:
        return lookup
    if params.scheme is NamingScheme.NAPTR:
        return evaluate_naptr(message, params.qname, params.expect_smp)
    return evaluate_classic(message, params.qname, params.zone, params.expect_smp)


async def look_up(params: ParticipantParams, env: ProbeEnv, time_limit: float) -> Lookup:
    """Ask the zone's servers in turn until one answers; its answer decides."""
    servers = await params.servers.get(env, time_limit / 4)
    if servers.reason is not FailureReason.OK:
        return Lookup(servers.reason, servers.detail)
    query = build_query(params.qname_wire, params.qtype, recursion=not servers.authoritative)
    per_server = time_limit * 0.8 / max(1, len(servers.addresses))
    lookup = Lookup(FailureReason.DNS_ERROR, "no server to ask")
    for label, address in servers.addresses:
        wire, reason, detail = await exchange(query, address, per_server)
        if wire is None:
            lookup = Lookup(reason, f"{label}: {detail}")
            continue
        return evaluate(params, wire, servers.authoritative)
    return lookup


async def probe_participant(check: Check, env: ProbeEnv) -> ProbeResult:
    params: ParticipantParams = check.params
    timer = PhaseTimer(env.monotonic)
    lookup = await look_up(params, env, check.timeout)
    timer.lap("lookup")
    artifacts = {}
    if lookup.smp:
        key = "smp_url" if params.scheme is NamingScheme.NAPTR else "publisher"
        artifacts[key] = lookup.smp
    if lookup.smp_host:
        artifacts["smp_host"] = lookup.smp_host
    return ProbeResult(lookup.reason, lookup.detail, phases=timer.phases, artifacts=artifacts)
