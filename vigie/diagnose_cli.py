"""`vigie diagnose PARTICIPANT --zone ZONE`: one participant's delivery path from the shell.

The first broken link is the first line; exit 0 when the path is whole, 1 when a link is
broken, 2 for bad usage. `--json` prints the diagnosis as one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from vigie.cli_args import duration, existing_path, host_port
from vigie.probe_cli import first_line
from vigie.probe_dns_cli import naming_argument, other_zone_argument, parse_other_zones
from vigie.probe_pki_cli import REVOCATION_MODES, at_argument, instant

# The diagnosis and its probers are imported when the command runs, not for `--help`.
if TYPE_CHECKING:
    from vigie.diagnose import Diagnosis, DiagnosisOptions

__all__ = ["add_diagnose_command"]

EXIT_OK, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2


def add_diagnose_command(commands: Any) -> None:
    parser = commands.add_parser(
        "diagnose",
        help="one participant's whole delivery path: SML, SMP, metadata, endpoints, certificates",
    )
    parser.add_argument("participant", metavar="PARTICIPANT", help="SCHEME::VALUE")
    parser.add_argument("--zone", required=True, help="the SML zone")
    parser.add_argument("--document-type", help="one document type (default: all listed, up to 5)")
    naming_argument(parser)
    parser.add_argument(
        "--server", type=host_port, action="append", default=[], metavar="HOST:PORT",
        help="a name server of the zone (repeatable; default: the zone's own)",
    )  # fmt: skip
    other_zone_argument(parser)
    parser.add_argument(
        "--trust-anchors",
        type=existing_path,
        help="CA certificates the metadata signer and endpoints chain to",
    )
    parser.add_argument(
        "--intermediates", type=existing_path, help="CA certificates to build endpoint paths with"
    )
    parser.add_argument(
        "--ca-file", type=existing_path, help="CA certificates for the SMP's and endpoints' TLS"
    )
    parser.add_argument(
        "--revocation", choices=REVOCATION_MODES, default="both",
        help="how the endpoint certificate's revocation is checked (default: both CRL and OCSP)",
    )  # fmt: skip
    parser.add_argument("--accept-sha1", action="store_true", help="SHA-1 signatures are not weak")
    at_argument(parser)
    parser.add_argument(
        "--timeout", type=duration, default="10s", help="time limit of one step (default 10s)"
    )
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    parser.set_defaults(handler=_diagnose)


def _options(args: argparse.Namespace) -> DiagnosisOptions:
    from probes.cert_path import RevocationMode
    from probes.naming import NamingScheme
    from vigie.diagnose import DiagnosisOptions

    timeout: float = args.timeout
    if timeout <= 0:
        raise ValueError("--timeout must be longer than 0s")
    return DiagnosisOptions(
        zone=args.zone,
        naming=NamingScheme.NAPTR if args.naming == "bdxl" else NamingScheme.CNAME,
        servers=tuple(args.server),
        other_zones=parse_other_zones(args.other_zone),
        document_type=args.document_type,
        trust_anchors=args.trust_anchors,
        intermediates=args.intermediates,
        ca_file=args.ca_file,
        revocation=RevocationMode(args.revocation),
        accept_sha1=args.accept_sha1,
        timeout=timeout,
        deadline=timeout * 6,
        at=instant(args.at) if args.at else None,
    )


def _diagnose(args: argparse.Namespace) -> int:
    import asyncio

    from vigie.logs import configure_logging

    configure_logging("warning")
    try:
        options = _options(args)
        diagnosis = asyncio.run(_run(args.participant, options))
    except ValueError as exc:
        print(f"vigie diagnose: {first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(diagnosis.document(), indent=2))
    else:
        print("\n".join(diagnosis.lines()))
    return EXIT_OK if diagnosis.broken is None else EXIT_BROKEN


async def _run(participant: str, options: DiagnosisOptions) -> Diagnosis:
    from probes import ProbeEnv
    from vigie import USER_AGENT
    from vigie.diagnose import diagnose
    from vigie.http import outbound_client
    from vigie.runtime import system_resolver

    async with outbound_client() as http:
        env = ProbeEnv(resolver=system_resolver(), http=http, user_agent=USER_AGENT)
        try:
            return await diagnose(participant, options, env)
        finally:
            await env.aclose()
