"""The verdict of a certificate check (`probes.x509`) on what one of its sources read.

Trust against the configured anchors (re-read when their file changes), expiry, names
and algorithms (`probes.cert_checks`), and, when the profile or revocation asks for it,
the whole-path verdict of `probes.cert_path` with the configured CRLs (files, and URLs
through the agent's CRL cache); then the result: values, the per-certificate and
per-problem series, and the `X509Findings`. It never reads a certificate from a network
or a file itself (`probes.x509_sources` does), and a problem is a reason, never an
exception.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import Store

from probes._base import (
    HIDDEN,
    FailureReason,
    Findings,
    PhaseTimer,
    ProbeEnv,
    ProbeResult,
    Series,
)
from probes.cert_checks import (
    SEVERITY,
    Assessment,
    Finding,
    MonitoredCertificate,
    assess_certificates,
    cert_name,
    common_name,
    is_ca,
    serial_hex,
    with_path_findings,
)
from probes.cert_path import PathOptions, RevocationMode, judge_path
from probes.certs import CertificateFacts, CertificateParseError, read_certificates

if TYPE_CHECKING:
    from probes.crl_cache import FetchedCrl
    from probes.x509 import X509Params

__all__ = [
    "CRL_REFRESH",
    "MAX_CRL_FILE_BYTES",
    "MAX_LABELLED",
    "Anchors",
    "Facts",
    "X509Findings",
    "judge_paths",
    "judge_set",
    "result_of",
    "trust",
]

# Most certificates a check labels one by one (a directory may hold many): bounded series.
MAX_LABELLED = 32


# A CRL file larger than this is refused at load (the CRL checks cap downloads the same).
MAX_CRL_FILE_BYTES = 64 * 1024 * 1024


# A configured CRL URL is fetched at most this often, as the CRL checks do by default.
CRL_REFRESH = 900.0


@dataclasses.dataclass(frozen=True, slots=True)
class X509Findings(Findings):
    """The certificates a run judged, leaf (or first read) first."""

    certificates: tuple[CertificateFacts, ...]
    tls_version: str | None = None
    # What the CRL and OCSP checks build on: each with its role, source and issuer.
    monitored: tuple[MonitoredCertificate, ...] = dataclasses.field(default=(), metadata=HIDDEN)
    chain: tuple[x509.Certificate, ...] = dataclasses.field(default=(), metadata=HIDDEN)


class Anchors:
    """Trust anchors read from disk, re-read only when the file changes."""

    __slots__ = ("_key", "_path", "certificates", "error", "store")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._key: tuple[int, int] | None = None
        self.certificates: list[x509.Certificate] = []
        self.store: Store | None = None
        self.error = ""

    def refresh(self) -> None:
        try:
            info = os.stat(self._path)
        except OSError as exc:
            self._key, self.store, self.error = None, None, f"trust anchors: {exc.strerror}"
            return
        key = (info.st_mtime_ns, info.st_size)
        if key == self._key:
            return
        self._key = key
        try:
            self.certificates = read_certificates(self._path)
            self.store, self.error = Store(self.certificates), ""
        except (CertificateParseError, ValueError) as exc:
            self.store, self.error = None, f"trust anchors: {exc}"


async def judge_set(
    found: list[x509.Certificate],
    params: X509Params,
    timer: PhaseTimer,
    time_limit: float,
    env: ProbeEnv,
    *,
    role: str = "file",
    labelled: int = MAX_LABELLED,
) -> ProbeResult:
    """The verdict on a set of certificates (files, SMP metadata), each non-CA one a leaf."""
    store, problem = trust(params)
    if problem:
        return ProbeResult.failure(FailureReason.CERT_MALFORMED, problem, phases=timer.phases)
    now = params.at or datetime.fromtimestamp(env.wall_clock(), UTC)
    assessment = assess_certificates(
        found,
        trust=None if params.whole_path else store,
        now=now,
        policy=params.policy,
        source=params.source,
        role=role,
        intermediates=params.intermediates,
    )
    if params.whole_path and store is not None:
        leaves = [[cert, *(other for other in found if other is not cert)] for cert in found]
        leaves = [chain for chain in leaves if not is_ca(chain[0])] or leaves[:1]
        assessment = await judge_paths(assessment, leaves, params, now, time_limit, env)
    timer.lap("validate")
    facts = Facts(assessment, found, labelled)
    return result_of(
        assessment, facts, "", timer.phases, now, validated=store is not None,
        revocation=params.revocation is not RevocationMode.NONE,
    )  # fmt: skip


def trust(params: X509Params) -> tuple[Store | None, str]:
    """The anchors' store (None when none are configured), or why they cannot be used."""
    if params.anchors is None:
        return None, ""
    params.anchors.refresh()
    return params.anchors.store, params.anchors.error


async def judge_paths(
    assessment: Assessment,
    chains: list[list[x509.Certificate]],
    params: X509Params,
    now: datetime,
    time_limit: float,
    env: ProbeEnv,
) -> Assessment:
    """`assessment` with each chain's whole-path verdict (leaf first, then the certificates
    it may be built with): trust by the profile, then revocation of every element."""
    from probes.crl import FETCH_SHARE

    anchors = params.anchors.certificates if params.anchors is not None else []
    budget = time_limit * FETCH_SHARE
    crls, missing = await _configured_crls(params, env, budget)
    options = PathOptions(
        profile=params.profile,
        revocation=params.revocation,
        crls=crls,
        fetch_budget=budget,
        hostname=params.hostname if params.address is not None else None,
    )
    findings: list[Finding] = []
    validated: tuple[x509.Certificate, ...] = ()
    for leaf, *others in chains:
        verdict = await judge_path(
            leaf, [*others, *params.intermediates], anchors, at=now, options=options, env=env
        )
        if verdict.ok:
            validated = validated or verdict.path
            continue
        detail = verdict.detail
        if verdict.reason is FailureReason.REVOCATION_UNDETERMINED and missing:
            detail += "; configured CRL " + "; ".join(missing)
        if params.address is None:  # files and SMP metadata: say which certificate
            detail = f"{cert_name(leaf)}: {detail}"
        findings.append(Finding(verdict.reason, detail))
    return with_path_findings(assessment, findings, validated)


async def _configured_crls(
    params: X509Params, env: ProbeEnv, budget: float
) -> tuple[tuple[bytes, ...], list[str]]:
    """The configured CRL files, and the configured CRL URLs fetched through the agent's
    CRL cache; with why each URL that gave nothing did not."""
    from probes.crl_fetch import fetch_crl

    if not params.crl_urls or env.http is None:
        return params.crls, [f"{url}: not fetched (no HTTP client)" for url in params.crl_urls]
    found, missing = list(params.crls), []
    cache = env.crl_cache
    for url in params.crl_urls:

        async def fetch(url: str = url) -> FetchedCrl:
            return await fetch_crl(url, env, MAX_CRL_FILE_BYTES, budget)

        fetched = await cache.get(url, CRL_REFRESH, env.monotonic(), fetch)
        if fetched.crl is None:
            missing.append(f"{url}: {fetched.reason} {fetched.detail}".rstrip())
        else:
            found.append(fetched.crl.public_bytes(Encoding.DER))
    return tuple(found), missing


class Facts:
    """What a result says about a chain that does not move with the clock, built once
    per chain (labels and timestamps of every certificate)."""

    __slots__ = ("certificate_series", "findings", "leaf_name", "values")

    def __init__(
        self, assessment: Assessment, found: list[x509.Certificate], labelled: int = MAX_LABELLED
    ) -> None:
        leaf = found[0]
        self.leaf_name = common_name(leaf) or serial_hex(leaf)
        earliest = min(c.not_valid_after_utc for c in found)
        self.values: dict[str, float] = {
            "probe_ssl_earliest_cert_expiry": earliest.timestamp(),
            "leaf_not_after_timestamp_seconds": leaf.not_valid_after_utc.timestamp(),
            "chain_certificates": float(len(found)),
        }
        if assessment.validated_chain:
            path_end = min(c.not_valid_after_utc for c in assessment.validated_chain)
            self.values["probe_ssl_last_chain_expiry_timestamp_seconds"] = path_end.timestamp()
        self.certificate_series = tuple(
            Series(
                "cert_not_after_timestamp_seconds",
                {
                    "cn": common_name(monitored.certificate),
                    "serial": serial_hex(monitored.certificate),
                    "role": monitored.role,
                },
                monitored.certificate.not_valid_after_utc.timestamp(),
            )
            for monitored in assessment.certificates[:labelled]
        )
        self.findings = X509Findings(
            certificates=tuple(CertificateFacts.of(certificate) for certificate in found),
            monitored=assessment.certificates,
            chain=tuple(found),
        )


def result_of(
    assessment: Assessment,
    facts: Facts,
    tls_version: str,
    phases: dict[str, float],
    now: datetime,
    *,
    validated: bool,
    revocation: bool = False,
) -> ProbeResult:
    series: list[Series] = []
    if tls_version:
        series.append(Series("probe_tls_version_info", {"version": tls_version}, 1.0))
    series.extend(facts.certificate_series)
    series.extend(_problem_series(assessment.reasons(), validated, revocation and validated))
    if assessment.detail:
        detail = assessment.detail
    else:
        days = (facts.values["leaf_not_after_timestamp_seconds"] - now.timestamp()) // 86400
        count = int(facts.values["chain_certificates"])
        detail = f"{facts.leaf_name} expires in {days:.0f} days; {count} certificate(s)"
    return ProbeResult(
        assessment.reason,
        detail,
        phases=phases,
        values=facts.values,
        series=tuple(series),
        findings=dataclasses.replace(facts.findings, tls_version=tls_version or None),
    )


_REVOCATION_REASONS = (FailureReason.CERTIFICATE_REVOKED, FailureReason.REVOCATION_UNDETERMINED)


_CHECKED_WITHOUT_ANCHORS = tuple(r for r in SEVERITY if r is not FailureReason.CHAIN_UNTRUSTED)


@functools.lru_cache(maxsize=64)
def _problem_series(
    found: frozenset[FailureReason], validated: bool, revocation: bool = False
) -> tuple[Series, ...]:
    """`problem{reason}`: 1 for each reason found, 0 for the others checked (the same few
    combinations run after run, so built once each)."""
    checked = SEVERITY if validated else _CHECKED_WITHOUT_ANCHORS
    if revocation:
        checked = (*checked, *_REVOCATION_REASONS)
    return tuple(
        Series("problem", {"reason": str(reason)}, 1.0 if reason in found else 0.0)
        for reason in checked
    )
