"""`vigie probe KIND ...`: run one check now and print what it found.

Each command is one row of `PROBE_COMMANDS`: its arguments and how they become a `Check`
(written by kind in `probe_dns_cli`, `probe_pki_cli` and `probe_http_cli`). The result is
printed as one line (or JSON with `--json`) naming its reason; the exit code is 0 when
the check succeeded, 1 when it failed, 2 for bad usage (found while parsing when it can
be: a missing file, a URL without a scheme). Only the module of the kind asked for is
imported, so that a one-shot probe starts quickly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigie.cli_args import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, duration
from vigie.probe_dns_cli import sml_arguments, sml_check, soa_arguments, soa_check
from vigie.probe_http_cli import (
    capacity_arguments,
    capacity_check,
    http_arguments,
    http_check,
    smp_arguments,
    smp_check,
)
from vigie.probe_pki_cli import (
    cert_arguments,
    cert_check,
    crl_arguments,
    crl_check,
    ocsp_arguments,
    ocsp_check,
)

if TYPE_CHECKING:
    from probes import Check, CheckDefaults, Prober, ProbeResult

__all__ = [
    "PROBE_COMMANDS",
    "ProbeCommand",
    "add_probe_commands",
    "first_line",
    "print_result",
]


@dataclass(frozen=True, slots=True)
class ProbeCommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # Returns the check to run and its prober, or raises ValueError with a message for
    # the user. It imports the prober's module itself: only that one is needed.
    build: Callable[[argparse.Namespace, CheckDefaults], tuple[Check, Prober]]
    # Whether the check asked for may ask the system's resolver (a DNS check without a
    # --server, or following a chain out of the zone): reading its configuration costs
    # dnspython's resolver, and with it its DNS-over-HTTPS stack, which others do without.
    resolver: Callable[[argparse.Namespace], bool] = lambda args: False
    # Whether the check asked for speaks HTTP through the shared client (whose module,
    # httpx, is not small to import): the DNS checks never do, certificates only to
    # check revocation, an endpoint's GET only over HTTP/2.
    http: Callable[[argparse.Namespace], bool] = lambda args: True


PROBE_COMMANDS: tuple[ProbeCommand, ...] = (
    ProbeCommand(
        "soa",
        "the SOA of a zone as one name server serves it",
        soa_arguments,
        soa_check,
        resolver=lambda args: args.server is None,
        http=lambda args: False,
    ),
    ProbeCommand(
        "sml",
        "look up SML participants (one, or a whole list) in BDXL or classic naming",
        sml_arguments,
        sml_check,
        resolver=lambda args: True,
        http=lambda args: False,
    ),
    ProbeCommand(
        "smp",
        "a participant's ServiceGroup and signed metadata on an SMP",
        smp_arguments,
        smp_check,
    ),
    ProbeCommand(
        "cert",
        "a TLS endpoint's certificate chain, or certificate files",
        cert_arguments,
        cert_check,
        http=lambda args: args.revocation != "none",
    ),
    ProbeCommand("crl", "fetch and verify one CRL", crl_arguments, crl_check),
    ProbeCommand(
        "ocsp", "a certificate's status from its OCSP responder", ocsp_arguments, ocsp_check
    ),
    ProbeCommand(
        "http",
        "one GET of an endpoint: status, body, phases, TLS",
        http_arguments,
        http_check,
        # A fresh HTTP/1.1 connection is the prober's own; HTTP/2 goes through httpx.
        http=lambda args: args.http2,
    ),
    ProbeCommand(
        "capacity",
        "a bounded burst against an endpoint: percentiles and a verdict",
        capacity_arguments,
        capacity_check,
    ),
)


def add_probe_commands(commands: Any) -> None:
    probe = commands.add_parser("probe", help="run one check now and print the result")
    kinds = probe.add_subparsers(title="probes", metavar="KIND")
    for command in PROBE_COMMANDS:
        parser = kinds.add_parser(command.name, help=command.help)
        command.add_arguments(parser)
        parser.add_argument(
            "--timeout", type=duration, default="10s", help="time limit (default 10s)"
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.set_defaults(handler=_handler(command))


def _handler(command: ProbeCommand) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        import asyncio

        from probes import CheckDefaults
        from vigie.logs import configure_logging

        configure_logging("warning")
        try:
            timeout = args.timeout
            if timeout <= 0:
                raise ValueError("--timeout must be longer than 0s")
            check, prober = command.build(args, CheckDefaults(interval=timeout, timeout=timeout))
        except ValueError as exc:
            print(f"vigie probe {command.name}: {first_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        result = asyncio.run(_run(check, prober, command, args))
        print_result(check, result, as_json=args.json)
        return EXIT_OK if result.success else EXIT_FAILURE

    return handle


async def _run(
    check: Check, prober: Prober, command: ProbeCommand, args: argparse.Namespace
) -> ProbeResult:
    import contextlib

    from probes import ProbeEnv, ResultBook, Runner
    from vigie import USER_AGENT
    from vigie.runtime import system_resolver

    async with contextlib.AsyncExitStack() as scope:
        http = None
        if command.http(args):
            from vigie.http import outbound_client

            http = await scope.enter_async_context(outbound_client())
        resolver = system_resolver() if command.resolver(args) else None
        env = ProbeEnv(resolver=resolver, http=http, user_agent=USER_AGENT)
        scope.push_async_callback(env.aclose)  # a kept connection of a keep_alive check
        return await Runner({check.kind: prober}, env, ResultBook()).run(check)


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
    if result.findings is not None:
        for finding in result.findings.lines():
            print(f"  {finding}")
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
        "findings": result.findings.document() if result.findings is not None else {},
        "phases": dict(result.phases),
        "values": dict(result.values),
        "series": [dataclasses.asdict(series) for series in result.series],
        "checked_at": time.time(),
    }


def first_line(exc: Exception) -> str:
    # pydantic's messages span several lines; the first names the problem.
    text = str(exc)
    if hasattr(exc, "errors"):
        errors = exc.errors()
        if errors:
            location = ".".join(str(part) for part in errors[0]["loc"])
            message = str(errors[0]["msg"]).removeprefix("Value error, ")
            return f"{location}: {message}" if location else message
    return text.splitlines()[0] if text else type(exc).__name__
