"""`vigie probe KIND ...`: run one check now and print what it found.

Each command is one row of `PROBE_COMMANDS`: its arguments and how they become a `Check`.
The result is printed as one line (or JSON with `--json`) naming its reason; the exit
code is 0 when the check succeeded, 1 when it failed, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probes import PROBERS, Check, CheckDefaults, ProbeEnv, ProbeResult, ResultBook, Runner
from probes._config import parse_duration
from probes.dns import SmlTarget, expand_sml
from vigie.http import outbound_client
from vigie.logs import configure_logging

__all__ = ["PROBE_COMMANDS", "ProbeCommand", "add_probe_commands", "print_result"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class ProbeCommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # Returns the check to run, or raises ValueError with a message for the user.
    build: Callable[[argparse.Namespace, CheckDefaults], Check]


def _soa_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zone", required=True, help="the SML zone")
    parser.add_argument(
        "--server", metavar="HOST:PORT", help="name server to ask (default: the resolver)"
    )


def _soa_check(args: argparse.Namespace, defaults: CheckDefaults) -> Check:
    target = SmlTarget(zone=args.zone, nameservers=[args.server] if args.server else [])
    (check,) = expand_sml(target, defaults)
    return check


# -- sml --
# -- smp --
# -- certificates --
# -- crl / ocsp --

PROBE_COMMANDS: tuple[ProbeCommand, ...] = (
    ProbeCommand(
        "soa", "the SOA of a zone as one name server serves it", _soa_arguments, _soa_check
    ),
    # -- sml --
    # -- smp --
    # -- certificates --
    # -- crl / ocsp --
)


def add_probe_commands(commands: Any) -> None:
    probe = commands.add_parser("probe", help="run one check now and print the result")
    kinds = probe.add_subparsers(title="probes", metavar="KIND")
    for command in PROBE_COMMANDS:
        parser = kinds.add_parser(command.name, help=command.help)
        command.add_arguments(parser)
        parser.add_argument("--timeout", default="10s", help="time limit (default 10s)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.set_defaults(handler=_handler(command))


def _handler(command: ProbeCommand) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        configure_logging("warning")
        try:
            timeout = parse_duration(args.timeout)
            if timeout <= 0:
                raise ValueError("--timeout must be longer than 0s")
            check = command.build(args, CheckDefaults(interval=timeout, timeout=timeout))
        except ValueError as exc:
            print(f"vigie probe {command.name}: {_first_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        result = asyncio.run(_run(check))
        print_result(check, result, as_json=args.json)
        return EXIT_OK if result.success else EXIT_FAILED

    return handle


async def _run(check: Check) -> ProbeResult:
    from vigie.runtime import system_resolver

    async with outbound_client() as http:
        env = dataclasses.replace(ProbeEnv(resolver=system_resolver()), http=http)
        return await Runner(PROBERS, env, ResultBook()).run(check)


def print_result(check: Check, result: ProbeResult, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result_document(check, result), indent=2))
        return
    status = "ok" if result.success else "FAILED"
    line = f"{status} {check.kind} {check.target}: {result.reason}"
    if result.detail:
        line += f" ({result.detail})"
    timings = ", ".join(
        f"{name} {seconds * 1000:.1f} ms" for name, seconds in result.phases.items()
    )
    print(line + (f" [{timings}]" if timings else ""))
    for name, value in result.values.items():
        print(f"  {name}: {value:.15g}")


def result_document(check: Check, result: ProbeResult) -> dict[str, Any]:
    return {
        "kind": check.kind,
        "service": check.service,
        "target": check.target,
        "success": result.success,
        "reason": str(result.reason),
        "detail": result.detail,
        "phases": dict(result.phases),
        "values": dict(result.values),
        "series": [dataclasses.asdict(series) for series in result.series],
        "checked_at": time.time(),
    }


def _first_line(exc: Exception) -> str:
    # pydantic's messages span several lines; the first names the problem.
    text = str(exc)
    if hasattr(exc, "errors"):
        errors = exc.errors()
        if errors:
            location = ".".join(str(part) for part in errors[0]["loc"])
            message = str(errors[0]["msg"]).removeprefix("Value error, ")
            return f"{location}: {message}" if location else message
    return text.splitlines()[0] if text else type(exc).__name__
