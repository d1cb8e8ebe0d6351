"""Judging certificates: validity windows, chain to the trust anchors, hostname, algorithms.

Pure functions over `cryptography` certificates with the time passed in: no I/O, no
clock, so every verdict is reproducible in a test. Other probers reuse them:

- `assess_chain(presented, trust=Store(anchors), hostname=..., now=..., policy=...)` judges what a
  TLS server presented (leaf first); `assess_certificates(...)` judges a set read from
  files or published in SMP metadata (each non-CA certificate is validated as a leaf,
  the others of the set serve as intermediates).
- Both return an `Assessment`: its `findings` (every problem, most severe first, each a
  `FailureReason` with a short detail), the validated path when there is one, and the
  `MonitoredCertificate`s (certificate + issuer + role) that the CRL and OCSP checks
  build on, found in `X509Findings.monitored` of an x509 check.

Never fetches anything: trust anchors are configured, never downloaded.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from probes._base import FailureReason
from probes.certs import name_text

__all__ = [
    "SEVERITY",
    "UNREADABLE_EXTENSION",
    "Assessment",
    "CertificatePolicy",
    "Finding",
    "MonitoredCertificate",
    "assess_certificates",
    "assess_chain",
    "at_time",
    "cert_name",
    "common_name",
    "hostname_matches",
    "is_ca",
    "serial_hex",
    "webpki_path",
    "with_path_findings",
]

# What reading one extension of a certificate may raise: absent, unparsable, or present
# twice (RFC 5280 4.2 forbids it; cryptography refuses to choose). Each means "not there"
# for a check, never an exception escaping a probe.
UNREADABLE_EXTENSION: tuple[type[Exception], ...] = (
    x509.ExtensionNotFound,
    x509.DuplicateExtension,
    ValueError,
)

# Most severe first: a check's reason is its most severe finding.
SEVERITY: tuple[FailureReason, ...] = (
    FailureReason.CERT_MALFORMED,
    FailureReason.CERT_EXPIRED,
    FailureReason.CERT_NOT_YET_VALID,
    FailureReason.WEAK_KEY,
    FailureReason.WEAK_SIGNATURE,
    FailureReason.CHAIN_UNTRUSTED,
    FailureReason.HOSTNAME_MISMATCH,
    FailureReason.CERT_EXPIRING,
)
# Revocation findings come only from checks that ask for them (`revocation:`); a revoked
# certificate outranks every other problem, an undetermined status ranks with trust.
_RANKED = (
    FailureReason.CERT_MALFORMED,
    FailureReason.CERTIFICATE_REVOKED,
    *SEVERITY[1:6],
    FailureReason.REVOCATION_UNDETERMINED,
    *SEVERITY[6:],
)
_RANK = {reason: rank for rank, reason in enumerate(_RANKED)}
_WEAK_HASHES = (hashes.SHA1, hashes.MD5)
_MAX_CHAIN_DEPTH = 8
# The verifier ends some messages with the repr of the certificate it was processing.
_PROCESSING = re.compile(
    r" \(encountered processing <Certificate\(subject=<Name\((.*)\)>, \.\.\.\)>\)$"
)


@dataclass(frozen=True, slots=True)
class CertificatePolicy:
    warn_before: timedelta = timedelta(days=30)
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256


@dataclass(frozen=True, slots=True)
class Finding:
    reason: FailureReason
    detail: str


@dataclass(frozen=True, slots=True)
class MonitoredCertificate:
    """A certificate under watch, with its issuer when known (for CRL and OCSP checks).

    `role`: "leaf" or "intermediate" (presented by a TLS server), "file" (read from a
    file) or what the caller of `assess_certificates` names it (e.g. "smp_endpoint" for
    one published in SMP metadata). `source` is where it came from (URL or path).
    """

    certificate: x509.Certificate
    role: str
    source: str
    issuer: x509.Certificate | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    findings: tuple[Finding, ...]
    certificates: tuple[MonitoredCertificate, ...]
    validated_chain: tuple[x509.Certificate, ...] = ()  # leaf ... anchor of the first leaf
    # Whose validity windows count: the whole set, or for a validated TLS chain only the
    # certificates on the path (a stale extra certificate a server still sends is no outage).
    judged: tuple[x509.Certificate, ...] = ()

    @property
    def reason(self) -> FailureReason:
        return self.findings[0].reason if self.findings else FailureReason.OK

    @property
    def detail(self) -> str:
        return self.findings[0].detail if self.findings else ""

    def reasons(self) -> frozenset[FailureReason]:
        return frozenset(finding.reason for finding in self.findings)


def assess_chain(
    presented: Sequence[x509.Certificate],
    *,
    trust: Store | None,
    hostname: str | None,
    now: datetime,
    policy: CertificatePolicy,
    source: str = "",
    intermediates: Sequence[x509.Certificate] = (),
) -> Assessment:
    """Judge a TLS server's chain (leaf first). `trust` None: no trust verdict.

    `trust` is `cryptography.x509.verification.Store(anchors)`; build it once per anchor
    set and reuse it, it costs more than a verification. `intermediates`: configured CA
    certificates the path may also be built with (not judged themselves).
    """
    leaf, intermediates = presented[0], [*presented[1:], *intermediates]
    findings = _algorithms(presented, policy)
    if hostname is not None and not hostname_matches(leaf, hostname):
        names = ", ".join(_san_texts(leaf)[:4]) or "no subjectAltName"
        findings.append(
            Finding(FailureReason.HOSTNAME_MISMATCH, f"{hostname} not in the leaf's ({names})")
        )
    validated: tuple[x509.Certificate, ...] = ()
    if trust is not None:
        subject = _server_subject(leaf, hostname)
        validated, error = _verify(leaf, intermediates, trust, _inside(presented, now), subject)
        if error:
            findings.append(Finding(FailureReason.CHAIN_UNTRUSTED, error))
    judged = tuple(cert for cert in presented if cert in validated) or tuple(presented)
    findings.extend(_windows(judged, now, policy))
    issuers = _issuers(presented, [*validated, None])
    certificates = tuple(
        MonitoredCertificate(cert, "leaf" if i == 0 else "intermediate", source, issuers[i])
        for i, cert in enumerate(presented)
    )
    return Assessment(_sorted(findings), certificates, validated, judged)


def assess_certificates(
    found: Sequence[x509.Certificate],
    *,
    trust: Store | None,
    now: datetime,
    policy: CertificatePolicy,
    source: str = "",
    role: str = "file",
    intermediates: Sequence[x509.Certificate] = (),
) -> Assessment:
    """Judge certificates read from files or metadata; each non-CA one is a leaf.

    `role` labels every one of them (`MonitoredCertificate.role`); `intermediates` are
    configured CA certificates paths may also be built with (not judged themselves)."""
    findings = [*_windows(found, now, policy), *_algorithms(found, policy)]
    paths: list[tuple[x509.Certificate, ...]] = []
    if trust is not None:
        for cert in found:
            if is_ca(cert):
                continue
            others = [*(other for other in found if other is not cert), *intermediates]
            path, error = _verify(cert, others, trust, _inside([cert], now), None)
            if error:
                what = f"{cert_name(cert)}: {error}"
                findings.append(Finding(FailureReason.CHAIN_UNTRUSTED, what))
            else:
                paths.append(path)
    issuers = _issuers(found, [link for path in paths for link in (*path, None)])
    certificates = tuple(
        MonitoredCertificate(cert, role, source, issuers[i]) for i, cert in enumerate(found)
    )
    validated = paths[0] if paths else ()
    return Assessment(_sorted(findings), certificates, validated)


_WINDOW_REASONS = frozenset(
    {FailureReason.CERT_EXPIRED, FailureReason.CERT_NOT_YET_VALID, FailureReason.CERT_EXPIRING}
)


def at_time(assessment: Assessment, now: datetime, policy: CertificatePolicy) -> Assessment:
    """`assessment` with its validity-window findings recomputed for `now`.

    Lets a caller reuse the costly part (parsing, path validation) for an unchanged
    chain and redo only what moves with the clock.
    """
    kept = [f for f in assessment.findings if f.reason not in _WINDOW_REASONS]
    certs = assessment.judged or [monitored.certificate for monitored in assessment.certificates]
    findings = _sorted([*kept, *_windows(certs, now, policy)])
    return Assessment(
        findings, assessment.certificates, assessment.validated_chain, assessment.judged
    )


def with_path_findings(
    assessment: Assessment, extra: Sequence[Finding], validated: tuple[x509.Certificate, ...]
) -> Assessment:
    """`assessment` with the findings of a whole-path verdict (`probes.cert_path`) added and
    the path it validated, for checks that judge trust and revocation that way."""
    findings = _sorted([*assessment.findings, *extra])
    judged = assessment.judged
    if validated and assessment.judged:
        judged = tuple(cert for cert in assessment.judged if cert in validated) or judged
    return Assessment(findings, assessment.certificates, validated, judged)


# -- names and labels --------------------------------------------------------------------


def common_name(cert: x509.Certificate) -> str:
    """The subject's first CN (at most 64 characters), or "" without one."""
    for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        return text[:64]
    return ""


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def cert_name(cert: x509.Certificate) -> str:
    """How details name a certificate: its CN, or its serial without one."""
    return common_name(cert) or serial_hex(cert)


def hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """RFC 6125: the name (or IP address) is among the subjectAltNames; a wildcard covers
    exactly one leftmost label. The subject CN is not consulted, as browsers do."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except UNREADABLE_EXTENSION:
        return False
    try:
        address = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return address in names.get_values_for_type(x509.IPAddress)
    wanted = hostname.rstrip(".").lower().split(".")
    for pattern in names.get_values_for_type(x509.DNSName):
        labels = pattern.rstrip(".").lower().split(".")
        if len(labels) != len(wanted):
            continue
        first_ok = labels[0] == wanted[0] or (labels[0] == "*" and len(labels) > 2)
        if first_ok and labels[1:] == wanted[1:]:
            return True
    return False


# -- the checks --------------------------------------------------------------------------


def _windows(
    certs: Sequence[x509.Certificate], now: datetime, policy: CertificatePolicy
) -> list[Finding]:
    findings = []
    for cert in certs:
        not_after = cert.not_valid_after_utc
        if not_after <= now:
            days = (now - not_after).days
            text = f"{cert_name(cert)} expired {days} days ago"
            findings.append(Finding(FailureReason.CERT_EXPIRED, text))
        elif cert.not_valid_before_utc > now:
            text = f"{cert_name(cert)} is valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z"
            findings.append(Finding(FailureReason.CERT_NOT_YET_VALID, text))
        elif not_after - now < policy.warn_before:
            days = (not_after - now).days
            text = f"{cert_name(cert)} expires in {days} days"
            findings.append(Finding(FailureReason.CERT_EXPIRING, text))
    return findings


def _algorithms(certs: Sequence[x509.Certificate], policy: CertificatePolicy) -> list[Finding]:
    findings = []
    for cert in certs:
        name = cert_name(cert)
        try:
            key = cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            findings.append(Finding(FailureReason.CERT_MALFORMED, f"{name}: public key: {exc}"))
            continue
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < policy.min_rsa_bits:
            text = f"{name}: RSA {key.key_size} bits (< {policy.min_rsa_bits})"
            findings.append(Finding(FailureReason.WEAK_KEY, text))
        elif isinstance(key, ec.EllipticCurvePublicKey) and key.key_size < policy.min_ec_bits:
            findings.append(Finding(FailureReason.WEAK_KEY, f"{name}: EC {key.curve.name}"))
        elif isinstance(key, dsa.DSAPublicKey):
            findings.append(Finding(FailureReason.WEAK_KEY, f"{name}: DSA key"))
        if cert.issuer == cert.subject:
            continue  # a self-signed anchor's own signature is never relied upon
        try:
            algorithm = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            algorithm = None
        if isinstance(algorithm, _WEAK_HASHES):
            text = f"{name}: signed with {algorithm.name.upper()}"
            findings.append(Finding(FailureReason.WEAK_SIGNATURE, text))
    return findings


def _verify(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    store: Store,
    at: datetime,
    subject: x509.verification.Subject | None,
) -> tuple[tuple[x509.Certificate, ...], str]:
    """(path leaf..anchor, "") or ((), why not). RFC 5280 path building by cryptography."""
    builder = PolicyBuilder().store(store).time(at).max_chain_depth(_MAX_CHAIN_DEPTH)
    try:
        if subject is not None:
            return tuple(builder.build_server_verifier(subject).verify(leaf, intermediates)), ""
        # Signing and AS4 certificates carry no serverAuth; only the CAs' rules apply.
        builder = builder.extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        verified = builder.build_client_verifier().verify(leaf, intermediates)
        return tuple(verified.chain), ""
    except VerificationError as exc:
        return (), _path_problem(str(exc), leaf, intermediates)
    except ValueError as exc:
        return (), f"cannot be validated: {exc}"


def _path_problem(
    message: str, leaf: x509.Certificate, intermediates: Sequence[x509.Certificate]
) -> str:
    """The verifier's verdict in words a person can act on: which certificate, and what
    is missing. Its own text names the search, not the certificates."""
    reason = message.removeprefix("validation failed: ").removeprefix("candidates exhausted: ")
    # Follow the chain by name among what was presented, up to the certificate whose
    # issuer was not presented: the one the trust anchors had to vouch for.
    top, seen = leaf, {leaf}
    while (
        parent := next((c for c in intermediates if c.subject == top.issuer), None)
    ) is not None and parent not in seen:
        top = parent
        seen.add(top)
    issuer = name_text(top.issuer)[:200] or "an empty name"
    if "no interior errors" in reason:  # no candidate issuer at all
        return (
            f"no path to the trust anchors: {cert_name(top)} is issued by {issuer}, which "
            "is neither presented nor a trust anchor (add that CA to the trust anchors, "
            "or present it)"
        )
    if reason == "signature does not match":
        return (
            f"no path to the trust anchors: {cert_name(top)} names {issuer} as its issuer, "
            "but the CA of that name among the trust anchors has another key (a CA "
            "re-issued, or another PKI with the same names)"
        )
    reason = _PROCESSING.sub(r" (at \1)", reason)
    return f"{cert_name(leaf)} does not validate against the trust anchors: {reason}"


def webpki_path(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime,
    hostname: str | None,
) -> tuple[tuple[x509.Certificate, ...], str]:
    """`leaf`'s path to `anchors` by the WebPKI verifier, as of `at` (leaf .. anchor), or
    why there is none. With a hostname the leaf is judged as a TLS server's."""
    subject = _server_subject(leaf, hostname) if hostname is not None else None
    return _verify(leaf, intermediates, Store(list(anchors)), at, subject)


def _server_subject(leaf: x509.Certificate, hostname: str | None) -> x509.verification.Subject:
    """The name the verifier checks. When the hostname does not match (reported on its
    own), a name the leaf does carry is used, so trust is judged independently."""
    candidates = [hostname] if hostname and hostname_matches(leaf, hostname) else []
    candidates += _san_texts(leaf)
    for name in candidates:
        try:
            return x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            pass
        try:
            return x509.DNSName(name)
        except ValueError:
            continue
    return x509.DNSName(hostname or "invalid.")


def _san_texts(cert: x509.Certificate) -> list[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except UNREADABLE_EXTENSION:
        return []
    dns = [name.replace("*.", "wildcard.", 1) for name in names.get_values_for_type(x509.DNSName)]
    return dns + [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]


def _inside(certs: Sequence[x509.Certificate], now: datetime) -> datetime:
    """`now`, moved inside every certificate's validity window when they overlap, so the
    trust verdict does not repeat an expiry that is reported on its own."""
    start = max(cert.not_valid_before_utc for cert in certs)
    end = min(cert.not_valid_after_utc for cert in certs)
    if start > end:
        return now
    return min(max(now, start), end - timedelta(seconds=1))


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except UNREADABLE_EXTENSION:
        return False


def _issuers(
    certs: Sequence[x509.Certificate], paths: Sequence[x509.Certificate | None]
) -> list[x509.Certificate | None]:
    """Each certificate's issuer: the next one on a validated path (`paths`: validated
    paths one after another, each ended by None), else one of the set whose subject names
    it (unverified: a hint for the CRL and OCSP checks, no more)."""
    on_path = {cert: paths[i + 1] for i, cert in enumerate(paths[:-1]) if cert is not None}
    by_subject = [cert for cert in paths if cert is not None] + list(certs)
    out: list[x509.Certificate | None] = []
    for cert in certs:
        issuer = on_path.get(cert)
        if issuer is None:
            issuer = next((c for c in by_subject if c.subject == cert.issuer and c != cert), None)
        out.append(issuer)
    return out


def _sorted(findings: list[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda finding: _RANK.get(finding.reason, len(_RANK))))
