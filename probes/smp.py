"""SMP checks: a participant's ServiceGroup, its signed metadata, and the SMP's health.

One check per configured participant on an SMP: `GET {url}/{participant}` with the
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

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

import httpx
from cryptography import x509
from pydantic import Field, field_validator, model_validator

from probes._base import (
    Check,
    CheckDefaults,
    FailureReason,
    Findings,
    PhaseTimer,
    ProbeEnv,
    ProbeResult,
    Series,
)
from probes._config import TargetBase, http_url
from probes.certs import (
    CertificateFacts,
    CertificateParseError,
    CertificatesPath,
    read_certificates,
)
from probes.endpoint_clients import client_for
from probes.http_fetch import Answer, Failed, Problem, fetch, reason_of
from probes.naming import ParticipantId
from probes.smp_document import (
    DocumentError,
    SmpEndpoint,
    Verified,
    document_types,
    endpoints,
    parse_xml,
    verify_signature,
)

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
    "probe_smp",
]

# `document_type: all` fetches at most this many documents per run.
ALL_DOCUMENT_TYPES_LIMIT = 20
# What an SMP's fetch problems are called (the others keep their common names).
FETCH_REASONS = {
    Problem.TOO_LARGE: FailureReason.SMP_TOO_LARGE,
    Problem.REDIRECT_LOOP: FailureReason.SMP_REDIRECT_LOOP,
    Problem.UNSUPPORTED_URL: FailureReason.SMP_HTTP_ERROR,
    Problem.STATUS: FailureReason.SMP_HTTP_ERROR,
}
HEALTH_PATHS = {
    "domismp": "/monitor/is-alive",
    "phoss": "/smp-status/",
    "oxalis": "/status",
}
_HEALTH_MAX_BODY = 64 * 1024

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

    url: str = Field(
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

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(http_url(value))
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: the SMP URL takes no query or fragment")
        return value.strip().rstrip("/")

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


class _Stop(Exception):
    """Ends a run early with a reason (inside this module only; never escapes a prober)."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class _Run:
    check: Check
    params: SmpParams
    env: ProbeEnv
    client: httpx.AsyncClient
    timer: PhaseTimer
    phase: str = "service_group"  # the one in progress, timed up to a failure too
    # What the run found so far (a failure still shows what came before it).
    document_types: list[str] = field(default_factory=list)
    metadata: list[MetadataFacts] = field(default_factory=list)
    endpoints: list[SmpEndpoint] = field(default_factory=list)
    weaknesses: list[str] = field(default_factory=list)

    async def get_xml(self, url: str, expected_root: str, what: str) -> object:
        answer = await self.get(url, self.params.max_body)
        if answer.status == 404:
            raise _Stop(FailureReason.SMP_NOT_FOUND, f"{what}: HTTP 404")
        _raise_for_status(answer, what)
        try:
            return parse_xml(answer.body, answer.headers.get("content-type"), expected_root)
        except DocumentError as exc:
            raise _Stop(exc.reason, f"{what}: {exc.detail}") from None

    async def get(self, url: str, max_body: int) -> Answer:
        answer = await fetch(
            self.client,
            url,
            max_body=max_body,
            max_redirects=self.params.max_redirects,
            accept="application/xml, text/xml;q=0.9, */*;q=0.1",
            read_timeout=self.check.timeout,
        )
        if isinstance(answer, Failed):
            raise _Stop(reason_of(answer, FETCH_REASONS), answer.detail)
        return answer


async def probe_smp(check: Check, env: ProbeEnv) -> ProbeResult:
    params: SmpParams = check.params
    timer = PhaseTimer(env.monotonic)
    client = client_for(env, params.ca_file)
    if isinstance(client, Failed):
        return ProbeResult.failure(reason_of(client, FETCH_REASONS), client.detail)
    run = _Run(check, params, env, client, timer)
    values: dict[str, float] = {}
    outcome: _Stop | None = None
    try:
        await _metadata(run, values)
    except _Stop as stop:
        timer.lap(run.phase)
        outcome = stop
    if outcome is None and run.weaknesses:
        outcome = _Stop(FailureReason.WEAK_SIGNATURE, "; ".join(run.weaknesses))
    findings = SmpFindings(
        params.participant,
        params.service_group_url,
        tuple(run.document_types),
        tuple(run.metadata),
        tuple(run.endpoints),
    )
    series: tuple[Series, ...] = ()
    if params.health is not None:
        healthy = await _health(run, params.health)
        series = (Series("health_up", {"implementation": params.health}, float(healthy is None)),)
        outcome = outcome or healthy
    if outcome is not None:
        return ProbeResult.failure(
            outcome.reason,
            outcome.detail,
            phases=timer.phases,
            values=values,
            series=series,
            findings=findings,
        )
    return ProbeResult(
        FailureReason.OK, phases=timer.phases, values=values, series=series, findings=findings
    )


async def _metadata(run: _Run, values: dict[str, float]) -> None:
    params = run.params
    group = await run.get_xml(params.service_group_url, "ServiceGroup", "ServiceGroup")
    try:
        listed = document_types(group)
    except DocumentError as exc:
        raise _Stop(exc.reason, f"ServiceGroup: {exc.detail}") from None
    run.timer.lap("service_group")
    values["document_types"] = float(len(listed))
    run.document_types = listed
    wanted = _wanted(params.document_type, listed)
    if not wanted:
        return
    signer_expiry: list[float] = []
    for document_type in wanted:
        run.phase = "metadata"
        url = params.metadata_url(document_type)
        root = await run.get_xml(url, "SignedServiceMetadata", f"metadata of {document_type}")
        run.timer.lap("metadata")
        run.phase = "verify"
        now = params.at or datetime.fromtimestamp(run.env.wall_clock(), UTC)
        try:
            # CPU work (canonicalization, a public-key operation) off the event loop.
            signed, verified = await asyncio.to_thread(_read_signed, root, params, now)
        except DocumentError as exc:
            judged = CertificateFacts.of(exc.signer) if exc.signer is not None else None
            run.metadata.append(MetadataFacts(document_type, url, signer=judged))
            raise _Stop(exc.reason, f"metadata of {document_type}: {exc.detail}") from None
        run.timer.lap("verify")
        signer = CertificateFacts.of(verified.signer) if verified is not None else None
        algorithm = verified.algorithm if verified is not None else None
        run.metadata.append(MetadataFacts(document_type, url, algorithm, signer))
        _require_asked_for(signed, params.participant, document_type)
        run.endpoints.extend(signed)
        if verified is not None:
            signer_expiry.append(verified.signer.not_valid_after_utc.timestamp())
            if verified.weakness and not params.accept_sha1:
                run.weaknesses.append(f"metadata of {document_type}: {verified.weakness}")
        values["endpoints"] = float(len(run.endpoints))
    if signer_expiry:
        values["signer_not_after_timestamp_seconds"] = min(signer_expiry)


def _require_asked_for(found: Sequence[SmpEndpoint], participant: str, document_type: str) -> None:
    """Signed metadata of another participant or document type is an SMP fault, not data.

    Identifiers compare case-insensitively, as the SML's hashing of the lower-cased value
    does; a publisher may echo either case.
    """
    for endpoint in found:
        if endpoint.participant.lower() != participant.lower():
            raise _Stop(
                FailureReason.SMP_WRONG_METADATA,
                f"metadata of {document_type} is for participant {endpoint.participant[:120]}",
            )
        if endpoint.document_type.lower() != document_type.lower():
            raise _Stop(
                FailureReason.SMP_WRONG_METADATA,
                f"asked for {document_type}, got {endpoint.document_type[:120]}",
            )


def _read_signed(
    root: object, params: SmpParams, now: datetime
) -> tuple[list[SmpEndpoint], Verified | None]:
    if not params.verify_signature:
        return endpoints(root), None
    anchors = params.trust_anchors
    if isinstance(anchors, str):
        raise DocumentError(FailureReason.SMP_UNTRUSTED_SIGNER, anchors)
    verified = verify_signature(root, anchors, now)
    # Read from what the signature covers, never from the raw document beside it.
    return endpoints(verified.document), verified


def _wanted(document_type: str | None, listed: Sequence[str]) -> list[str]:
    if document_type is None:
        return []
    if document_type in {"first", "all"}:
        if not listed:
            raise _Stop(FailureReason.SMP_NOT_FOUND, "the ServiceGroup lists no document type")
        return list(listed[:1] if document_type == "first" else listed[:ALL_DOCUMENT_TYPES_LIMIT])
    return [document_type]


async def _health(run: _Run, kind: HealthKind) -> _Stop | None:
    """None when the implementation's health URL says it is fine, else why not."""
    url = run.params.base_url + HEALTH_PATHS[kind]
    try:
        answer = await run.get(url, _HEALTH_MAX_BODY)
    except _Stop as stop:
        return _Stop(FailureReason.SMP_UNHEALTHY, f"{kind} health: {stop.reason}: {stop.detail}")
    finally:
        run.timer.lap("health")
    if answer.status != 200:
        return _Stop(FailureReason.SMP_UNHEALTHY, f"{kind} health: HTTP {answer.status}")
    if kind == "phoss":
        status = _json_status(answer.body)
        if status not in {None, "ok"}:
            return _Stop(FailureReason.SMP_UNHEALTHY, f"phoss health: status {status[:40]!r}")
    return None


def _json_status(body: bytes) -> str | None:
    """The `status` of a phoss-SMP status document, None when there is none to read."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    status = document.get("status") if isinstance(document, dict) else None
    return str(status) if status is not None else None


def _raise_for_status(answer: Answer, what: str) -> None:
    status = answer.status
    if status == 200:
        return
    retry_after = answer.headers.get("retry-after")
    if status == 429 or (status == 503 and retry_after is not None):
        raise _Stop(
            FailureReason.SMP_SATURATED,
            f"{what}: HTTP {status}, Retry-After {retry_after[:20] if retry_after else '-'}",
        )
    raise _Stop(FailureReason.SMP_HTTP_ERROR, f"{what}: HTTP {status}")
