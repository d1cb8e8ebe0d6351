"""`vigie probe soa` and `vigie probe sml`: the DNS checks' arguments and how they become a
`Check`, with the progress of a sweep. Building the parser imports no prober: each
builder imports its own when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any, Literal, TextIO

from vigie.cli_args import existing_path, host_port, positive_float

if TYPE_CHECKING:
    from probes import Check, CheckDefaults, Prober

__all__ = [
    "naming_argument",
    "other_zone_argument",
    "parse_other_zones",
    "sml_arguments",
    "sml_check",
    "soa_arguments",
    "soa_check",
]


def soa_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zone", required=True, help="the SML zone")
    parser.add_argument(
        "--server",
        type=host_port,
        metavar="HOST:PORT",
        help="name server to ask (default: the resolver)",
    )


def soa_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.dns import SmlTarget, expand_sml
    from probes.dns_soa import probe_soa

    servers = [args.server] if args.server else []
    target = SmlTarget(zone=args.zone, nameservers=servers, zone_health=False)
    (check,) = expand_sml(target, defaults)
    return check, probe_soa


def sml_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zone", required=True, help="the SML zone")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--participant", metavar="SCHEME::VALUE", help="one participant")
    which.add_argument(
        "--participants",
        type=existing_path,
        metavar="FILE",
        help="sweep a list (one identifier a line, or CSV)",
    )
    naming_argument(parser)
    parser.add_argument(
        "--server",
        type=host_port,
        metavar="HOST:PORT",
        help="name server to ask (default: the zone's own)",
    )
    # Not only a URL: a classic zone names its SMPs by publisher name or SMP ID.
    parser.add_argument(
        "--expect-smp",
        metavar="URL|NAME",
        help="the SMP the participant must use: its URL (bdxl), or publisher name or SMP ID "
        "(classic)",
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=1000.0,
        help="sweep lookups per second (default 1000)",
    )
    other_zone_argument(parser)


def naming_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--naming",
        choices=("bdxl", "classic"),
        default="bdxl",
        help="bdxl: NAPTR names (the Peppol network since 2025); classic: CNAME (default bdxl)",
    )


def other_zone_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--other-zone", action="append", default=[], metavar="ZONE=HOST:PORT",
        help="name server of a zone a CNAME/DNAME chain leads into (repeatable; "
        "default: the resolver)",
    )  # fmt: skip


def parse_other_zones(entries: list[str]) -> dict[str, list[str]]:
    """`--other-zone` values as SmlTarget.other_zones: zone -> its name servers."""
    other_zones: dict[str, list[str]] = {}
    for entry in entries:
        zone, separator, server = entry.partition("=")
        if not separator or not zone or not server:
            raise ValueError(f"--other-zone {entry!r}: expected ZONE=HOST:PORT")
        other_zones.setdefault(zone, []).append(server)
    return other_zones


def sml_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.dns import SmlTarget, expand_sml
    from probes.dns_participant import probe_participant
    from probes.dns_sweep import ParticipantList, probe_sweep
    from probes.naming import NamingScheme

    scheme = NamingScheme.NAPTR if args.naming == "bdxl" else NamingScheme.CNAME
    servers = [args.server] if args.server else []
    other_zones = parse_other_zones(args.other_zone)
    if args.participant is not None:
        canary = {"id": args.participant, "expect_smp": args.expect_smp}
        target = SmlTarget(
            zone=args.zone,
            scheme=scheme,
            nameservers=servers,
            other_zones=other_zones,
            participants=[canary],
        )
        check = next(c for c in expand_sml(target, defaults) if c.kind == "dns_participant")
        return check, probe_participant
    file_format: Literal["lines", "csv"] = "csv" if args.participants.endswith(".csv") else "lines"
    sweep = {
        "file": args.participants,
        "rate": args.rate,
        "expect_smp": args.expect_smp,
        "format": file_format,
    }
    target = SmlTarget(
        zone=args.zone, scheme=scheme, nameservers=servers, other_zones=other_zones, sweep=sweep
    )
    check = next(c for c in expand_sml(target, defaults) if c.kind == "dns_sweep")
    state = check.params
    try:
        state.participants = ParticipantList.load(args.participants, file_format)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {args.participants}: {exc}") from None
    state.one_pass = True
    # With --json, stdout carries the JSON document alone: the summary goes to stderr.
    state.progress = _SweepProgress(state, sys.stderr if args.json else sys.stdout)
    # One pass at the rate, plus room for the last answers.
    seconds = len(state.participants) / args.rate + 2 * defaults.timeout + 1
    return dataclasses.replace(check, interval=seconds, timeout=seconds), probe_sweep


class _SweepProgress:
    """A progress bar on a terminal (stderr), then the failing participants (`out`)."""

    def __init__(self, state: Any, out: TextIO) -> None:
        self._state = state
        self._out = out
        self._tty = sys.stderr.isatty()
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // max(1, total)
        if self._tty and percent != self._shown:
            self._shown = percent
            bar = "#" * (percent // 4)
            sys.stderr.write(f"\r[{bar:<25}] {percent:3d}% {done}/{total}")
            sys.stderr.flush()
        if done >= total and self._shown != total + 1:
            self._shown = total + 1  # the summary once, whoever finishes last
            if self._tty:
                sys.stderr.write("\n")
            self._summary()

    def _summary(self) -> None:
        state = self._state
        counts = ", ".join(f"{reason} {count}" for reason, count in state.checked.most_common())
        out = self._out
        print(f"checked {sum(state.checked.values())}: {counts}", file=out)
        for index, reason in list(state.failing.items())[: state.budget]:
            print(f"  {reason}: {state.participants.ids[index]}", file=out)
        if len(state.failing) > state.budget:
            print(f"  ... and {len(state.failing) - state.budget} more failing", file=out)
