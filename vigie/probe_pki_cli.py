"""`vigie probe cert`, `crl` and `ocsp`: the certificate checks' arguments and how they
become a `Check`, and the `--at` instant they share with `smp` and `diagnose`. Building
the parser imports no prober: each builder imports its own when the command runs.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from vigie.cli_args import existing_path, http_url, positive_int

if TYPE_CHECKING:
    from probes import Check, CheckDefaults, Prober

__all__ = [
    "REVOCATION_MODES",
    "at_argument",
    "cert_arguments",
    "cert_check",
    "crl_arguments",
    "crl_check",
    "instant",
    "ocsp_arguments",
    "ocsp_check",
]


def instant(text: str) -> datetime:
    """An ISO 8601 time (a date alone is its midnight); without an offset, UTC."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--at {text!r}: expected an ISO 8601 time, e.g. 2026-03-19T12:00:00Z"
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


# probes.cert_path.RevocationMode's values, spelt out so that building the parser imports
# no prober (a test keeps them equal).
REVOCATION_MODES = ("none", "crl", "ocsp", "both", "prefer_ocsp")


def cert_arguments(parser: argparse.ArgumentParser) -> None:
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


def cert_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
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


def crl_arguments(parser: argparse.ArgumentParser) -> None:
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


def crl_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.crl import CrlTarget, expand_crl, probe_crl

    target = CrlTarget(
        url=args.url, issuer=args.issuer, monitored=args.monitored,
        warn_before=args.warn_before, trust_anchors=args.trust_anchors, at=args.at,
    )  # fmt: skip
    return next(iter(expand_crl(target, defaults))), probe_crl


def ocsp_arguments(parser: argparse.ArgumentParser) -> None:
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


def ocsp_check(args: argparse.Namespace, defaults: CheckDefaults) -> tuple[Check, Prober]:
    from probes.ocsp import OcspTarget, expand_ocsp, probe_ocsp

    target = OcspTarget(
        certificate=args.cert, issuer=args.issuer, url=args.url, method=args.method, at=args.at
    )
    (check,) = expand_ocsp(target, defaults)
    return check, probe_ocsp
