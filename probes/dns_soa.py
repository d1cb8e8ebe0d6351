"""The SOA check of an SML zone (kind `dns_soa`): one name server, or the resolver, asked
for the zone's SOA; its serial is the check's value.

Through the same DNS client and reader as the participant checks (`probes.dns_client`,
`probes.dns_lookup`): one DNS stack for every query. A listed name server must answer
with the AA flag. A target's failure is a `FailureReason`, never an exception, and the
query never outlives the check's timeout.
"""

from __future__ import annotations

from probes._base import Check, FailureReason, PhaseTimer, ProbeEnv, ProbeResult
from probes.dns_client import exchange
from probes.dns_lookup import parse_answer
from probes.dns_wire import TYPE_SOA, WireError, build_query, encode_name, read_soa_serial

__all__ = ["SoaParams", "probe_soa"]


class SoaParams:
    """What a SOA check needs at run time (parsed once, not per run)."""

    __slots__ = ("authoritative", "server", "zone_text", "zone_wire")

    def __init__(self, zone: str, server: tuple[str, int] | None, authoritative: bool) -> None:
        self.zone_text = zone.rstrip(".").lower()
        self.zone_wire = encode_name(self.zone_text)
        self.server = server
        self.authoritative = authoritative


async def probe_soa(check: Check, env: ProbeEnv) -> ProbeResult:
    params: SoaParams = check.params
    server = params.server or env.resolver
    if server is None:
        return ProbeResult.failure(FailureReason.DNS_ERROR, "no name server and no resolver")
    timer = PhaseTimer(env.monotonic)
    # The same client and reader as the participant checks: one DNS stack for every query.
    query = build_query(params.zone_wire, TYPE_SOA, recursion=params.server is None)
    wire, reason, detail = await exchange(query, server, check.timeout)
    timer.lap("query")
    if wire is None:
        return ProbeResult.failure(reason, detail, phases=timer.phases)
    message, answer = parse_answer(wire, authoritative=params.authoritative)
    if message is None or answer.reason is not FailureReason.OK:
        if answer.reason is FailureReason.NOT_AUTHORITATIVE:
            detail = f"{server[0]}:{server[1]} answered without the AA flag"
        else:
            detail = f"{answer.detail} for {params.zone_text} SOA"
        return ProbeResult.failure(answer.reason, detail, phases=timer.phases)
    try:
        serials = [
            read_soa_serial(wire, record)
            for record in message.answer
            if record.rtype == TYPE_SOA and record.name == params.zone_text.encode("ascii")
        ]
    except WireError as exc:
        return ProbeResult.failure(
            FailureReason.MALFORMED_RESPONSE, f"SOA: {exc}", phases=timer.phases
        )
    if serials:
        return ProbeResult(FailureReason.OK, phases=timer.phases, values={"serial": serials[0]})
    return ProbeResult.failure(
        FailureReason.NODATA, f"no SOA for {params.zone_text} in the answer", phases=timer.phases
    )
