"""SMP checks: a participant's ServiceGroup, its signed metadata, and the SMP's health.

One check per configured participant on an SMP (this module: its configuration, its
parameters and what it finds; a run is `probes.smp_run`): `GET {url}/{participant}` with the
identifier percent-encoded as one path segment (so `::` and `:` travel as `%3A%3A`,
`%3A`), the document types it lists; optionally one or all SignedServiceMetadata
(`{url}/{participant}/services/{document type}`), their XMLDSig signature verified and
their endpoints (URL, transport profile, certificate) kept in the result's `SmpFindings`
for the PKI and endpoint checks and for people to read; optionally the
health URL of a known SMP implementation. Every target's fault, from an HTML page to a
10 MB answer or a redirect loop, ends as a `FailureReason`; this module never raises for
one, and never reads more than `max_body` bytes of an answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from cryptography import x509
from pydantic import Field, field_validator, model_validator

from probes._base import (
    Check,
    CheckDefaults,
    Findings,
)
from probes._config import TargetBase
from probes.certs import (
    CertificateFacts,
    CertificateParseError,
    CertificatesPath,
    read_certificates,
)
from probes.naming import ParticipantId
from probes.smp_document import (
    SmpEndpoint,
)
from vocab import BaseHttpUrl

__all__ = [
    "ALL_DOCUMENT_TYPES_LIMIT",
    "HEALTH_PATHS",
    "MetadataFacts",
    "SmpEndpoint",
    "SmpFindings",
    "SmpParams",
    "SmpTarget",
    "expand_smp",
    "identifier_segment",
]

# `document_type: all` fetches at most this many documents per run.
ALL_DOCUMENT_TYPES_LIMIT = 20
HEALTH_PATHS = {
    "domismp": "/monitor/is-alive",
    "phoss": "/smp-status/",
    "oxalis": "/status",
}

HealthKind = Literal["domismp", "phoss", "oxalis"]


@dataclass(frozen=True, slots=True)
class MetadataFacts:
    """One SignedServiceMetadata document as fetched and verified."""

    document_type: str
    url: str
    signature_algorithm: str | None = None  # the SignatureMethod URI, when verified
    signer: CertificateFacts | None = None


@dataclass(frozen=True, slots=True)
class SmpFindings(Findings):
    """What one SMP check found, as far as the run got."""

    participant: str
    service_group_url: str
    document_types: tuple[str, ...] = ()
    metadata: tuple[MetadataFacts, ...] = ()
    endpoints: tuple[SmpEndpoint, ...] = ()


def identifier_segment(identifier: str) -> str:
    """`identifier` as one URL path segment: everything but RFC 3986 unreserved encoded.

    httpx sends an already-encoded path as it is (it re-encodes only what is not valid
    in a path), so these bytes are the bytes on the wire.
    """
    return quote(identifier, safe="")


class SmpTarget(TargetBase):
    """A participant on an SMP to watch."""

    url: BaseHttpUrl = Field(
        description="the SMP's base URL (http or https), e.g. https://smp.example.org or "
        "https://example.org/smp; the participant's path is appended to it"
    )
    participant: str = Field(
        description="participant identifier SCHEME::VALUE, e.g. iso6523-actorid-upis::0088:123"
    )
    document_type: str | None = Field(
        None,
        description="also fetch SignedServiceMetadata: a document type SCHEME::VALUE, "
        f"'first' (the first the ServiceGroup lists) or 'all' (up to "
        f"{ALL_DOCUMENT_TYPES_LIMIT}); unset: the ServiceGroup only",
    )
    verify_signature: bool = Field(
        True,
        description="verify the metadata's XMLDSig signature and its signer's validity "
        "(and chain, with trust_anchors)",
    )
    accept_sha1: bool = Field(
        False,
        description="accept metadata signed with SHA-1 (RSA-SHA1, what Peppol SMPs used "
        "before SMP specification 1.3.0); false: such a signature, verified, is reported "
        "as weak_signature",
    )
    trust_anchors: CertificatesPath | None = Field(
        None,
        description="file or directory of CA certificates (PEM or DER) the metadata "
        "signer must chain to; unset: the signer's chain is not checked",
    )
    ca_file: CertificatesPath | None = Field(
        None,
        description="file or directory of CA certificates to verify the SMP's TLS "
        "certificate with, for a private PKI; unset: the system's trusted roots",
    )
    health: HealthKind | None = Field(
        None,
        description="also ask the health URL of the SMP's implementation: domismp "
        "(/monitor/is-alive), phoss (/smp-status/) or oxalis (/status), under url",
    )
    max_body: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="most bytes read of one answer; a longer one fails as smp_too_large",
    )
    max_redirects: int = Field(
        3, ge=0, le=10, description="most HTTP redirects followed per request"
    )

    @field_validator("participant")
    @classmethod
    def _participant_with_scheme(cls, value: str) -> str:
        parsed = ParticipantId.parse(value)
        if parsed.scheme is None:
            raise ValueError(f"{value!r} needs SCHEME::VALUE")
        return str(parsed)

    @field_validator("document_type")
    @classmethod
    def _document_type(cls, value: str | None) -> str | None:
        if value is None or value in {"first", "all"}:
            return value
        scheme, separator, identifier = value.strip().partition("::")
        if not separator or not scheme or not identifier:
            raise ValueError(f"{value!r}: expected SCHEME::VALUE, 'first' or 'all'")
        return value.strip()

    @model_validator(mode="after")
    def _anchors_need_verification(self) -> SmpTarget:
        if self.trust_anchors is not None and not self.verify_signature:
            raise ValueError("trust_anchors is set but verify_signature is false")
        return self


@dataclass(frozen=True, slots=True)
class SmpParams:
    """What an SMP check needs at run time (parsed once, not per run)."""

    base_url: str
    participant: str
    document_type: str | None
    verify_signature: bool
    # None: no chain check; a string: why the configured anchors cannot be used.
    trust_anchors: tuple[x509.Certificate, ...] | str | None
    ca_file: Path | None
    health: HealthKind | None
    max_body: int
    max_redirects: int
    accept_sha1: bool = False
    # Judge signers and validity as of this instant instead of the clock (`--at`).
    at: datetime | None = None

    @property
    def service_group_url(self) -> str:
        return f"{self.base_url}/{identifier_segment(self.participant)}"

    def metadata_url(self, document_type: str) -> str:
        return f"{self.service_group_url}/services/{identifier_segment(document_type)}"


def expand_smp(target: SmpTarget, defaults: CheckDefaults) -> Iterator[Check]:
    timing = target.timing(defaults)
    anchors: tuple[x509.Certificate, ...] | str | None = None
    if target.trust_anchors is not None:
        try:
            anchors = tuple(read_certificates(target.trust_anchors))
        except CertificateParseError as exc:  # readable at load, gone since
            anchors = f"trust_anchors {target.trust_anchors}: {exc}"
    yield Check(
        kind="smp",
        service="smp",
        target=f"{target.participant}@{target.url}",
        params=SmpParams(
            base_url=target.url,
            participant=target.participant,
            document_type=target.document_type,
            verify_signature=target.verify_signature,
            trust_anchors=anchors,
            ca_file=target.ca_file,
            health=target.health,
            max_body=target.max_body,
            max_redirects=target.max_redirects,
            accept_sha1=target.accept_sha1,
        ),
        interval=timing.interval,
        timeout=timing.timeout,
        retries=timing.retries,
    )
