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
  A trust anchor's own name constraints apply to its paths (RFC 5937). Input built to
  exhaust the validator (many intermediates sharing names, thousands of names against
  thousands of name constraints) is bounded before it runs and refused as
  `chain_untrusted` (tests/probes/test_cert_path_exhaustion.py).

Weak algorithms are not a path failure here (the caller reports them as weak_key or
weak_signature). `revoked` comes only from a CRL or OCSP answer the validator accepted
for that certificate; anything it cannot use is `revocation_undetermined`, never
`revoked` and never `ok`. Never raises for a certificate's or a server's fault.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from probes._base import FailureReason, ProbeEnv
from probes.cert_checks import UNREADABLE_EXTENSION, webpki_path
from probes.certs import name_text

if TYPE_CHECKING:
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator.authority import TrustAnchor

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
    # With a name, the WebPKI profile judges the leaf as a TLS server's certificate
    # (serverAuth); whether the leaf carries that name is the caller's own finding
    # (`cert_checks.hostname_matches`, reported as hostname_mismatch), not this verdict.
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
# Signatures checked while sorting out intermediates that share a subject name (see
# `_signers_on_the_way`); more than this many candidates is a chain built to exhaust us.
_MAX_SIGNATURE_CHECKS = 2048
# Paths that intermediates' names allow before they are sorted out by signature.
_MAX_NAME_PATHS = 64
# Names times name constraints the RFC 5280 validator may compare (pure Python, each
# name against each constraint: 2048 of each took half a minute).
_MAX_NAME_CONSTRAINT_CHECKS = 1 << 16
# How far apart the instant asked and a certificate's or an answer's own times may be.
_CLOCK_TOLERANCE = timedelta(seconds=1)
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
        roots = [_anchor(load(cert)) for cert in anchors]
        checks = _name_constraint_checks(leaf, intermediates, anchors)
        if checks > _MAX_NAME_CONSTRAINT_CHECKS:
            detail = (
                f"{checks} comparisons of names with name constraints, more than "
                f"{_MAX_NAME_CONSTRAINT_CHECKS}: refused"
            )
            return PathVerdict(FailureReason.CHAIN_UNTRUSTED, detail, culprit=leaf)
        kept = _signers_on_the_way(leaf, intermediates, anchors)
        if kept is None:
            detail = (
                f"more than {_MAX_SIGNATURE_CHECKS} candidate issuers to try among "
                f"{len(intermediates)} intermediates sharing names: refused"
            )
            return PathVerdict(FailureReason.CHAIN_UNTRUSTED, detail, culprit=leaf)
        context = ValidationContext(
            trust_roots=roots,
            other_certs=[load(intermediates[index]) for index in kept],
            moment=at,
            # The validator's one tolerance covers both certificate validity and the
            # freshness of CRLs and OCSP answers: a responder answering at once stamps
            # thisUpdate with its own clock, a moment after the instant asked, and without
            # a margin that answer is "from the future" (revocation_undetermined).
            time_tolerance=_CLOCK_TOLERANCE,
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
    except NotImplementedError as exc:  # e.g. an iPAddress name constraint: fail closed
        detail = f"the RFC 5280 validator cannot check this path: {str(exc)[:160]}"
        return PathVerdict(FailureReason.CHAIN_UNTRUSTED, detail, culprit=leaf)
    # asn1crypto parses lazily, and recurses over names (thousands of attributes).
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
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


def _anchor(cert: asn1_x509.Certificate) -> TrustAnchor:
    """A trust anchor that keeps the name constraints its certificate carries (RFC 5937:
    a CA restricted to some names stays restricted when it is the anchor). Its other
    extensions stay out: certificate policies there would make every path need one."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator.authority import CertTrustAnchor, TrustQualifiers
    from pyhanko_certvalidator.name_trees import (
        default_excluded_subtrees,
        default_permitted_subtrees,
        process_general_subtrees,
    )
    from pyhanko_certvalidator.policy_decl import PKIXValidationParams

    constraints = cert.name_constraints_value
    if constraints is None:
        return CertTrustAnchor(cert)
    # Name types the extension does not mention stay unconstrained, as RFC 5280 6.1.1.
    permitted, excluded = default_permitted_subtrees(), default_excluded_subtrees()
    for trees, into in ((constraints["permitted_subtrees"], permitted),
                        (constraints["excluded_subtrees"], excluded)):  # fmt: skip
        if isinstance(trees, asn1_x509.GeneralSubtrees):
            into.update(process_general_subtrees(trees))
    params = PKIXValidationParams(
        initial_permitted_subtrees=permitted, initial_excluded_subtrees=excluded
    )
    return CertTrustAnchor(cert, quals=TrustQualifiers(standard_parameters=params))


def _name_constraint_checks(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> int:
    """An upper bound of the name comparisons the validator would make: every name of
    the certificates below a CA (subject attributes, subjectAltNames) against every
    constraint of every CA."""
    names = constraints = 0
    for cert in (leaf, *intermediates):
        names += len(cert.subject)
        with contextlib.suppress(*UNREADABLE_EXTENSION):
            names += len(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    for cert in (*intermediates, *anchors):
        try:
            value = cert.extensions.get_extension_for_class(x509.NameConstraints).value
        except UNREADABLE_EXTENSION:
            continue
        constraints += len(value.permitted_subtrees or ()) + len(value.excluded_subtrees or ())
    return names * constraints


def _signers_on_the_way(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> list[int] | None:
    """Which of `intermediates` (their indices) are worth giving the validator; None
    when sorting them out would take more than `_MAX_SIGNATURE_CHECKS` signature checks.

    The validator tries every path that names allow, so intermediates that share a
    subject multiply its paths (100 of one name: factorial many, none usable). When
    names allow more than `_MAX_NAME_PATHS` paths, or one longer than vigie accepts,
    only intermediates reached from the leaf by signatures that verify, no more than
    `_MAX_DEPTH` - 1 above it, and from which an anchor's name is reached, are kept.
    Ordinary inputs (a key rollover, a separate CRL-signing certificate, which the
    validator also looks up here) are kept whole, so its messages stay its own."""
    everything = range(len(intermediates))
    if len(intermediates) < 2:
        return list(everything)
    # Copies of its own: asn1crypto may re-encode what it has looked into, and the
    # validator must see the bytes as signed.
    nodes = [_Node(cert) for cert in (leaf, *intermediates)]
    by_subject: dict[object, list[int]] = defaultdict(list)
    for index in range(1, len(nodes)):
        by_subject[nodes[index].subject].append(index)
    anchor_names = {_Node(cert).subject for cert in anchors}
    if not _many_paths_by_name(nodes, by_subject, anchor_names):
        return list(everything)
    from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

    verifier = DefaultSignatureValidator()
    parents: dict[int, list[int]] = {}
    # Breadth first, so each certificate is reached at its least depth: one deeper than
    # a path vigie accepts is never walked from, so a linked chain of hundreds (a server
    # may present some 200 within a handshake) is not handed whole to the validator,
    # which would check every signature of it while holding the event loop.
    frontier, checks = deque([(0, 0)]), 0
    queued = {0}
    while frontier:
        child, depth = frontier.popleft()
        parents[child] = []
        cert = nodes[child].cert
        for candidate in by_subject.get(nodes[child].issuer, ()):
            if candidate == child:
                continue
            checks += 1
            if checks > _MAX_SIGNATURE_CHECKS:
                return None
            try:
                verifier.validate_signature(
                    cert.signature,
                    cert["tbs_certificate"].dump(),
                    nodes[candidate].cert.public_key,
                    cert["signature_algorithm"],
                )
            except Exception:  # noqa: S112 - whatever fails, not its signer
                continue
            parents[child].append(candidate)
            if candidate not in queued and depth + 1 < _MAX_DEPTH:
                queued.add(candidate)
                frontier.append((candidate, depth + 1))
    good = {index for index in parents if index and nodes[index].issuer in anchor_names}
    grew = True
    while grew:
        grew = False
        for index, above in parents.items():
            if index and index not in good and any(parent in good for parent in above):
                good.add(index)
                grew = True
    return sorted(index - 1 for index in good)


class _Node:
    """One certificate as the pre-sorting sees it: parsed once, names compared by
    RFC 5280's rules (asn1crypto's normalised form, as the validator does)."""

    __slots__ = ("cert", "issuer", "subject")

    def __init__(self, cert: x509.Certificate) -> None:
        from asn1crypto import x509 as asn1_x509

        self.cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        self.issuer: object = self.cert.issuer.hashable
        self.subject: object = self.cert.subject.hashable


def _many_paths_by_name(
    nodes: list[_Node], by_subject: dict[object, list[int]], anchor_names: set[object]
) -> bool:
    """Whether names alone allow more than `_MAX_NAME_PATHS` paths up from the leaf
    (`nodes[0]`), each ending at an anchor's name or where no issuer is given, or one
    longer than any path vigie accepts. The walk stops at either, so its cost is
    bounded by those numbers, not by how many intermediates were given."""
    paths = 0
    stack: list[tuple[int, frozenset[int]]] = [(0, frozenset())]
    while stack:
        index, seen = stack.pop()
        if len(seen) > _MAX_DEPTH:
            return True
        issuer = nodes[index].issuer
        above = [other for other in by_subject.get(issuer, ()) if other not in seen]
        if not above or issuer in anchor_names:
            paths += 1
            if paths > _MAX_NAME_PATHS:
                return True
        stack.extend((parent, seen | {index}) for parent in above)
    return False


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
