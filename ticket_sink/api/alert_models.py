"""Alerts arriving over HTTP: Alertmanager's webhook payload and vigie's own format.

Both become `IncomingAlert`s, a plain value the application hands to the correlator (which
`ticket_sink` may not import). Alertmanager's payload is accepted as it sends it, unknown
fields included, so a webhook receiver needs no template. Pure: the time of arrival is
passed in; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictInt, Tag

from ticket_sink.api.models import IsoTime, Labels
from ticket_sink.model import Severity

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerWebhook",
    "AlertsAccepted",
    "AlertsIn",
    "IncomingAlert",
    "VigieAlert",
    "VigieAlerts",
    "incoming_alerts",
    "severity_of",
]

# Alertmanager's `severity` label spellings, mapped to the service desk's scale.
SEVERITY_LABELS: Mapping[str, Severity] = {
    "critical": Severity.BLOCKING,
    "major": Severity.MAJOR,
    "error": Severity.MAJOR,
    "warning": Severity.MINOR,
    "minor": Severity.MINOR,
    "info": Severity.INFO,
    "none": Severity.INFO,
}
DEFAULT_SEVERITY = Severity.MINOR
MAX_ALERTS = 1000

Annotations = dict[str, Annotated[str, Field(max_length=20_000)]]


@dataclass(frozen=True, slots=True)
class IncomingAlert:
    """An alert as received; `ends_at` set means it stopped firing then."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    severity: Severity
    starts_at: datetime
    ends_at: datetime | None = None


def severity_of(labels: Mapping[str, str]) -> Severity:
    return SEVERITY_LABELS.get(labels.get("severity", "").lower(), DEFAULT_SEVERITY)


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: IsoTime
    # Firing alerts carry 0001-01-01T00:00:00Z or a guess of Alertmanager's: `status` says.
    endsAt: IsoTime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook payload (version 4), as its webhook receiver posts it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: StrictInt = 0
    status: str = ""
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    # No item limit: Alertmanager sends a whole group; the body size limit bounds it.
    alerts: list[AlertmanagerAlert]


class VigieAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    severity: Severity | None = Field(None, description="default: from the severity label")
    starts_at: IsoTime | None = Field(None, description="default: when received")
    ends_at: IsoTime | None = Field(None, description="set: the alert stopped firing")


class VigieAlerts(BaseModel):
    """vigie's own format: a list of alerts, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alerts: list[VigieAlert] = Field(min_length=1, max_length=MAX_ALERTS)


def _payload_kind(value: Any) -> str:
    if isinstance(value, dict) and "version" in value:
        return "alertmanager"
    return "vigie"


AlertsIn = Annotated[
    Annotated[AlertmanagerWebhook, Tag("alertmanager")] | Annotated[VigieAlerts, Tag("vigie")],
    Discriminator(_payload_kind),
]


class AlertsAccepted(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accepted: int = Field(description="alerts received")
    firing: int
    resolved: int
    summary: dict[str, int] = Field(description="what the correlator did, by outcome")


def incoming_alerts(
    payload: AlertmanagerWebhook | VigieAlerts, *, now: datetime
) -> tuple[str, list[IncomingAlert]]:
    """The alerts of `payload`, and the source name the correlator records."""
    if isinstance(payload, AlertmanagerWebhook):
        return "alertmanager", [
            IncomingAlert(
                labels=dict(alert.labels),
                annotations=dict(alert.annotations),
                severity=severity_of(alert.labels),
                starts_at=alert.startsAt.astimezone(UTC),
                ends_at=(alert.endsAt or now).astimezone(UTC)
                if alert.status == "resolved"
                else None,
            )
            for alert in payload.alerts
        ]
    return "api", [
        IncomingAlert(
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            severity=alert.severity or severity_of(alert.labels),
            starts_at=(alert.starts_at or now).astimezone(UTC),
            ends_at=None if alert.ends_at is None else alert.ends_at.astimezone(UTC),
        )
        for alert in payload.alerts
    ]
