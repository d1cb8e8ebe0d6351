"""`vigie probe KIND ...`: run one check now and print what it found.

Each command is one row of `PROBE_COMMANDS`: its arguments and how they become a `Check`.
The result is printed as one line (or JSON with `--json`) naming its reason; the exit
code is 0 when the check succeeded, 1 when it failed, 2 for bad usage (found while
parsing when it can be: a missing file, a URL without a scheme). Only the module of the
kind asked for is imported, so that a one-shot probe starts quickly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

from vigie.cli_args import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    duration,
    existing_path,
    host_port,
    http_url,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:
    from probes import Check, CheckDefaults, Prober, ProbeResult

__all__ = [
    "PROBE_COMMANDS",
    "ProbeCommand",
    "add_probe_commands",
    "at_argument",
    "first_line",
    "instant",
    "other_zone_argument",
    "parse_other_zones",
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
    # Whether its checks ask the system's resolver (DNS checks without a --server):
    # reading its configuration costs dnspython's import, which the others do without.
    resolver: bool = False
    # Whether the check asked for speaks HTTP through the shared client (whose module,
    # httpx, is not small to import): the DNS checks never do, certificates only to
    # check revocation.
    http: Callable[[argparse.Namespace], bool] = lambda args: True


def _soa_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zone", required=True, help="the SML zone")
    parser.add_argument(
        "--server",
        type=host_port,
        metavar="HOST:PORT",
        help="name server to ask (default: the resolver)",
    )


def _soa_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.dns import SmlTarget, expand_sml, probe_soa

    servers = [args.server] if args.server else []
    target = SmlTarget(zone=args.zone, nameservers=servers, zone_health=False)
    (check,) = expand_sml(target, defaults)
    return check, probe_soa


# -- sml --
def _sml_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zone", required=True, help="the SML zone")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--participant", metavar="SCHEME::VALUE", help="one participant")
    which.add_argument(
        "--participants",
        type=existing_path,
        metavar="FILE",
        help="sweep a list (one identifier a line, or CSV)",
    )
    parser.add_argument(
        "--naming",
        choices=("bdxl", "classic"),
        default="bdxl",
        help="bdxl: NAPTR names (the Peppol network since 2025); classic: CNAME (default bdxl)",
    )
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


def _sml_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
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


# -- smp --
def _smp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", type=http_url, required=True, help="the SMP's base URL")
    parser.add_argument("--participant", required=True, help="SCHEME::VALUE")
    parser.add_argument(
        "--document-type", help="also fetch signed metadata: SCHEME::VALUE, 'first' or 'all'"
    )
    parser.add_argument(
        "--ca-file", type=existing_path, help="CA certificates for the SMP's TLS (private PKI)"
    )
    parser.add_argument(
        "--trust-anchors",
        type=existing_path,
        help="CA certificates the metadata signer must chain to",
    )
    parser.add_argument(
        "--no-verify-signature", action="store_true", help="do not verify the metadata signature"
    )
    parser.add_argument(
        "--accept-sha1", action="store_true",
        help="accept SHA-1 signatures (SMPs before specification 1.3.0) as not weak",
    )  # fmt: skip
    at_argument(parser)
    parser.add_argument(
        "--health",
        choices=("domismp", "phoss", "oxalis"),
        help="also ask the SMP software's own health URL",
    )
    parser.add_argument(
        "--max-body",
        type=positive_int,
        default=2 * 1024 * 1024,
        help="largest answer read, in bytes (default 2 MiB)",
    )


def _smp_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.smp import SmpTarget, expand_smp, probe_smp

    target = SmpTarget(
        url=args.url,
        participant=args.participant,
        document_type=args.document_type,
        ca_file=args.ca_file,
        trust_anchors=args.trust_anchors,
        verify_signature=not args.no_verify_signature,
        health=args.health,
        max_body=args.max_body,
        accept_sha1=args.accept_sha1,
    )
    (check,) = expand_smp(target, defaults)
    if args.at is not None:
        check = dataclasses.replace(
            check, params=dataclasses.replace(check.params, at=instant(args.at))
        )
    return check, probe_smp


def instant(text: str) -> datetime:
    """An ISO 8601 time (a date alone is its midnight); without an offset, UTC."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--at {text!r}: expected an ISO 8601 time, e.g. 2026-03-19T12:00:00Z"
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


# -- certificates --
# probes.cert_path.RevocationMode's values, spelt out so that building the parser imports
# no prober (a test keeps them equal).
REVOCATION_MODES = ("none", "crl", "ocsp", "both", "prefer_ocsp")


def _cert_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", type=http_url, help="https://HOST:PORT of a TLS endpoint")
    source.add_argument(
        "--file", type=existing_path, help="a PEM or DER file, or a directory of them"
    )
    parser.add_argument("--server-name", help="SNI and name to match (default: the URL's host)")
    parser.add_argument(
        "--trust-anchors", type=existing_path, help="PEM/DER file or directory of root CAs"
    )
    parser.add_argument("--warn-before", default="30d", help="cert_expiring margin (30d)")
    parser.add_argument(
        "--min-rsa-bits", type=positive_int, default=2048, help="weak_key below (2048)"
    )
    parser.add_argument(
        "--profile", choices=("webpki", "rfc5280"),
        help="path validation rules (default: webpki for --url, rfc5280 for --file)",
    )  # fmt: skip
    parser.add_argument(
        "--revocation", choices=REVOCATION_MODES, default="none",
        help="check every certificate of the path for revocation (needs --trust-anchors)",
    )  # fmt: skip
    parser.add_argument(
        "--crl", action="append", default=[], metavar="FILE|URL",
        help="a CRL to use beside the distribution points (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--intermediates", type=existing_path, help="CA certificates to build paths with"
    )
    at_argument(parser)


def at_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--at", metavar="TIME",
        help="judge as of this instant (ISO 8601, e.g. 2027-03-01 or 2027-03-01T12:00Z; UTC "
        "without a zone) instead of now",
    )  # fmt: skip


def _cert_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.x509 import CertificateTarget, expand_certificates, probe_x509

    target = CertificateTarget(
        url=args.url,
        file=args.file,
        server_name=args.server_name,
        trust_anchors=args.trust_anchors,
        warn_before=args.warn_before,
        min_rsa_bits=args.min_rsa_bits,
        profile=args.profile,
        revocation=args.revocation,
        crl=args.crl,
        intermediates=args.intermediates,
        at=args.at,
    )
    (check,) = expand_certificates(target, defaults)
    return check, probe_x509


# -- crl / ocsp --
def _crl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", type=http_url, required=True, help="the CRL's http(s) URL")
    parser.add_argument(
        "--issuer", type=existing_path, action="append", default=[], metavar="PEM",
        help="CA certificate that signs the CRL (repeatable); without it the signature "
        "is not checked and no certificate is reported revoked",
    )  # fmt: skip
    parser.add_argument(
        "--monitored", type=existing_path, action="append", default=[], metavar="PEM",
        help="certificate file or directory whose serials must not be listed (repeatable)",
    )  # fmt: skip
    parser.add_argument("--warn-before", default="6h", help="crl_expiring margin (default 6h)")
    parser.add_argument(
        "--trust-anchors", metavar="PEM",
        help="root CAs the CRL's signer must chain to (RFC 5280 path validation)",
    )  # fmt: skip
    at_argument(parser)


def _crl_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.crl import CrlTarget, expand_crl, probe_crl

    target = CrlTarget(
        url=args.url, issuer=args.issuer, monitored=args.monitored,
        warn_before=args.warn_before, trust_anchors=args.trust_anchors, at=args.at,
    )  # fmt: skip
    return next(iter(expand_crl(target, defaults))), probe_crl


def _ocsp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cert",
        type=existing_path,
        required=True,
        metavar="PEM",
        help="the certificate to ask about",
    )
    parser.add_argument(
        "--issuer",
        type=existing_path,
        required=True,
        metavar="PEM",
        help="its issuer's certificate",
    )
    parser.add_argument(
        "--url", type=http_url, help="the responder (default: the certificate's AIA OCSP URL)"
    )
    parser.add_argument(
        "--method",
        choices=("post", "get"),
        default="post",
        help="how the request is sent (default post; get: for responders behind a cache)",
    )
    at_argument(parser)


def _ocsp_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.ocsp import OcspTarget, expand_ocsp, probe_ocsp

    target = OcspTarget(
        certificate=args.cert, issuer=args.issuer, url=args.url, method=args.method, at=args.at
    )
    (check,) = expand_ocsp(target, defaults)
    return check, probe_ocsp


# -- http / capacity --
# Without --force, `vigie probe capacity` stays below these (README, "HTTP endpoints").
SAFE_CONCURRENCY, SAFE_DURATION, SAFE_RATE = 16, 30.0, 100.0


def _http_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", type=http_url, required=True, help="the http(s) URL to GET")
    parser.add_argument(
        "--ca-file", type=existing_path, help="CA certificates for TLS (private PKI)"
    )
    parser.add_argument("--body-regex", help="the body must match this regex")
    parser.add_argument(
        "--status",
        type=positive_int,
        action="append",
        default=[],
        help="a valid status code (repeatable; default 2xx)",
    )
    parser.add_argument("--http2", action="store_true", help="offer HTTP/2")


def _http_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.http import HttpTarget, expand_http, probe_http

    target = HttpTarget(
        url=args.url,
        ca_file=args.ca_file,
        body_regex=args.body_regex,
        valid_status_codes=args.status,
        http2=args.http2,
    )
    (check,) = expand_http(target, defaults)
    return check, probe_http


def _capacity_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", type=http_url, required=True, help="the http(s) URL to GET")
    parser.add_argument("--concurrency", type=positive_int, default=4, help="K concurrent (4)")
    parser.add_argument("--duration", type=duration, default="5s", help="at most T (5s)")
    parser.add_argument(
        "--rate", type=positive_float, default=20.0, help="at most R requests/s (20)"
    )
    parser.add_argument("--no-ramp", action="store_true", help="K from the start, no ramp")
    parser.add_argument(
        "--ca-file", type=existing_path, help="CA certificates for TLS (private PKI)"
    )
    parser.add_argument("--max-p95", default="500ms", help="degraded above this p95 (500ms)")
    parser.add_argument(
        "--force", action="store_true",
        help=f"allow more than {SAFE_CONCURRENCY} concurrent, {SAFE_DURATION:g}s or "
        f"{SAFE_RATE:g} requests/s (never more than the configuration's caps)",
    )  # fmt: skip


def _capacity_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.capacity import CapacityTarget, expand_capacity, probe_capacity

    beyond = [
        what
        for what, asked, safe in (
            ("--concurrency", args.concurrency, SAFE_CONCURRENCY),
            ("--duration", args.duration, SAFE_DURATION),
            ("--rate", args.rate, SAFE_RATE),
        )
        if asked > safe
    ]
    if beyond and not args.force:
        raise ValueError(
            f"{', '.join(beyond)} beyond the safe limits ({SAFE_CONCURRENCY} concurrent, "
            f"{SAFE_DURATION:g}s, {SAFE_RATE:g}/s): add --force if the endpoint is yours"
        )
    target = CapacityTarget(
        url=args.url,
        concurrency=args.concurrency,
        duration=args.duration,
        rate=args.rate,
        ramp=not args.no_ramp,
        ca_file=args.ca_file,
        thresholds={"max_p95": args.max_p95},
    )
    (check,) = expand_capacity(target, defaults)
    return check, probe_capacity


PROBE_COMMANDS: tuple[ProbeCommand, ...] = (
    ProbeCommand(
        "soa",
        "the SOA of a zone as one name server serves it",
        _soa_arguments,
        _soa_check,
        resolver=True,
        http=lambda args: False,
    ),
    # -- sml --
    ProbeCommand(
        "sml",
        "look up SML participants (one, or a whole list) in BDXL or classic naming",
        _sml_arguments,
        _sml_check,
        resolver=True,
        http=lambda args: False,
    ),
    # -- smp --
    ProbeCommand(
        "smp",
        "a participant's ServiceGroup and signed metadata on an SMP",
        _smp_arguments,
        _smp_check,
    ),
    # -- certificates --
    ProbeCommand(
        "cert",
        "a TLS endpoint's certificate chain, or certificate files",
        _cert_arguments,
        _cert_check,
        http=lambda args: args.revocation != "none",
    ),
    # -- crl / ocsp --
    ProbeCommand("crl", "fetch and verify one CRL", _crl_arguments, _crl_check),
    ProbeCommand(
        "ocsp", "a certificate's status from its OCSP responder", _ocsp_arguments, _ocsp_check
    ),
    # -- http / capacity --
    ProbeCommand(
        "http", "one GET of an endpoint: status, body, phases, TLS", _http_arguments, _http_check
    ),
    ProbeCommand(
        "capacity",
        "a bounded burst against an endpoint: percentiles and a verdict",
        _capacity_arguments,
        _capacity_check,
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
    from vigie.runtime import system_resolver

    async with contextlib.AsyncExitStack() as scope:
        http = None
        if command.http(args):
            from vigie.http import outbound_client

            http = await scope.enter_async_context(outbound_client())
        env = ProbeEnv(resolver=system_resolver() if command.resolver else None, http=http)
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
