"""A CNAME/DNAME chain that leaves its answer, followed into the zone it leads to.

An SML zone may be renamed by a DNAME to a zone served by other name servers (OpenPeppol's
test zone is a DNAME to the EC's acceptance zone). When an answer ends its chain at a name
it holds no records for, the name is asked again where it lives: a name under the watched
zone at the zone's own servers, a name under one of `other_zones` at the servers listed
for it (a private network, the lab), anything else at the agent's resolver, recursively,
as a sender's resolver would, each server in turn until one answers for the name (past
silence and past the server faults of `SERVER_FAULTS`). The whole chain, across answers,
is bounded by `MAX_CHAIN` links and refused when it comes back to a name already asked.
Failures are a `Lookup`'s reason, never an exception; this module never asks a server
outside those three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from probes._base import FailureReason, ProbeEnv
from probes.dns_client import exchange
from probes.dns_lookup import MAX_CHAIN, SERVER_FAULTS, Lookup, parse_answer, renamed_zone
from probes.dns_servers import Servers, ZoneServers
from probes.dns_wire import Message, build_query, encode_name

__all__ = ["ChainServers", "Evaluate", "OtherZone", "follow_chain"]

# How an answer is read at each step: (message, the name asked, the zone as renamed so far).
Evaluate = Callable[[Message, bytes, bytes], Lookup]
# A zone (lower-case dotted) and the (label, (host, port)) of its name servers.
OtherZone = tuple[bytes, tuple[tuple[str, tuple[str, int]], ...]]


@dataclass(frozen=True, slots=True)
class ChainServers:
    """Where each name of a chain is asked."""

    zone: bytes
    zone_servers: ZoneServers
    other_zones: tuple[OtherZone, ...] = ()

    async def servers_for(self, name: bytes, env: ProbeEnv, time_limit: float) -> Servers:
        listed = [
            (zone, addresses)
            for zone, addresses in self.other_zones
            if name == zone or name.endswith(b"." + zone)
        ]
        if listed:
            _, addresses = max(listed, key=lambda entry: len(entry[0]))
            return Servers(addresses, authoritative=True)
        if name == self.zone or name.endswith(b"." + self.zone):
            return await self.zone_servers.get(env, time_limit)
        if env.resolver is None:
            return Servers(
                (),
                False,
                FailureReason.DNS_ERROR,
                f"the chain leads to {name.decode('ascii', 'replace')}, outside the zone, "
                "and no resolver is configured",
            )
        return Servers((("resolver", env.resolver),), authoritative=False)


async def follow_chain(
    first: Lookup,
    qname: bytes,
    qtype: int,
    where: ChainServers,
    evaluate: Evaluate,
    env: ProbeEnv,
    time_limit: float,
) -> Lookup:
    """`first` (a lookup of `qname`) completed by asking each name its chain leads to."""
    lookup = first
    chain = first.chain
    zone = renamed_zone(where.zone, chain)
    asked = {qname}
    deadline = env.monotonic() + time_limit
    while lookup.follow:
        name = lookup.follow
        shown = name.decode("ascii", "replace")
        if name in asked:
            return Lookup(
                FailureReason.MALFORMED_RECORD, f"CNAME/DNAME loop at {shown}", chain=chain
            )
        if len(chain) > MAX_CHAIN:
            return Lookup(
                FailureReason.MALFORMED_RECORD,
                f"CNAME/DNAME chain longer than {MAX_CHAIN} links",
                chain=chain,
            )
        asked.add(name)
        remaining = deadline - env.monotonic()
        if remaining <= 0:
            return Lookup(FailureReason.TIMEOUT, f"no time left to ask {shown}", chain=chain)
        servers = await where.servers_for(name, env, remaining / 4)
        if servers.reason is not FailureReason.OK:
            return Lookup(servers.reason, servers.detail, chain=chain)
        try:
            query = build_query(encode_name(shown), qtype, recursion=not servers.authoritative)
        except ValueError as exc:
            return Lookup(FailureReason.MALFORMED_RECORD, str(exc), chain=chain)
        per_server = (deadline - env.monotonic()) / max(1, len(servers.addresses))
        lookup = Lookup(FailureReason.DNS_ERROR, f"no server to ask for {shown}", chain=chain)
        for label, address in servers.addresses:
            wire, reason, detail = await exchange(query, address, per_server)
            if wire is None:
                lookup = Lookup(reason, f"{shown} at {label}: {detail}", chain=chain)
                continue
            message, parsed = parse_answer(wire, authoritative=servers.authoritative)
            if message is None or parsed.reason is not FailureReason.OK:
                lookup = parsed._replace(detail=f"{shown} at {label}: {parsed.detail}", chain=chain)
                if parsed.reason in SERVER_FAULTS:
                    continue
            else:
                step = evaluate(message, name, zone)
                zone = renamed_zone(zone, step.chain)
                lookup = step._replace(chain=chain + step.chain)
            break
        chain = lookup.chain
    return lookup
