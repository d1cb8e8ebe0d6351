"""One run of an SMP check (kind `smp`, configured by `probes.smp`): the ServiceGroup, the
signed metadata it lists (following one SMP `Redirect` to another SMP's signed metadata,
verified as the first), and the health URL of a known SMP implementation.

Each document comes through `probes.http_fetch` (capped body and redirects) and
`probes.smp_document` (parsing, signature); the first problem ends the run as a
`FailureReason` with what was found up to it in the `SmpFindings`. Nothing here raises
for a target's fault or reads more than `max_body` bytes of an answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from probes._base import Check, FailureReason, PhaseTimer, ProbeEnv, ProbeResult, Series
from probes.certs import CertificateFacts
from probes.endpoint_clients import client_for
from probes.http_fetch import Answer, Failed, Problem, fetch, reason_of
from probes.smp import (
    ALL_DOCUMENT_TYPES_LIMIT,
    HEALTH_PATHS,
    HealthKind,
    MetadataFacts,
    SmpFindings,
    SmpParams,
)
from probes.smp_document import (
    DocumentError,
    SmpEndpoint,
    SmpRedirect,
    Verified,
    document_types,
    endpoints,
    names_signer,
    parse_xml,
    redirect_of,
    verify_signature,
)

__all__ = ["FETCH_REASONS", "probe_smp"]

# What an SMP's fetch problems are called (the others keep their common names).
FETCH_REASONS = {
    Problem.TOO_LARGE: FailureReason.SMP_TOO_LARGE,
    Problem.REDIRECT_LOOP: FailureReason.SMP_REDIRECT_LOOP,
    Problem.UNSUPPORTED_URL: FailureReason.SMP_HTTP_ERROR,
    Problem.STATUS: FailureReason.SMP_HTTP_ERROR,
}
_HEALTH_MAX_BODY = 64 * 1024


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
    signer_expiry: list[float] = field(default_factory=list)  # each signer's notAfter

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
    for document_type in wanted:
        url = params.metadata_url(document_type)
        found, _ = await _signed_metadata(run, url, document_type)
        if isinstance(found, SmpRedirect):
            # An SMP may send the client to another SMP's signed metadata, once; that
            # document's signer is judged like the first one's, and must be the one the
            # redirect names.
            redirect = found
            found, verified = await _signed_metadata(run, redirect.url, document_type)
            if isinstance(found, SmpRedirect):
                raise _Stop(
                    FailureReason.SMP_REDIRECT_LOOP,
                    f"metadata of {document_type}: a redirect to another redirect, "
                    f"to {found.url[:120]}",
                )
            if verified is not None and not names_signer(redirect.certificate_uid, verified.signer):
                raise _Stop(
                    FailureReason.SMP_UNTRUSTED_SIGNER,
                    f"metadata of {document_type}: the redirect names the signer "
                    f"{redirect.certificate_uid[:120]!r}, the SMP it names signs as "
                    f"{verified.signer.subject.rfc4514_string()[:120]}",
                )
        _require_asked_for(found, params.participant, document_type)
        run.endpoints.extend(found)
        values["endpoints"] = float(len(run.endpoints))
    if run.signer_expiry:
        values["signer_not_after_timestamp_seconds"] = min(run.signer_expiry)


async def _signed_metadata(
    run: _Run, url: str, document_type: str
) -> tuple[list[SmpEndpoint] | SmpRedirect, Verified | None]:
    """One SignedServiceMetadata fetched, verified and read, its facts kept in `run`."""
    params = run.params
    run.phase = "metadata"
    root = await run.get_xml(url, "SignedServiceMetadata", f"metadata of {document_type}")
    run.timer.lap("metadata")
    run.phase = "verify"
    now = params.at or datetime.fromtimestamp(run.env.wall_clock(), UTC)
    try:
        # CPU work (canonicalization, a public-key operation) off the event loop.
        found, verified = await asyncio.to_thread(_read_signed, root, params, now)
    except DocumentError as exc:
        judged = CertificateFacts.of(exc.signer) if exc.signer is not None else None
        run.metadata.append(MetadataFacts(document_type, url, signer=judged))
        raise _Stop(exc.reason, f"metadata of {document_type}: {exc.detail}") from None
    run.timer.lap("verify")
    signer = CertificateFacts.of(verified.signer) if verified is not None else None
    algorithm = verified.algorithm if verified is not None else None
    run.metadata.append(MetadataFacts(document_type, url, algorithm, signer))
    if verified is not None:
        run.signer_expiry.append(verified.signer.not_valid_after_utc.timestamp())
        if verified.weakness and not params.accept_sha1:
            run.weaknesses.append(f"metadata of {document_type}: {verified.weakness}")
    return found, verified


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
) -> tuple[list[SmpEndpoint] | SmpRedirect, Verified | None]:
    verified = None
    document = root
    if params.verify_signature:
        anchors = params.trust_anchors
        if isinstance(anchors, str):
            raise DocumentError(FailureReason.SMP_UNTRUSTED_SIGNER, anchors)
        verified = verify_signature(root, anchors, now)
        # Read from what the signature covers, never from the raw document beside it.
        document = verified.document
    return redirect_of(document) or endpoints(document), verified


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
    except (ValueError, RecursionError):  # a body of "[[[[..." nests past the parser's stack
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
