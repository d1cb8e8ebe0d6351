"""`vigie probe smp`, `http` and `capacity`: the HTTP checks' arguments and how they
become a `Check`, with the limits a burst keeps to without `--force`. Building the parser
imports no prober: each builder imports its own when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from vigie.cli_args import duration, existing_path, http_url, positive_float, positive_int
from vigie.probe_pki_cli import at_argument, instant

if TYPE_CHECKING:
    from probes import Check, CheckDefaults, Prober

__all__ = [
    "SAFE_CONCURRENCY",
    "SAFE_DURATION",
    "SAFE_RATE",
    "capacity_arguments",
    "capacity_check",
    "http_arguments",
    "http_check",
    "smp_arguments",
    "smp_check",
]


def smp_arguments(parser: argparse.ArgumentParser) -> None:
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


def smp_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.smp import SmpTarget, expand_smp
    from probes.smp_run import probe_smp

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


# Without --force, `vigie probe capacity` stays below these (README, "HTTP endpoints").
SAFE_CONCURRENCY, SAFE_DURATION, SAFE_RATE = 16, 30.0, 100.0


def http_arguments(parser: argparse.ArgumentParser) -> None:
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


def http_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
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


def capacity_arguments(parser: argparse.ArgumentParser) -> None:
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


def capacity_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
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
