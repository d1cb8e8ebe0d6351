"""SML zones as configured: the target's settings and the checks it expands into.

An SML target expands into: one `dns_soa` check per listed name server (or one through the
resolver), one `dns_zone` health check (NS set, AA, serial per name server), one
`dns_participant` check per canary participant, and one `dns_sweep` check when a
participant list is configured. The checks live in `dns_soa.py`, `dns_zone.py`,
`dns_participant.py` and `dns_sweep.py`; this module only validates the configuration
(every error with its path) and builds their parameters once. It never queries DNS.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Literal

import dns.exception
import dns.name
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from probes._base import Check, CheckDefaults
from probes._config import TargetBase
from probes.dns_participant import ParticipantParams
from probes.dns_servers import ZoneServers
from probes.dns_soa import SoaParams
from probes.dns_sweep import MAX_LIST_BYTES, ParticipantList, SweepState
from probes.dns_zone import ZoneParams
from probes.naming import NamingScheme, ParticipantId
from vocab import READ_FILES, HostPort, PositiveDuration, StrictModel, split_host_port
from vocab.files import FileRefused, open_regular_file

__all__ = [
    "Canary",
    "SmlTarget",
    "SweepConfig",
    "expand_sml",
]


class Canary(StrictModel):
    """A participant looked up on its own, with its own series (a few per zone)."""

    id: str = Field(
        description="participant identifier, SCHEME::VALUE (or a bare value such as an ebCore URN)"
    )
    expect_smp: str | None = Field(
        None,
        description="the SMP it must point to: a URL (naptr) or a publisher name or SMP ID "
        "(cname); unset: any SMP",
    )

    @field_validator("id")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return str(ParticipantId.parse(value))


class SweepConfig(StrictModel):
    """A participant list checked continuously, a batch at a time, at a bounded rate."""

    file: str | None = Field(
        None,
        description="participant list (one identifier per line, or CSV; a regular file of "
        "at most 128 MiB, lines of at most 4 KiB, read once); unset: no sweep",
    )
    format: Literal["lines", "csv"] = Field(
        "lines",
        description="lines: one identifier per line (# comments); csv: identifier in the "
        "first column, optional expected SMP in the second",
    )
    rate: float = Field(50.0, gt=0, le=100_000, description="most lookups per second")
    every: PositiveDuration = Field(
        10.0, description="one batch of lookups runs this often, sending rate x every lookups"
    )
    query_timeout: PositiveDuration = Field(
        2.0, description="time limit of one lookup (a second name server is tried after it)"
    )
    cardinality_budget: int = Field(
        100,
        ge=0,
        le=100_000,
        description="most failing participants exported with their own series; "
        "the rest are counted",
    )
    expect_smp: str | None = Field(
        None, description="the SMP every participant must point to (a CSV column overrides it)"
    )

    @field_validator("file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        # Checked at load so that `vigie config check` finds a missing list, a directory,
        # a FIFO or a file over the cap; the first sweep reads it (once).
        if value is not None:
            try:
                open_regular_file(value, MAX_LIST_BYTES).close()
            except (OSError, FileRefused) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise ValueError(f"cannot read participant list {value!r}: {reason}") from None
        return value

    @model_validator(mode="after")
    def _list_reads(self, info: ValidationInfo) -> SweepConfig:
        # `vigie config check` reads the whole list (READ_FILES in the context); the agent
        # reads it once, in the first sweep, so a long list does not delay its start.
        if self.file is not None and (info.context or {}).get(READ_FILES):
            try:
                ParticipantList.load(self.file, self.format)
            except (OSError, ValueError, csv.Error) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                error = PydanticCustomError(
                    "participant_list",
                    "cannot read participant list {file}: {reason}",
                    {"file": repr(self.file), "reason": str(reason)},
                )
                details = [InitErrorDetails(type=error, loc=("file",), input=self.file)]
                raise ValidationError.from_exception_data(type(self).__name__, details) from None
        return self

    @model_validator(mode="after")
    def _lookups_fit_a_batch(self) -> SweepConfig:
        if self.query_timeout >= self.every:
            raise ValueError(
                f"query_timeout ({self.query_timeout:g}s) must be shorter than every "
                f"({self.every:g}s): a batch waits for its last lookups"
            )
        return self


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
    discover_nameservers: bool = Field(
        True,
        description="with no nameservers listed, find the zone's own (NS through the "
        "resolver) for zone health and lookups; false: ask the resolver",
    )
    other_zones: dict[str, list[HostPort]] = Field(
        default_factory=dict,
        description="name servers of other zones that a CNAME/DNAME chain from this zone "
        "leads into (zone: [host:port, ...]), for zones no resolver knows (a private "
        "network, the lab); unset: such names are asked of the agent's resolver",
    )
    zone_health: bool = Field(
        True, description="check the NS set, AA and SOA serial of every name server (dns_zone)"
    )
    participants: list[Canary] = Field(
        default_factory=list,
        description="canary participants, each a dns_participant check with its own series",
    )
    sweep: SweepConfig = Field(
        default_factory=SweepConfig, description="a participant list checked continuously"
    )

    @field_validator("zone")
    @classmethod
    def _zone_is_a_name(cls, value: str) -> str:
        return _zone_name(value)

    @field_validator("other_zones")
    @classmethod
    def _other_zones_are_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        named = {}
        for zone, servers in value.items():
            if not servers:
                raise ValueError(f"other zone {zone!r} lists no name server")
            named[_zone_name(zone)] = servers
        return named

    @model_validator(mode="after")
    def _canaries_once(self) -> SmlTarget:
        seen: set[str] = set()
        for canary in self.participants:
            if canary.id.lower() in seen:
                raise ValueError(f"participant {canary.id} is listed twice")
            seen.add(canary.id.lower())
        return self


def _zone_name(value: str) -> str:
    try:
        name = dns.name.from_text(value)
    except dns.exception.DNSException as exc:
        raise ValueError(f"invalid zone name {value!r}: {exc}") from exc
    if name == dns.name.root:
        raise ValueError("the zone cannot be the DNS root")
    return name.to_text(omit_final_dot=True).lower()


def expand_sml(target: SmlTarget, defaults: CheckDefaults) -> Iterator[Check]:
    """The zone's checks: SOA per name server, zone health, canaries, the sweep."""
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
    # One object per zone, shared by its checks: discovered name servers are cached once.
    zone_servers = ZoneServers(
        target.zone,
        tuple((server, split_host_port(server)) for server in target.nameservers),
        discover=target.discover_nameservers,
    )

    other_zones = tuple(
        (
            zone.encode("ascii"),
            tuple((server, split_host_port(server)) for server in servers),
        )
        for zone, servers in target.other_zones.items()
    )

    def check(kind: str, name: str, params: object) -> Check:
        return Check(kind, "sml", name, params, timing.interval, timing.timeout, timing.retries)

    if target.zone_health:
        yield check("dns_zone", target.zone, ZoneParams(target.zone, zone_servers))
    for canary in target.participants:
        params = ParticipantParams(
            target.zone, target.scheme, ParticipantId.parse(canary.id), canary.expect_smp
        )
        params.servers = zone_servers
        params.other_zones = other_zones
        yield check("dns_participant", f"{canary.id}@{target.zone}", params)
    sweep = target.sweep
    if sweep.file is not None:
        state = SweepState(
            zone=target.zone,
            scheme=target.scheme,
            servers=zone_servers,
            file=sweep.file,
            file_format=sweep.format,
            rate=sweep.rate,
            query_timeout=sweep.query_timeout,
            cardinality_budget=sweep.cardinality_budget,
            expect_smp=sweep.expect_smp,
            other_zones=other_zones,
        )
        # The batch owns its whole interval; the runner's timeout is a backstop.
        yield Check("dns_sweep", "sml", target.zone, state, sweep.every, sweep.every, 0)
