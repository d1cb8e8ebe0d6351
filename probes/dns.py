"""DNS probes of SML zones.

For now: the zone's SOA as each of its name servers (or a resolver) serves it, which proves
that the zone answers, authoritatively, with a serial. Participant lookups in both naming
schemes build on the same query path. A target's failure is a `FailureReason`, never an
exception, and a query never outlives the check's timeout (the runner enforces it).
"""

from __future__ import annotations

from collections.abc import Iterator

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
from pydantic import Field, field_validator

from probes._base import Check, CheckDefaults, FailureReason, PhaseTimer, ProbeEnv, ProbeResult
from probes._config import HostPort, TargetBase, split_host_port
from probes.naming import NamingScheme

__all__ = ["SmlTarget", "SoaParams", "expand_sml", "probe_soa", "query"]

_RCODE_REASONS = {
    dns.rcode.NXDOMAIN: FailureReason.NXDOMAIN,
    dns.rcode.SERVFAIL: FailureReason.SERVFAIL,
    dns.rcode.REFUSED: FailureReason.REFUSED,
}


class SmlTarget(TargetBase):
    """An SML zone to watch."""

    zone: str = Field(description="the SML zone, e.g. acc.edelivery.tech.ec.europa.eu")
    scheme: NamingScheme = Field(
        NamingScheme.NAPTR,
        description="how the zone publishes participants: naptr (BDXL) or cname (classic)",
    )
    nameservers: list[HostPort] = Field(
        default_factory=list,
        description="name servers to query directly (host or host:port); "
        "empty: ask the agent's resolver",
    )

    @field_validator("zone")
    @classmethod
    def _zone_is_a_name(cls, value: str) -> str:
        try:
            name = dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"invalid zone name {value!r}: {exc}") from exc
        if name == dns.name.root:
            raise ValueError("the zone cannot be the DNS root")
        return name.to_text(omit_final_dot=True).lower()


class SoaParams:
    """What a SOA check needs at run time (parsed once, not per run)."""

    __slots__ = ("authoritative", "server", "zone")

    def __init__(self, zone: str, server: tuple[str, int] | None, authoritative: bool) -> None:
        self.zone = dns.name.from_text(zone)
        self.server = server
        self.authoritative = authoritative


def expand_sml(target: SmlTarget, defaults: CheckDefaults) -> Iterator[Check]:
    """One SOA check per configured name server, or one through the resolver."""
    timing = target.timing(defaults)
    servers: list[str | None] = list(target.nameservers) or [None]
    for server in servers:
        address = split_host_port(server) if server else None
        yield Check(
            kind="dns_soa",
            service="sml",
            target=f"{target.zone}@{server or 'resolver'}",
            params=SoaParams(target.zone, address, authoritative=address is not None),
            interval=timing.interval,
            timeout=timing.timeout,
            retries=timing.retries,
        )


async def query(
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    server: tuple[str, int],
    per_query_timeout: float,
    *,
    recursion: bool = False,
) -> tuple[dns.message.Message | None, FailureReason, str]:
    """One query over UDP with TCP fallback on truncation; failures come back as reasons."""
    message = dns.message.make_query(qname, rdtype)
    if not recursion:
        message.flags &= ~dns.flags.RD
    host, port = server
    try:
        response = await dns.asyncquery.udp(message, host, port=port, timeout=per_query_timeout)
    except dns.exception.Timeout:
        return None, FailureReason.TIMEOUT, f"no answer from {host}:{port} over UDP"
    except ConnectionRefusedError:
        return None, FailureReason.CONNECTION_REFUSED, f"{host}:{port} refused UDP"
    except (dns.exception.FormError, dns.message.BadEDNS, ValueError) as exc:
        return None, FailureReason.MALFORMED_RESPONSE, f"malformed answer: {exc}"
    except OSError as exc:
        return None, FailureReason.NETWORK_ERROR, f"{host}:{port}: {exc.strerror or exc}"
    if response.flags & dns.flags.TC:
        try:
            response = await dns.asyncquery.tcp(message, host, port=port, timeout=per_query_timeout)
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return None, FailureReason.TRUNCATED_NO_TCP, f"truncated over UDP, TCP failed: {exc}"
    return response, FailureReason.OK, ""


async def probe_soa(check: Check, env: ProbeEnv) -> ProbeResult:
    params: SoaParams = check.params
    server = params.server or env.resolver
    if server is None:
        return ProbeResult.failure(FailureReason.DNS_ERROR, "no name server and no resolver")
    timer = PhaseTimer(env.monotonic)
    response, reason, detail = await query(
        params.zone, dns.rdatatype.SOA, server, check.timeout, recursion=params.server is None
    )
    timer.lap("query")
    if response is None:
        return ProbeResult.failure(reason, detail, phases=timer.phases)
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        return ProbeResult.failure(
            _RCODE_REASONS.get(rcode, FailureReason.DNS_ERROR),
            f"{dns.rcode.to_text(rcode)} for {params.zone} SOA",
            phases=timer.phases,
        )
    if params.authoritative and not response.flags & dns.flags.AA:
        return ProbeResult.failure(
            FailureReason.NOT_AUTHORITATIVE,
            f"{server[0]}:{server[1]} answered without the AA flag",
            phases=timer.phases,
        )
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA and rrset.name == params.zone:
            serial = float(rrset[0].serial)
            return ProbeResult(FailureReason.OK, phases=timer.phases, values={"serial": serial})
    return ProbeResult.failure(
        FailureReason.NODATA, f"no SOA for {params.zone} in the answer", phases=timer.phases
    )
