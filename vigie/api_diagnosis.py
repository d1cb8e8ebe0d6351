"""`GET /api/v1/participants/{id}/diagnosis?zone=...`: `vigie diagnose` for agents and the console.

Viewer role, and only for a zone this agent watches (its configured name servers, naming
scheme and other zones are used); an admin token may ask for any zone, looked up through
the resolver. Bounded: at most `max_concurrent` diagnoses at once (more are answered 429
with Retry-After), each within its deadline. A participant identifier no registration
could have is 400; a target's fault is never an error of the API, it is the diagnosis.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from probes import ProbeEnv
from probes.cert_path import RevocationMode
from probes.dns import SmlTarget
from probes.naming import NamingScheme
from ticket_sink.api import Call, Operation, Problem, Role, json_response
from vigie import USER_AGENT
from vigie.api_config import DiagnosisConfig
from vigie.diagnose import DiagnosisOptions, diagnose
from vigie.http import outbound_client

__all__ = ["DiagnosisOut", "diagnosis_operation"]


# SCHEME::VALUE without control characters and with something after the separator: what
# an identifier may look like before its scheme's own rules are applied (those give 400).
# The scheme is one DNS label (ASCII, at most 63 characters) and the zone at most 130, so
# that the participant's name (a 52-character hash label, the scheme, the zone) always fits
# in a DNS name.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
IDENTIFIER_PATTERN = rf"^[A-Za-z0-9_-]{{1,63}}::[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
ZONE_PATTERN = rf"^({_LABEL}\.)*{_LABEL}\.?$"


class DiagnosisQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone: str = Field(
        max_length=130, pattern=ZONE_PATTERN, description="the SML zone to look up in"
    )
    document_type: str | None = Field(
        None,
        max_length=500,
        pattern=IDENTIFIER_PATTERN,
        description="one document type, SCHEME::VALUE; unset: every listed one (up to 5)",
    )


class StepOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str = Field(description="sml, sml_other_naming, smp_service_group, smp_metadata, ...")
    target: str
    reason: str = Field(description="ok, or why the link failed (a probe reason)")
    ok: bool = Field(description="false when this link breaks the path")
    required: bool = Field(description="false for information only (the other naming)")
    detail: str
    seconds: float
    findings: dict[str, Any] = Field(description="what the step found (typed per step)")


class DiagnosisOut(BaseModel):
    """One participant's delivery path, link by link."""

    model_config = ConfigDict(extra="forbid")

    participant: str
    zone: str
    whole: bool = Field(description="true when no link is broken")
    headline: str = Field(description="the first broken link in one line, or 'path whole'")
    broken: str | None = Field(description="the first broken step, null when whole")
    steps: list[StepOut]


def diagnosis_operation(
    config: DiagnosisConfig, zones: list[SmlTarget], env: ProbeEnv
) -> Operation:
    """The operation, with its own bound on diagnoses running at once."""
    watched = {target.zone: target for target in zones}
    running = asyncio.Semaphore(config.max_concurrent)

    async def handler(call: Call) -> Any:
        query: DiagnosisQuery = call.query
        zone = query.zone.strip().rstrip(".").lower()
        target = watched.get(zone)
        if target is None and call.principal.role is not Role.ADMIN:
            raise Problem(
                403,
                f"zone {zone[:100]} is not one this agent watches; an admin token may ask",
                field="zone",
            )
        if running.locked():
            raise Problem(
                429,
                f"{config.max_concurrent} diagnoses are running; try again shortly",
                headers={"Retry-After": "5"},
            )
        options = DiagnosisOptions(
            zone=zone,
            naming=target.scheme if target is not None else NamingScheme.NAPTR,
            servers=tuple(target.nameservers) if target is not None else (),
            other_zones=dict(target.other_zones) if target is not None else {},
            document_type=query.document_type,
            trust_anchors=_path(config.trust_anchors),
            intermediates=_path(config.intermediates),
            ca_file=_path(config.ca_file),
            revocation=RevocationMode(config.revocation),
            timeout=config.step_timeout,
            deadline=config.deadline,
        )
        async with running, outbound_client() as http:
            try:
                diagnosis = await diagnose(
                    call.param("id"),
                    options,
                    dataclasses.replace(env, http=http, user_agent=USER_AGENT),
                )
            except ValueError as exc:
                raise Problem(400, str(exc)[:300], field="id") from None
        return json_response(diagnosis.document())

    return Operation(
        "GET",
        "/participants/{id}/diagnosis",
        "diagnoseParticipant",
        "One participant's delivery path: SML, SMP, signed metadata, endpoints, certificates",
        handler,
        Role.VIEWER,
        {200: DiagnosisOut},
        query=DiagnosisQuery,
        description="What `vigie diagnose` prints, for agents and the console: each link "
        "with its finding and time, the first broken one named in `headline`. Only for "
        "a zone this agent watches, unless the token is an admin's. At most "
        "`api.diagnosis.max_concurrent` run at once (429 with Retry-After beyond).",
        tags=("probes",),
        errors=(400, 401, 403, 429),
        parameters=(
            {
                "name": "id",
                "in": "path",
                "required": True,
                "description": "the participant, SCHEME::VALUE, percent-encoded as one segment",
                "schema": {
                    "type": "string",
                    "minLength": 4,
                    "maxLength": 300,
                    "pattern": IDENTIFIER_PATTERN,
                },
            },
        ),
    )


def _path(value: object) -> str | None:
    return None if value is None else str(value)
