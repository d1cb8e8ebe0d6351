"""One verdict for a whole certificate path, revocation included.

`judge_path(leaf, intermediates, anchors, at=..., options=PathOptions(...), env=...)`
builds and validates the path from `leaf` to one of `anchors` under a profile, then checks
the revocation status of every certificate on it (CRL distribution points, OCSP responders,
and configured CRLs) as the options ask, and returns a `PathVerdict` naming the first
broken element. It is what the x509 checks use for files, SMP-published certificates and,
when asked, TLS endpoints; other commands (diagnosis) call it the same way.

Profiles:
- `webpki`: cryptography's verifier (CA/Browser Forum rules), fast and strict; the
  default for TLS endpoints. With revocation asked, the path it found is then checked
  for revocation by the RFC 5280 validator.
- `rfc5280`: pyhanko-certvalidator's RFC 5280 path validation (name comparison per
  RFC 5280 7.1, no WebPKI-only rules), with CRL (delta CRLs, issuing distribution
  points, indirect CRLs, cRLSign) and OCSP processing; the default for files and SMP
  metadata. It is the library tested against NIST PKITS (tests/probes/test_pkits.py).

Weak algorithms are not a path failure here (the caller reports them as weak_key or
weak_signature). `revoked` comes only from a CRL or OCSP answer the validator accepted
for that certificate; anything it cannot use is `revocation_undetermined`, never
`revoked` and never `ok`. Never raises for a certificate's or a server's fault.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from probes._base import FailureReason, ProbeEnv
from probes.cert_checks import webpki_path
from probes.certs import name_text

__all__ = ["PathOptions", "PathVerdict", "Profile", "RevocationMode", "judge_path"]


class Profile(StrEnum):
    WEBPKI = "webpki"
    RFC5280 = "rfc5280"


class RevocationMode(StrEnum):
    """Which revocation sources each certificate of the path must be checked with."""

    NONE = "none"
    CRL = "crl"
    OCSP = "ocsp"
    BOTH = "both"
    PREFER_OCSP = "prefer_ocsp"  # OCSP when the certificate names a responder, else its CRL


@dataclass(frozen=True, slots=True)
class PathOptions:
    profile: Profile = Profile.RFC5280
    revocation: RevocationMode = RevocationMode.NONE
    # CRLs given by the user (DER), used beside those fetched from distribution points.
    crls: tuple[bytes, ...] = ()
    # Fetch CRL distribution points and ask OCSP responders over HTTP (needs env.http).
    fetch: bool = True
    # Seconds one CRL or OCSP download may take.
    fetch_budget: float = 8.0
    # Names the WebPKI verifier matches the leaf against (None: any server certificate).
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class PathVerdict:
    """`reason` OK, or the first problem; `culprit` is the certificate it is about."""

    reason: FailureReason
    detail: str = ""
    path: tuple[x509.Certificate, ...] = ()  # leaf .. anchor, when one validated
    culprit: x509.Certificate | None = None
    # Revocation URLs that gave nothing usable, with why (shown with an undetermined status).
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason is FailureReason.OK


_MAX_DEPTH = 8
_INTERMEDIATE = re.compile(r"intermediate certificate (\d+)")


async def judge_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime,
    options: PathOptions,
    env: ProbeEnv | None = None,
) -> PathVerdict:
    """The verdict on `leaf`'s path to `anchors` as of `at` (see the module docstring)."""
    if not anchors:
        return PathVerdict(FailureReason.CHAIN_UNTRUSTED, "no trust anchors configured")
    if options.profile is Profile.WEBPKI:
        path, error = webpki_path(leaf, list(intermediates), anchors, at, options.hostname)
        if error:
            return PathVerdict(FailureReason.CHAIN_UNTRUSTED, error, culprit=leaf)
        if options.revocation is RevocationMode.NONE:
            return PathVerdict(FailureReason.OK, path=path)
        # Only the path the WebPKI verifier chose is checked for revocation.
        return await _rfc5280(leaf, path[1:-1], path[-1:], at, options, env)
    return await _rfc5280(leaf, intermediates, anchors, at, options, env)


async def _rfc5280(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime,
    options: PathOptions,
    env: ProbeEnv | None,
) -> PathVerdict:
    # Imported here so that checks which never ask for this profile or for revocation
    # (most TLS checks) do not load asn1crypto and the validator.
    from asn1crypto import crl as asn1_crl
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext, errors
    from pyhanko_certvalidator.policy_decl import (
        AcceptAllAlgorithms,
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )

    from probes.revocation_fetch import RevocationFetchers

    def load(cert: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    fetchers = None
    asked = options.fetch and options.revocation is not RevocationMode.NONE
    if asked and env is not None and env.http is not None:
        fetchers = RevocationFetchers(env, budget=options.fetch_budget)
    rule = RevocationCheckingRule(_RULES[options.revocation])
    try:
        crls = [asn1_crl.CertificateList.load(der) for der in options.crls]
        context = ValidationContext(
            trust_roots=[load(cert) for cert in anchors],
            other_certs=[load(cert) for cert in intermediates],
            moment=at,
            crls=crls,
            allow_fetching=fetchers is not None,
            fetchers=fetchers.fetchers if fetchers is not None else None,
            revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(rule, rule)),
            algorithm_usage_policy=AcceptAllAlgorithms(),
        )
        validator = CertificateValidator(load(leaf), validation_context=context)
        found = await validator.async_validate_path()
    except errors.PathBuildingError as exc:
        return PathVerdict(
            FailureReason.CHAIN_UNTRUSTED, f"no path to the trust anchors: {exc}", culprit=leaf
        )
    except errors.PathValidationError as exc:
        return _failed(exc, leaf, fetchers.failures if fetchers is not None else {})
    except errors.ValidationError as exc:
        return PathVerdict(FailureReason.CHAIN_UNTRUSTED, str(exc), culprit=leaf)
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto parses lazily
        detail = f"cannot be parsed for path validation: {str(exc)[:160]}"
        return PathVerdict(FailureReason.CERT_MALFORMED, detail, culprit=leaf)
    path = tuple(
        x509.load_der_x509_certificate(cert.dump())
        for cert in reversed(list(found.iter_certs(include_root=True)))
    )
    if len(path) > _MAX_DEPTH + 1:
        detail = f"the path has {len(path)} certificates, more than {_MAX_DEPTH + 1}"
        return PathVerdict(FailureReason.CHAIN_UNTRUSTED, detail, path=path, culprit=leaf)
    return PathVerdict(FailureReason.OK, path=path)


def _failed(exc: Exception, leaf: x509.Certificate, unreachable: dict[str, str]) -> PathVerdict:
    from pyhanko_certvalidator import errors

    culprit, role = _culprit(exc, leaf)
    who = f"{role} `{name_text(culprit.subject) or _serial(culprit)}`"
    message = str(exc)
    if isinstance(exc, errors.RevokedError):
        when = f"{exc.revocation_dt:%Y-%m-%dT%H:%M:%SZ}"
        source = "OCSP" if message.startswith("OCSP") else "CRL"
        detail = f"{who} revoked by {source} at {when} ({exc.reason.human_friendly})"
        return PathVerdict(FailureReason.CERTIFICATE_REVOKED, detail, culprit=culprit)
    if isinstance(exc, errors.InsufficientRevinfoError):
        if unreachable:
            urls = "; ".join(f"{url}: {why}" for url, why in list(unreachable.items())[:3])
            detail = f"revocation of {who} unreachable ({urls}): status undetermined"
        else:
            detail = f"no usable revocation data for {who}: status undetermined ({message})"
        return PathVerdict(
            FailureReason.REVOCATION_UNDETERMINED, detail, culprit=culprit, unreachable=unreachable
        )
    if isinstance(exc, errors.ExpiredError):
        return PathVerdict(FailureReason.CERT_EXPIRED, f"{who}: {message}", culprit=culprit)
    if isinstance(exc, errors.NotYetValidError):
        return PathVerdict(FailureReason.CERT_NOT_YET_VALID, f"{who}: {message}", culprit=culprit)
    return PathVerdict(FailureReason.CHAIN_UNTRUSTED, message, culprit=culprit)


def _culprit(exc: Exception, leaf: x509.Certificate) -> tuple[x509.Certificate, str]:
    """The certificate a validation error is about, and its role. The validator says it
    only in its message ("intermediate certificate N", counted from the anchor)."""
    if getattr(exc, "is_ee_cert", True):
        return leaf, "end-entity"
    path = getattr(exc, "current_path", None)
    match = _INTERMEDIATE.search(str(exc))
    if path is not None and match:
        certs = list(path.iter_certs(include_root=True))
        index = int(match.group(1))
        if 0 <= index < len(certs):
            return x509.load_der_x509_certificate(certs[index].dump()), "intermediate"
    return leaf, "a certificate above"


def _serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


_RULES = {
    RevocationMode.NONE: "nocheck",
    RevocationMode.CRL: "clrcheck",
    RevocationMode.OCSP: "ocspcheck",
    RevocationMode.BOTH: "bothcheck",
    RevocationMode.PREFER_OCSP: "eithercheck",
}
