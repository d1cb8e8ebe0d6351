"""Alerts arriving over HTTP: Alertmanager's webhook payload and vigie's own format.

Both become `IncomingAlert`s, a plain value the application hands to the correlator (which
`ticket_sink` may not import). Alertmanager's payload is accepted as it sends it, unknown
fields included, so a webhook receiver needs no template. Pure: the time of arrival is
passed in; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictInt, Tag

from ticket_sink.api.fields import AlertTime, Labels, SeverityIn, in_time_range
from ticket_sink.model import Severity
from vocab import StrictModel

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerWebhook",
    "AlertsAccepted",
    "AlertsIn",
    "IncomingAlert",
    "RejectedAlert",
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
    startsAt: AlertTime
    # Firing alerts carry 0001-01-01T00:00:00Z or a guess of Alertmanager's: `status` says.
    endsAt: AlertTime | None = None
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


class VigieAlert(StrictModel):
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    severity: SeverityIn | None = Field(None, description="default: from the severity label")
    starts_at: AlertTime | None = Field(None, description="default: when received")
    ends_at: AlertTime | None = Field(None, description="set: the alert stopped firing")


class VigieAlerts(StrictModel):
    """vigie's own format: a list of alerts, nothing else."""

    alerts: list[VigieAlert] = Field(min_length=1, max_length=MAX_ALERTS)


def _payload_kind(value: Any) -> str:
    if isinstance(value, dict) and "version" in value:
        return "alertmanager"
    return "vigie"


AlertsIn = Annotated[
    Annotated[AlertmanagerWebhook, Tag("alertmanager")] | Annotated[VigieAlerts, Tag("vigie")],
    Discriminator(_payload_kind),
]


@dataclass(frozen=True, slots=True)
class RejectedAlert:
    """An alert of a batch left out, and why; the others of the batch are taken."""

    index: int
    field: str  # dotted, as in a problem's `field`: alerts[3].startsAt
    detail: str


class RejectedAlertOut(StrictModel):
    index: int = Field(description="position in the request's alerts")
    field: str = Field(description="the offending input, dotted")
    detail: str


class AlertsAccepted(StrictModel):
    accepted: int = Field(description="alerts taken")
    firing: int
    resolved: int
    rejected: list[RejectedAlertOut] = Field(
        description="alerts left out (a time outside what the store can hold), with why; "
        "answered 200 all the same, so Alertmanager does not retry the batch forever"
    )
    summary: dict[str, int] = Field(description="what the correlator did, by outcome")


def incoming_alerts(
    payload: AlertmanagerWebhook | VigieAlerts, *, now: datetime
) -> tuple[str, list[IncomingAlert], list[RejectedAlert]]:
    """The alerts of `payload`, the source name the correlator records, and the alerts
    left out: one whose time the store cannot hold (an extreme offset, a year past 9000)
    is rejected alone."""
    taken: list[IncomingAlert] = []
    rejected: list[RejectedAlert] = []
    if isinstance(payload, AlertmanagerWebhook):
        for index, am in enumerate(payload.alerts):
            resolved = am.status == "resolved"
            # A firing alert's endsAt is Alertmanager's guess or its zero time: unused.
            times = {"startsAt": am.startsAt, "endsAt": (am.endsAt or now) if resolved else None}
            judged = _judged_times(index, times, rejected)
            if judged is not None:
                taken.append(
                    IncomingAlert(
                        labels=dict(am.labels),
                        annotations=dict(am.annotations),
                        severity=severity_of(am.labels),
                        starts_at=judged["startsAt"] or now,
                        ends_at=judged["endsAt"],
                    )
                )
        return "alertmanager", taken, rejected
    for index, alert in enumerate(payload.alerts):
        judged = _judged_times(
            index, {"starts_at": alert.starts_at or now, "ends_at": alert.ends_at}, rejected
        )
        if judged is not None:
            taken.append(
                IncomingAlert(
                    labels=dict(alert.labels),
                    annotations=dict(alert.annotations),
                    severity=alert.severity or severity_of(alert.labels),
                    starts_at=judged["starts_at"] or now,
                    ends_at=judged["ends_at"],
                )
            )
    return "api", taken, rejected


def _judged_times(
    index: int, times: Mapping[str, datetime | None], rejected: list[RejectedAlert]
) -> dict[str, datetime | None] | None:
    """The times in UTC, or None after recording the alert as rejected."""
    judged: dict[str, datetime | None] = {}
    for name, value in times.items():
        try:
            judged[name] = None if value is None else in_time_range(value)
        except ValueError as exc:
            rejected.append(RejectedAlert(index, f"alerts[{index}].{name}", str(exc)))
            return None
    return judged
