"""One participant's whole delivery path, link by link: `vigie diagnose` and the API's diagnosis.

The question a desk agent is asked ("why can't anyone send to 0208:0123456789?") in one
report: the SML lookup in the configured naming scheme (the other scheme asked too, for
information: which one answers and whether they agree) -> the SMP's ServiceGroup -> the
signed metadata of each document type (signature, signer) -> each endpoint's HTTP and
TLS -> the endpoint certificate's path, expiry and revocation (`probes.cert_path`, the
whole-path verdict). Every step runs the probes' own code through the runner (its
timeouts, its failures as values), so a diagnosis says what the checks would say. The
first broken link is named at the top; later links are not tried when they depend on it.

Bounded: each step by the per-step timeout, the whole by `deadline`, at most
`MAX_DOCUMENT_TYPES` metadata documents and `MAX_ENDPOINTS` endpoints. This module never
raises for a target's fault and never contacts anything but the zone's name servers (or
the resolver), the SMP the SML names, the endpoints its metadata names, and their CRL and
OCSP URLs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from probes import (
    PROBERS,
    Check,
    CheckDefaults,
    FailureReason,
    Findings,
    ProbeEnv,
    ProbeResult,
    ResultBook,
    Runner,
)
from probes.cert_path import PathOptions, Profile, RevocationMode, judge_path
from probes.certs import CertificateFacts, CertificateParseError, read_certificates
from probes.dns import SmlTarget, expand_sml
from probes.dns_participant import ParticipantFindings
from probes.http import HttpTarget, expand_http
from probes.naming import NamingScheme, ParticipantId
from probes.smp import SmpFindings, SmpTarget, expand_smp
from probes.smp_document import SmpEndpoint

__all__ = [
    "MAX_DOCUMENT_TYPES",
    "MAX_ENDPOINTS",
    "Diagnosis",
    "DiagnosisOptions",
    "Step",
    "diagnose",
]

MAX_DOCUMENT_TYPES = 5
MAX_ENDPOINTS = 5
# Verdicts that warn without breaking the path: a message still gets through.
_WARNINGS = frozenset({FailureReason.WEAK_SIGNATURE, FailureReason.CERT_EXPIRING})
# Any answer below 500 shows the endpoint up: an AS4 URL answers GET with 405.
_ANSWERING = tuple(range(200, 500))


@dataclass(frozen=True, slots=True)
class DiagnosisOptions:
    """What a diagnosis needs besides the participant (the probes' own options)."""

    zone: str
    naming: NamingScheme = NamingScheme.NAPTR
    servers: tuple[str, ...] = ()  # the zone's name servers, host:port; empty: its own
    other_zones: dict[str, list[str]] = field(default_factory=dict)
    document_type: str | None = None  # None: every listed type, up to MAX_DOCUMENT_TYPES
    trust_anchors: str | None = None  # metadata signer and endpoint certificates chain here
    intermediates: str | None = None  # CA certificates to build endpoint paths with
    ca_file: str | None = None  # TLS of the SMP and the endpoints, for a private PKI
    revocation: RevocationMode = RevocationMode.BOTH
    accept_sha1: bool = False
    timeout: float = 10.0  # one step
    deadline: float = 60.0  # the whole diagnosis
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One link of the path as checked."""

    name: str  # sml, sml_other_naming, smp_service_group, smp_metadata, endpoint, ...
    target: str
    reason: FailureReason
    detail: str = ""
    seconds: float = 0.0
    findings: Findings | None = None
    # False for information only (the other naming scheme): it never breaks the path.
    required: bool = True

    @property
    def broken(self) -> bool:
        return self.required and self.reason is not FailureReason.OK and not self.warning

    @property
    def warning(self) -> bool:
        return self.reason in _WARNINGS

    def document(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "target": self.target,
            "reason": str(self.reason),
            "ok": not self.broken,
            "required": self.required,
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
            "findings": self.findings.document() if self.findings is not None else {},
        }


@dataclass(frozen=True, slots=True)
class Diagnosis:
    participant: str
    zone: str
    steps: tuple[Step, ...]

    @property
    def broken(self) -> Step | None:
        return next((step for step in self.steps if step.broken), None)

    @property
    def headline(self) -> str:
        broken = self.broken
        if broken is None:
            return f"path whole: {self.participant} can receive ({len(self.steps)} links checked)"
        detail = f": {broken.detail}" if broken.detail else ""
        return f"broken at {broken.name} {broken.target}: {broken.reason}{detail}"

    def document(self) -> dict[str, Any]:
        broken = self.broken
        return {
            "participant": self.participant,
            "zone": self.zone,
            "whole": broken is None,
            "headline": self.headline,
            "broken": broken.name if broken is not None else None,
            "steps": [step.document() for step in self.steps],
        }

    def lines(self) -> list[str]:
        out = [self.headline]
        for step in self.steps:
            mark = "FAILED" if step.broken else ("warn" if step.warning else "ok")
            if not step.required and step.reason is not FailureReason.OK:
                mark = "info"
            line = f"{mark:6} {step.name} {step.target}: {step.reason}"
            line += f" ({step.detail})" if step.detail else ""
            out.append(f"{line} [{step.seconds * 1000:.0f} ms]")
            if step.findings is not None:
                out.extend(f"         {found}" for found in step.findings.lines())
        return out


async def diagnose(participant: str, options: DiagnosisOptions, env: ProbeEnv) -> Diagnosis:
    """The whole path of `participant`; ValueError only for an identifier or option the
    user got wrong (the caller's usage error), never for a target's fault."""
    pid = ParticipantId.parse(participant)
    if pid.scheme is None:
        raise ValueError(f"participant {participant!r} needs SCHEME::VALUE")
    run = _Run(str(pid), options, env)
    try:
        async with asyncio.timeout(options.deadline):
            await run.all()
    except TimeoutError:
        run.steps.append(
            Step("deadline", run.participant, FailureReason.TIMEOUT, f"{options.deadline:g}s")
        )
    return Diagnosis(run.participant, options.zone, tuple(run.steps))


@dataclass(slots=True)
class _Run:
    participant: str
    options: DiagnosisOptions
    env: ProbeEnv
    steps: list[Step] = field(default_factory=list)

    def defaults(self) -> CheckDefaults:
        return CheckDefaults(interval=self.options.timeout, timeout=self.options.timeout)

    async def check(self, name: str, check: Check, *, required: bool = True) -> Step:
        result = await self.timed(Runner(PROBERS, self.env, ResultBook()).run(check))
        step = Step(
            name,
            check.target,
            result[0].reason,
            result[0].detail,
            result[1],
            result[0].findings,
            required,
        )
        self.steps.append(step)
        return step

    async def timed(self, work: Awaitable[ProbeResult]) -> tuple[ProbeResult, float]:
        started = time.perf_counter()
        result = await work
        return result, time.perf_counter() - started

    async def all(self) -> None:
        smp_url = await self.sml()
        if smp_url is None:
            return
        group = await self.check("smp_service_group", self.smp_check(smp_url, None))
        if group.broken:
            return
        metadata = await self.check(
            "smp_metadata", self.smp_check(smp_url, self.options.document_type or "all")
        )
        if metadata.broken or not isinstance(metadata.findings, SmpFindings):
            return
        for endpoint in _distinct(metadata.findings.endpoints)[:MAX_ENDPOINTS]:
            await self.endpoint(endpoint)

    # -- the SML, in both naming schemes --------------------------------------------------

    async def sml(self) -> str | None:
        options = self.options
        primary = await self.check("sml", self.sml_check(options.naming))
        other_naming = (
            NamingScheme.CNAME if options.naming is NamingScheme.NAPTR else NamingScheme.NAPTR
        )
        other = await self.check("sml_other_naming", self.sml_check(other_naming), required=False)
        if isinstance(primary.findings, ParticipantFindings) and isinstance(
            other.findings, ParticipantFindings
        ):
            agreement = _agreement(primary.findings, other.findings)
            if agreement:
                detail = "; ".join(filter(None, (other.detail, agreement)))
                self.steps[-1] = replace(other, detail=detail)
        if primary.broken or not isinstance(primary.findings, ParticipantFindings):
            return None
        found = primary.findings
        if found.smp_url:
            return found.smp_url
        # Classic naming: the SMP answers at the participant's own name.
        return f"http://{found.name}"

    def sml_check(self, naming: NamingScheme) -> Check:
        options = self.options
        target = SmlTarget(
            zone=options.zone,
            scheme=naming,
            nameservers=list(options.servers),
            other_zones=options.other_zones,
            zone_health=False,
            participants=[{"id": self.participant}],
        )
        return next(c for c in expand_sml(target, self.defaults()) if c.kind == "dns_participant")

    # -- the SMP ----------------------------------------------------------------------------

    def smp_check(self, smp_url: str, document_type: str | None) -> Check:
        options = self.options
        target = SmpTarget(
            url=smp_url,
            participant=self.participant,
            document_type=document_type,
            trust_anchors=options.trust_anchors if document_type else None,
            ca_file=options.ca_file,
            accept_sha1=options.accept_sha1,
        )
        (check,) = expand_smp(target, self.defaults())
        if options.at is not None:
            check = replace(check, params=replace(check.params, at=options.at))
        return check

    # -- each endpoint --------------------------------------------------------------------

    async def endpoint(self, endpoint: SmpEndpoint) -> None:
        target = HttpTarget(
            url=endpoint.url, ca_file=self.options.ca_file, valid_status_codes=list(_ANSWERING)
        )
        (check,) = expand_http(target, self.defaults())
        await self.check("endpoint", check)
        started = time.perf_counter()
        reason, detail = await self.certificate(endpoint.certificate_der)
        self.steps.append(
            Step(
                "endpoint_certificate",
                endpoint.url,
                reason,
                detail,
                time.perf_counter() - started,
                _CertificateFindings(endpoint.certificate),
            )
        )

    async def certificate(self, der: bytes) -> tuple[FailureReason, str]:
        """The published certificate's whole-path verdict, revocation included."""
        options = self.options
        try:
            leaf = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            return FailureReason.CERT_MALFORMED, f"the published certificate: {exc}"
        try:
            anchors = _certificates(options.trust_anchors)
            intermediates = _certificates(options.intermediates)
        except CertificateParseError as exc:
            return FailureReason.CERT_MALFORMED, str(exc)
        if not anchors:
            return FailureReason.CHAIN_UNTRUSTED, "no trust anchors to judge it against"
        now = options.at or datetime.fromtimestamp(self.env.wall_clock(), UTC)
        path_options = PathOptions(
            profile=Profile.RFC5280,
            revocation=options.revocation,
            fetch_budget=options.timeout * 0.8,
        )
        try:
            judging = judge_path(
                leaf, intermediates, anchors, at=now, options=path_options, env=self.env
            )
            verdict = await asyncio.wait_for(judging, options.timeout)
        except TimeoutError:
            return FailureReason.TIMEOUT, f"no verdict within {options.timeout:g}s"
        detail = verdict.detail
        if verdict.unreachable:
            shown = "; ".join(f"{url}: {why}" for url, why in sorted(verdict.unreachable.items()))
            detail = f"{detail}; unreachable: {shown}" if detail else f"unreachable: {shown}"
        return verdict.reason, detail


@dataclass(frozen=True, slots=True)
class _CertificateFindings(Findings):
    certificate: CertificateFacts | None


def _certificates(path: str | None) -> list[x509.Certificate]:
    return list(read_certificates(Path(path))) if path else []


def _distinct(endpoints: tuple[SmpEndpoint, ...]) -> list[SmpEndpoint]:
    seen: dict[tuple[str, bytes], SmpEndpoint] = {}
    for endpoint in endpoints:
        seen.setdefault((endpoint.url, endpoint.certificate_der), endpoint)
    return list(seen.values())


def _agreement(primary: ParticipantFindings, other: ParticipantFindings) -> str:
    """Whether both schemes lead to the same SMP host ("" when one has no answer)."""
    hosts = []
    for found in (primary, other):
        if found.smp_url:
            hosts.append((urlsplit(found.smp_url).hostname or "").lower())
        elif found.smp_host:
            hosts.append(found.smp_host.lower().rstrip("."))
    if len(hosts) < 2:
        return ""
    if hosts[0] == hosts[1]:
        return f"both schemes lead to {hosts[0]}"
    shown = f"{primary.naming} -> {hosts[0]}, {other.naming} -> {hosts[1]}"
    if any(_is_address(host) for host in hosts):
        return f"{shown} (an address and a name: not compared)"
    return f"the schemes disagree: {shown}"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
