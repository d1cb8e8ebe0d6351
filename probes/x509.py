"""Certificate checks (kind `x509`): a TLS endpoint's chain, certificate files, or the
certificates published in SMP metadata.

A target is either `url: https://HOST:PORT` (the chain fetched by `probes.tls_chain`,
verification off, then judged here), `file: PATH` (a PEM/DER file or a directory, read
by `probes.certs`) or `smp_metadata: true` (the distinct endpoint certificates in the
latest `smp` results, read each run through the findings view the agent wires in, as
`probes.http_discovery` reads them; at most `max` judged, the rest counted).
`probes.cert_checks` gives the verdict against the configured trust anchors (never
fetched). A target's problem is a `FailureReason`, never an exception.

What a run found is its `X509Findings`: each certificate's subject, issuer, serial and
dates (shown), the monitored certificates (certificate, role, source, issuer when known:
what the CRL and OCSP checks build on) and the chain as presented or read, leaf first.

Metrics (names like blackbox_exporter's where they mean the same): the earliest notAfter
of the presented chain `probe_ssl_earliest_cert_expiry`, of the validated path
`probe_ssl_last_chain_expiry_timestamp_seconds`, `probe_tls_version_info{version}`, the
leaf's `probe_x509_leaf_not_after_timestamp_seconds`, per monitored certificate
`probe_x509_cert_not_after_timestamp_seconds{cn,serial,role}`, and
`probe_x509_problem{reason}` (1 for each problem found, 0 for the others).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import Store
from pydantic import Field, PrivateAttr, field_validator, model_validator

from probes._base import (
    HIDDEN,
    Check,
    CheckDefaults,
    FailureReason,
    Findings,
    FindingsView,
    PhaseTimer,
    ProbeEnv,
    ProbeResult,
    Series,
)
from probes._config import Duration, Instant, TargetBase, http_url
from probes.cert_checks import (
    SEVERITY,
    Assessment,
    CertificatePolicy,
    Finding,
    MonitoredCertificate,
    assess_certificates,
    assess_chain,
    at_time,
    cert_name,
    common_name,
    is_ca,
    serial_hex,
    with_path_findings,
)
from probes.cert_path import PathOptions, Profile, RevocationMode, judge_path
from probes.certs import (
    CertificateFacts,
    CertificateParseError,
    CertificatesPath,
    read_certificates,
)

# What only some sources use (CRLs, TLS, SMP metadata; httpx and lxml behind them) is
# imported where it is used, so that checking a file (`vigie probe cert --file`) starts
# without it.
if TYPE_CHECKING:
    from probes.crl_cache import FetchedCrl
    from probes.smp_document import SmpEndpoint
    from probes.tls_stream import TlsClient

__all__ = [
    "CertificateTarget",
    "X509Findings",
    "X509Params",
    "expand_certificates",
    "probe_x509",
    "published_certificates",
]

KIND = "x509"
# Most certificates a check labels one by one (a directory may hold many): bounded series.
MAX_LABELLED = 32
# An unchanged chain is validated again after this long (anchors may expire meanwhile).
REVALIDATE_AFTER = 3600.0
# Most certificates from SMP metadata one check may watch, each with its own series.
MAX_SMP_CERTIFICATES = 200
SMP_METADATA_SOURCE = "smp_metadata"
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


class CertificateTarget(TargetBase):
    """A TLS endpoint whose chain is checked, certificate files, or the certificates
    published in SMP metadata."""

    url: str | None = Field(
        None, description="https://HOST:PORT of a TLS endpoint whose chain is checked"
    )
    file: Path | None = Field(
        None, description="a PEM or DER file, or a directory of them, to check instead of a URL"
    )
    smp_metadata: bool = Field(
        False,
        description="check the endpoint certificates published in the SMP metadata the smp "
        "checks fetched (those with document_type), instead of a URL or files",
    )
    server_name: str | None = Field(
        None,
        description="name sent as SNI and matched against the certificate; unset: the URL's host",
    )
    trust_anchors: CertificatesPath | None = Field(
        None,
        description="PEM/DER file or directory of the roots chains must lead to (e.g. the "
        "eDelivery or Peppol root CAs); unset: no chain validation",
    )
    warn_before: Duration = Field(
        30 * 86400.0, description="a certificate expiring within this long is cert_expiring"
    )
    min_rsa_bits: int = Field(
        2048, ge=512, le=16384, description="RSA keys shorter than this are weak_key"
    )
    max: int = Field(
        50,
        ge=1,
        le=MAX_SMP_CERTIFICATES,
        description="with smp_metadata: most distinct certificates judged (a budget, in a "
        "stable order); the others are counted, not judged",
    )
    profile: Profile | None = Field(
        None,
        description="path validation rules: webpki (CA/Browser Forum rules, cryptography's "
        "verifier) or rfc5280 (RFC 5280 with name normalisation, pyhanko-certvalidator); "
        "unset: webpki for url, rfc5280 for file and smp_metadata",
    )
    revocation: RevocationMode = Field(
        RevocationMode.NONE,
        description="check every certificate of the path for revocation: none, crl (its "
        "distribution points and `crl`), ocsp (its AIA responder), both, or prefer_ocsp "
        "(OCSP, else the CRL); needs trust_anchors. A status that cannot be established is "
        "revocation_undetermined, never revoked",
    )
    crl: list[str] = Field(
        default_factory=list,
        description="CRLs used beside the distribution points: files (DER, or PEM with any "
        "number of CRLs) or http(s) URLs; a delta CRL is used only with its base",
    )
    intermediates: CertificatesPath | None = Field(
        None,
        description="CA certificates (file or directory) to build paths with; not judged "
        "themselves",
    )
    at: Instant | None = Field(
        None,
        description="judge as of this instant (ISO 8601, UTC without a zone) instead of now, "
        "e.g. the day of a PKI migration; CRLs and OCSP answers are judged at it too",
    )
    _crls: tuple[bytes, ...] = PrivateAttr(())

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _host_port(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> CertificateTarget:
        sources = (self.url is not None) + (self.file is not None) + self.smp_metadata
        if sources != 1:
            raise ValueError("set exactly one of url and file, or smp_metadata: true alone")
        if self.server_name is not None and self.url is None:
            raise ValueError("server_name applies to a url only")
        if "max" in self.model_fields_set and not self.smp_metadata:
            raise ValueError("max applies to smp_metadata only")
        if self.revocation is not RevocationMode.NONE and self.trust_anchors is None:
            raise ValueError("revocation needs trust_anchors: a path is checked, not a file")
        if self.crl and self.revocation in (RevocationMode.NONE, RevocationMode.OCSP):
            raise ValueError("crl applies to revocation crl, both or prefer_ocsp")
        files = []
        for entry in self.crl:
            if entry.lower().startswith(("http://", "https://")):
                http_url(entry)
                continue
            from probes.crl_fetch import parse_crls

            try:
                data = Path(entry).read_bytes()[: MAX_CRL_FILE_BYTES + 1]
                if len(data) > MAX_CRL_FILE_BYTES:
                    raise ValueError(f"more than {MAX_CRL_FILE_BYTES} bytes")
                files += [crl.public_bytes(Encoding.DER) for crl in parse_crls(data)]
            except OSError as exc:
                raise ValueError(f"crl {entry}: {exc.strerror or exc}") from None
            except ValueError as exc:
                raise ValueError(f"crl {entry}: {str(exc)[:160]}") from None
        self._crls = tuple(files)
        return self

    def path_profile(self) -> Profile:
        if self.profile is not None:
            return self.profile
        return Profile.WEBPKI if self.url is not None else Profile.RFC5280


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"expected https://HOST[:PORT], got {url!r}")
    try:
        port = parts.port or 443
    except ValueError:
        raise ValueError(f"invalid port in {url!r}") from None
    return parts.hostname, port


class _Anchors:
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


class X509Params:
    """What a certificate check needs at run time, prepared once per check."""

    __slots__ = (
        "address",
        "anchors",
        "at",
        "context",
        "crl_urls",
        "crls",
        "file",
        "hostname",
        "intermediates",
        "max",
        "memo",
        "policy",
        "profile",
        "revocation",
        "smp_metadata",
        "source",
    )

    def __init__(self, target: CertificateTarget) -> None:
        self.smp_metadata = target.smp_metadata
        self.max = target.max
        self.source = target.url or str(target.file or "") or SMP_METADATA_SOURCE
        self.address = _host_port(target.url) if target.url else None
        self.hostname = target.server_name or (self.address[0] if self.address else None)
        self.file = target.file
        self.anchors = _Anchors(target.trust_anchors) if target.trust_anchors else None
        self.policy = CertificatePolicy(
            warn_before=timedelta(seconds=target.warn_before), min_rsa_bits=target.min_rsa_bits
        )
        self.context: TlsClient | None = None
        if self.address:
            from probes.tls_chain import client_context

            self.context = client_context()
        self.memo: _Memo | None = None
        self.profile = target.path_profile()
        self.revocation = target.revocation
        self.crls = target._crls
        self.crl_urls = tuple(
            u for u in target.crl if u.lower().startswith(("http://", "https://"))
        )
        self.intermediates = read_certificates(target.intermediates) if target.intermediates else []
        self.at = target.at

    @property
    def whole_path(self) -> bool:
        """Trust (and revocation) judged by `probes.cert_path` rather than by the WebPKI
        verifier alone; the default TLS check stays on the latter's fast path."""
        return self.profile is Profile.RFC5280 or self.revocation is not RevocationMode.NONE


class _Memo:
    """The last chain a server presented and its verdict, reused while the server keeps
    presenting the same bytes: parsing and path validation cost more than the handshake,
    and only the validity windows move with the clock (`cert_checks.at_time`)."""

    __slots__ = ("assessment", "chain", "facts", "store", "until")

    def __init__(
        self,
        chain: tuple[bytes, ...],
        store: Store | None,
        facts: _Facts,
        assessment: Assessment,
        until: float,
    ) -> None:
        self.chain, self.store, self.facts = chain, store, facts
        self.assessment, self.until = assessment, until

    def get(self, chain: tuple[bytes, ...], store: Store | None, wall: float) -> Assessment | None:
        if chain == self.chain and store is self.store and wall < self.until:
            return self.assessment
        return None


def expand_certificates(target: CertificateTarget, defaults: CheckDefaults) -> Iterator[Check]:
    timing = target.timing(defaults)
    params = X509Params(target)
    yield Check(
        kind=KIND,
        service="tls" if target.url else "certificates",
        target=params.source,
        params=params,
        interval=timing.interval,
        timeout=timing.timeout,
        retries=timing.retries,
    )


async def probe_x509(check: Check, env: ProbeEnv) -> ProbeResult:
    params: X509Params = check.params
    if params.address is not None:
        return await _probe_endpoint(params, params.address, check.timeout, env)
    if params.smp_metadata:
        return await _probe_smp_metadata(params, check.timeout, env)
    return await _probe_files(params, check.timeout, env)


async def _probe_endpoint(
    params: X509Params, address: tuple[str, int], time_limit: float, env: ProbeEnv
) -> ProbeResult:
    from probes.tls_chain import fetch_chain

    fetched = await fetch_chain(
        *address,
        server_name=params.hostname,
        time_limit=time_limit * 0.95,  # ours, naming the phase, before the runner's
        context=params.context,
        monotonic=env.monotonic,
    )
    timer = PhaseTimer(env.monotonic)  # fetch_chain timed connect and tls itself
    timer.phases.update(fetched.phases)
    if fetched.reason is not FailureReason.OK:
        return ProbeResult.failure(fetched.reason, fetched.detail, phases=timer.phases)
    version = fetched.tls_version
    store, problem = _trust(params)
    if problem:
        return ProbeResult.failure(FailureReason.CERT_MALFORMED, problem, phases=timer.phases)
    wall = env.wall_clock()
    now = params.at or datetime.fromtimestamp(wall, UTC)
    memo = params.memo
    cached = memo.get(fetched.chain, store, wall) if memo is not None else None
    whole = params.whole_path and store is not None
    if memo is not None and cached is not None and not whole:
        assessment, facts = at_time(cached, now, params.policy), memo.facts
    else:
        try:
            found = [x509.load_der_x509_certificate(der) for der in fetched.chain]
        except ValueError as exc:
            detail = f"the server sent an unparsable certificate: {exc}"
            return ProbeResult.failure(FailureReason.CERT_MALFORMED, detail, phases=timer.phases)
        assessment = assess_chain(
            found,
            trust=None if whole else store,
            hostname=params.hostname,
            now=now,
            policy=params.policy,
            source=params.source,
        )
        if whole:  # revocation and CRLs move with time: judged afresh each run
            assessment = await _judge_paths(assessment, [found], params, now, time_limit, env)
        facts = _Facts(assessment, found)
        if not whole:
            params.memo = _Memo(fetched.chain, store, facts, assessment, wall + REVALIDATE_AFTER)
    timer.lap("validate")
    return _result(
        assessment, facts, version, timer.phases, now, validated=store is not None,
        revocation=params.revocation is not RevocationMode.NONE,
    )  # fmt: skip


async def _probe_files(params: X509Params, time_limit: float, env: ProbeEnv) -> ProbeResult:
    timer = PhaseTimer(env.monotonic)
    assert params.file is not None
    skipped: list[str] = []
    try:
        found = read_certificates(params.file, skipped)
    except CertificateParseError as exc:
        timer.lap("read")
        return ProbeResult.failure(FailureReason.CERT_MALFORMED, str(exc), phases=timer.phases)
    timer.lap("read")
    result = await _judge_set(found, params, timer, time_limit, env)
    if not skipped:
        return result
    names = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
    note = f"skipped {len(skipped)} files without a certificate ({names})"
    return dataclasses.replace(
        result,
        detail=f"{result.detail}; {note}" if result.detail else note,
        values={**result.values, "skipped_files": float(len(skipped))},
    )


async def _probe_smp_metadata(params: X509Params, time_limit: float, env: ProbeEnv) -> ProbeResult:
    view = env.findings
    if view is None:
        return ProbeResult.failure(
            FailureReason.INTERNAL_ERROR,
            "no findings view in the probe environment: smp_metadata needs the agent's "
            "latest smp results (vigie run)",
        )
    timer = PhaseTimer(env.monotonic)
    published = published_certificates(view)
    watched = published[: params.max]
    counts = {
        "published_certificates": float(len(published)),
        "watched_certificates": float(len(watched)),
        "over_budget": float(len(published) - len(watched)),
    }
    over = f"; {len(published) - len(watched)} more beyond max {params.max}, not judged"
    over = over if len(published) > len(watched) else ""
    found = []
    for der, endpoint in watched:
        try:
            found.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            timer.lap("read")
            detail = (
                f"an unparsable certificate in the SMP metadata of {endpoint.participant} "
                f"({endpoint.document_type}): {exc}"
            )
            return ProbeResult.failure(
                FailureReason.CERT_MALFORMED, detail, phases=timer.phases, values=counts
            )
    timer.lap("read")
    if not found:
        # Nothing to judge yet (no smp check has run, or none fetched metadata): not an
        # outage of any certificate, so not a failure; the detail says so.
        detail = "no SMP metadata seen yet: no endpoint certificate to judge"
        return ProbeResult(FailureReason.OK, detail, phases=timer.phases, values=counts)
    result = await _judge_set(
        found, params, timer, time_limit, env, role="smp_endpoint", labelled=params.max
    )
    return dataclasses.replace(
        result, detail=result.detail + over, values={**result.values, **counts}
    )


def published_certificates(view: FindingsView) -> list[tuple[bytes, SmpEndpoint]]:
    """Every distinct endpoint certificate (DER) in the `smp` checks' findings, sorted by
    its bytes (so the budget is stable), with one endpoint that publishes it."""
    from probes.smp import SmpFindings

    found: dict[bytes, SmpEndpoint] = {}
    for findings in view():
        if not isinstance(findings, SmpFindings):
            continue
        for endpoint in findings.endpoints:
            if endpoint.certificate_der:
                found.setdefault(endpoint.certificate_der, endpoint)
    return sorted(found.items(), key=lambda item: item[0])


async def _judge_set(
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
    store, problem = _trust(params)
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
    )
    if params.whole_path and store is not None:
        leaves = [[cert, *(other for other in found if other is not cert)] for cert in found]
        leaves = [chain for chain in leaves if not is_ca(chain[0])] or leaves[:1]
        assessment = await _judge_paths(assessment, leaves, params, now, time_limit, env)
    timer.lap("validate")
    facts = _Facts(assessment, found, labelled)
    return _result(
        assessment, facts, "", timer.phases, now, validated=store is not None,
        revocation=params.revocation is not RevocationMode.NONE,
    )  # fmt: skip


def _trust(params: X509Params) -> tuple[Store | None, str]:
    """The anchors' store (None when none are configured), or why they cannot be used."""
    if params.anchors is None:
        return None, ""
    params.anchors.refresh()
    return params.anchors.store, params.anchors.error


async def _judge_paths(
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


class _Facts:
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


def _result(
    assessment: Assessment,
    facts: _Facts,
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
