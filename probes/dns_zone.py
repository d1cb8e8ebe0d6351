"""`dns_zone`: the health of one SML zone as a whole.

Every name server of the zone (configured, or found through NS) is asked for the SOA at
once: does it answer, authoritatively, which serial, how fast. The NS set comes from the
first server that answers. Name servers that disagree on the serial are their own reason
(`serial_mismatch`): a zone transfer that stalled is an outage waiting to happen. Per
name server facts are series labelled `nameserver`, a bounded set.
"""

from __future__ import annotations

import asyncio

from probes._base import Check, FailureReason, PhaseTimer, ProbeEnv, ProbeResult, Series
from probes.dns_client import ask, exchange
from probes.dns_lookup import parse_answer
from probes.dns_servers import ZoneServers
from probes.dns_wire import TYPE_NS, TYPE_SOA, WireError, build_query, encode_name, read_soa_serial

__all__ = ["ZoneParams", "probe_zone"]


class ZoneParams:
    __slots__ = ("name", "servers", "zone_wire")

    def __init__(self, zone: str, servers: ZoneServers) -> None:
        self.name = zone.encode("ascii")
        self.zone_wire = encode_name(zone)
        self.servers = servers


async def _soa_of(
    params: ZoneParams, address: tuple[str, int], time_limit: float, env: ProbeEnv
) -> tuple[FailureReason, str, float, int | None, bool]:
    """(reason, detail, seconds, serial, authoritative) of one name server."""
    started = env.monotonic()
    query = build_query(params.zone_wire, TYPE_SOA, recursion=False)
    wire, reason, detail = await exchange(query, address, time_limit)
    seconds = env.monotonic() - started
    if wire is None:
        return reason, detail, seconds, None, False
    message, lookup = parse_answer(wire, authoritative=True)
    if message is None or lookup.reason is not FailureReason.OK:
        authoritative = message is not None and message.authoritative
        return lookup.reason, lookup.detail, seconds, None, authoritative
    try:
        serials = [
            read_soa_serial(wire, record)
            for record in message.answer
            if record.rtype == TYPE_SOA and record.name == params.name
        ]
    except WireError as exc:
        return FailureReason.MALFORMED_RESPONSE, f"SOA: {exc}", seconds, None, True
    if not serials:
        return FailureReason.NODATA, "no SOA in the answer", seconds, None, True
    return FailureReason.OK, "", seconds, serials[0], True


async def _ns_set(params: ZoneParams, address: tuple[str, int], time_limit: float) -> int | None:
    query = build_query(params.zone_wire, TYPE_NS, recursion=False)
    _, message, _, _ = await ask(query, address, time_limit, authoritative=True)
    if message is None:
        return None
    return sum(1 for record in message.answer if record.rtype == TYPE_NS)


async def probe_zone(check: Check, env: ProbeEnv) -> ProbeResult:
    params: ZoneParams = check.params
    timer = PhaseTimer(env.monotonic)
    servers = await params.servers.get(env, check.timeout / 4)
    timer.lap("discover")
    if servers.reason is not FailureReason.OK:
        return ProbeResult.failure(servers.reason, servers.detail, phases=timer.phases)
    # Each server gets most of the run: a slow one must show as slow, not cut the others.
    per_server = check.timeout * 0.8
    soas = asyncio.gather(
        *(_soa_of(params, address, per_server, env) for _, address in servers.addresses)
    )
    answers, ns_count = await asyncio.gather(
        soas, _ns_set(params, servers.addresses[0][1], per_server)
    )
    timer.lap("query")
    series: list[Series] = []
    failures: list[str] = []
    first_reason = FailureReason.OK
    serials: dict[int, list[str]] = {}
    for (label, _), answer in zip(servers.addresses, answers, strict=True):
        reason, detail, seconds, serial, authoritative = answer
        labels = {"nameserver": label}
        series.append(Series("nameserver_up", labels, 1.0 if reason is FailureReason.OK else 0.0))
        series.append(Series("nameserver_authoritative", labels, 1.0 if authoritative else 0.0))
        series.append(Series("nameserver_response_seconds", labels, seconds))
        if serial is not None:
            series.append(Series("nameserver_soa_serial", labels, float(serial)))
            serials.setdefault(serial, []).append(label)
        if reason is not FailureReason.OK:
            failures.append(f"{label}: {reason} {detail}".strip())
            if first_reason is FailureReason.OK:
                first_reason = reason
    values = {"serials": float(len(serials))}
    if ns_count is not None:
        values["nameservers"] = float(ns_count)
    if failures:
        reason, detail = first_reason, "; ".join(failures)
    elif len(serials) > 1:
        reason = FailureReason.SERIAL_MISMATCH
        detail = "serials differ: " + ", ".join(
            f"{serial} on {' '.join(labels)}" for serial, labels in sorted(serials.items())
        )
    else:
        reason, detail = FailureReason.OK, ""
    return ProbeResult(reason, detail, timer.phases, values, tuple(series))
