"""Certificate checks (kind `x509`): a TLS endpoint's chain, certificate files, or the
certificates published in SMP metadata.

A target is either `url: https://HOST:PORT` (the chain fetched by `probes.tls_chain`,
verification off, then judged here), `file: PATH` (a PEM/DER file or a directory, read
by `probes.certs`) or `smp_metadata: true` (the distinct endpoint certificates in the
latest `smp` results, read each run through the findings view the agent wires in, as
`probes.http_discovery` reads them; at most `max` judged, the rest counted).
`probes.cert_checks` gives the verdict against the configured trust anchors (never
fetched). A target's problem is a `FailureReason`, never an exception. This module is the
configuration and the prober; the sources are `probes.x509_sources`, the verdict and the
series `probes.x509_judge`.

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

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import Field, PrivateAttr, model_validator

from probes._base import Check, CheckDefaults, ProbeEnv, ProbeResult
from probes._config import TargetBase
from probes.cert_checks import CertificatePolicy
from probes.cert_path import Profile, RevocationMode
from probes.certs import CertificatesPath, read_certificates
from probes.x509_judge import MAX_CRL_FILE_BYTES, Anchors, X509Findings
from probes.x509_sources import probe_endpoint, probe_files, probe_smp_metadata
from vocab import Duration, HttpsUrl, Instant, http_url

if TYPE_CHECKING:
    from probes.tls_stream import TlsClient
    from probes.x509_sources import Memo

__all__ = [
    "CertificateTarget",
    "X509Findings",
    "X509Params",
    "expand_certificates",
    "probe_x509",
]

KIND = "x509"
# Most certificates from SMP metadata one check may watch, each with its own series.
MAX_SMP_CERTIFICATES = 200
SMP_METADATA_SOURCE = "smp_metadata"


class CertificateTarget(TargetBase):
    """A TLS endpoint whose chain is checked, certificate files, or the certificates
    published in SMP metadata."""

    url: HttpsUrl | None = Field(
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
    """Host and port of a URL that `HttpsUrl` accepted."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 443


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
        self.anchors = Anchors(target.trust_anchors) if target.trust_anchors else None
        self.policy = CertificatePolicy(
            warn_before=timedelta(seconds=target.warn_before), min_rsa_bits=target.min_rsa_bits
        )
        self.context: TlsClient | None = None
        if self.address:
            from probes.tls_chain import client_context

            self.context = client_context()
        self.memo: Memo | None = None
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
        return await probe_endpoint(params, params.address, check.timeout, env)
    if params.smp_metadata:
        return await probe_smp_metadata(params, check.timeout, env)
    return await probe_files(params, check.timeout, env)
