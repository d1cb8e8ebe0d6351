"""How the console shows a ticket to a person: SLA clocks, durations, its timeline, and the
filters the templates use.

Pure: the time is passed in; nothing here reads the store or knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ticket_sink.codec import iso
from ticket_sink.model import Severity, Ticket, TicketState
from ticket_sink.sla import ClockPlan, SlaPolicy, plan

__all__ = [
    "FILTERS",
    "SEVERITY_NAMES",
    "ClockView",
    "clock_views",
    "duration",
    "pressing_clock",
    "timeline",
    "urgency",
]

SEVERITY_NAMES = {1: "blocking", 2: "major", 3: "minor", 4: "info"}


@dataclass(frozen=True, slots=True)
class ClockView:
    name: str  # "response" or "resolution"
    status: str  # running, at-risk, breached, met, paused, stopped
    remaining_seconds: float
    due: str | None  # ISO 8601, None while paused
    running: bool

    @property
    def text(self) -> str:
        return _clock_text(self.remaining_seconds, self.status)


def duration(seconds: float) -> str:
    """`1d 2h`, `3h 05m`, `4m 10s`: two units, the larger first."""
    whole = int(abs(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def _clock_text(remaining: float, status: str) -> str:
    if status == "met":
        return "met"
    if remaining < 0:
        return f"{duration(remaining)} over"
    return f"{duration(remaining)} left" + (" (paused)" if status == "paused" else "")


def _view(name: str, clock: ClockPlan | None, now: datetime) -> ClockView | None:
    if clock is None:
        return None
    reading = clock.reading(now)
    if reading.met:
        status = "met"
    elif reading.breached:
        status = "breached"
    elif reading.at_risk:
        status = "at-risk"
    elif reading.running:
        status = "running"
    else:
        status = "paused"
    due = None if clock.due is None else iso(clock.due)
    return ClockView(name, status, reading.remaining.total_seconds(), due, reading.running)


def clock_views(ticket: Ticket, policy: SlaPolicy, now: datetime) -> list[ClockView]:
    """Both clocks of `ticket` at `now` (a best-effort clock is left out)."""
    sla = plan(ticket, policy)
    views = [_view("response", sla.response, now), _view("resolution", sla.resolution, now)]
    return [view for view in views if view is not None]


def pressing_clock(ticket: Ticket, policy: SlaPolicy, now: datetime) -> ClockView | None:
    """The clock a person works against now: response until acknowledged, then
    resolution; none once resolved or closed."""
    if ticket.state in (TicketState.RESOLVED, TicketState.CLOSED):
        return None
    name = "response" if ticket.state is TicketState.NEW else "resolution"
    sla = plan(ticket, policy)
    return _view(name, sla.response if name == "response" else sla.resolution, now)


def urgency(ticket: Ticket, clock: ClockView | None) -> tuple[int, float, datetime]:
    """Sort key, most urgent first: severity, then the SLA time left, then age."""
    remaining = clock.remaining_seconds if clock is not None else float("inf")
    created = ticket.created_at.astimezone(UTC)
    return (int(ticket.severity), remaining, created)


def timeline(history: Any, notes: Any, notifications: Any) -> list[dict[str, Any]]:
    """Audit events, comments and notifications of a ticket, oldest first."""
    items: list[dict[str, Any]] = []
    for _, event in history:
        if event.action == "comment":
            continue  # shown from the comments, with their text whole
        items.append({"at": event.at, "kind": "change", "event": event})
    for note in notes:
        items.append({"at": note.at, "kind": "comment", "note": note})
    for record in notifications:
        items.append({"at": record.at, "kind": "notification", "record": record})
    items.sort(key=lambda item: item["at"])
    return items


# Used by the templates.
FILTERS = {
    "iso": iso,
    "duration": duration,
    "severity_name": lambda value: SEVERITY_NAMES.get(int(value), str(value)),
    "label": lambda value: str(value).replace("_", " "),
    "severity_value": lambda value: int(value) if isinstance(value, Severity | int) else value,
}
