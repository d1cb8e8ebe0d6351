"""Which servers an SML zone's checks ask: the configured ones, the zone's own, or a resolver.

With no name server configured, the zone's NS set is looked up through the agent's
resolver (and each name server's address too), and kept for a few minutes, so zone health,
canaries and the sweep ask the zone's authoritative servers directly, as the SML's users'
resolvers would. Failures come back as a reason, never as an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probes._base import FailureReason, ProbeEnv
from probes.dns_client import ask
from probes.dns_wire import TYPE_A, TYPE_NS, WireError, build_query, encode_name, read_a
from probes.dns_wire import read_name_rdata as read_target

__all__ = ["Servers", "ZoneServers"]

_REDISCOVER_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Servers:
    """Where to send a zone's queries: (label, address) pairs, and whether they are the
    zone's own (authoritative, asked without recursion) or a resolver."""

    addresses: tuple[tuple[str, tuple[str, int]], ...]
    authoritative: bool
    reason: FailureReason = FailureReason.OK
    detail: str = ""


@dataclass(slots=True)
class ZoneServers:
    zone: str
    configured: tuple[tuple[str, tuple[str, int]], ...]
    discover: bool = True
    _found: Servers | None = field(default=None, repr=False)
    _found_at: float = field(default=0.0, repr=False)

    async def get(self, env: ProbeEnv, time_limit: float) -> Servers:
        if self.configured:
            return Servers(self.configured, authoritative=True)
        resolver = env.resolver
        if resolver is None:
            return Servers((), False, FailureReason.DNS_ERROR, "no name server and no resolver")
        if not self.discover:
            return Servers((("resolver", resolver),), authoritative=False)
        now = env.monotonic()
        if self._found is None or now - self._found_at > _REDISCOVER_SECONDS:
            found = await self._discover(resolver, time_limit)
            if found.reason is not FailureReason.OK:
                return found  # not cached: the next run tries again
            self._found, self._found_at = found, now
        return self._found

    async def _discover(self, resolver: tuple[str, int], time_limit: float) -> Servers:
        zone_wire = encode_name(self.zone)
        wire, message, reason, detail = await ask(
            build_query(zone_wire, TYPE_NS, recursion=True),
            resolver,
            time_limit / 2,
            authoritative=False,
        )
        if message is None:
            return Servers((), False, reason, f"NS of {self.zone}: {detail}")
        try:
            hosts = sorted(
                read_target(wire, record).decode("ascii", "replace")
                for record in message.answer
                if record.rtype == TYPE_NS
            )
        except WireError as exc:
            return Servers((), False, FailureReason.MALFORMED_RESPONSE, f"NS record: {exc}")
        if not hosts:
            return Servers((), False, FailureReason.NODATA, f"no NS for {self.zone}")
        addresses = []
        for host in hosts:
            address = await _address_of(host, resolver, time_limit / 2 / len(hosts))
            if address is not None:
                addresses.append((host, (address, 53)))
        if not addresses:
            return Servers((), False, FailureReason.DNS_ERROR, "no name server address found")
        return Servers(tuple(addresses), authoritative=True)


async def _address_of(host: str, resolver: tuple[str, int], time_limit: float) -> str | None:
    try:
        query = build_query(encode_name(host), TYPE_A, recursion=True)
    except ValueError:
        return None
    wire, message, _, _ = await ask(query, resolver, time_limit, authoritative=False)
    if message is None:
        return None
    for record in message.answer:
        if record.rtype == TYPE_A:
            try:
                return read_a(wire, record)
            except WireError:
                return None
    return None
