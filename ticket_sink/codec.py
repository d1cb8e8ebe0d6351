"""Tickets as JSON-safe dictionaries and back: one spelling for the store's JSON columns,
the outbox payloads, the HTTP API and the notification sinks.

Times are ISO 8601 in UTC, enums their values, labels a plain object. `ticket_from_dict`
must accept everything `ticket_to_dict` produced by any earlier version (outbox rows
outlive upgrades): new fields need defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ticket_sink.model import (
    CloseReason,
    EscalationLevel,
    Notification,
    NotificationEvent,
    Pause,
    Severity,
    Ticket,
    TicketState,
    TicketType,
)

__all__ = [
    "iso",
    "notification_from_dict",
    "notification_to_dict",
    "parse_iso",
    "ticket_fields",
    "ticket_from_dict",
    "ticket_from_fields",
    "ticket_to_dict",
]


def iso(moment: datetime) -> str:
    """`moment` in UTC as ISO 8601 with a `Z` (what agents parse most easily)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} lacks a UTC offset")
    return moment.astimezone(UTC)


def ticket_to_dict(ticket: Ticket) -> dict[str, Any]:
    return ticket_fields(ticket, iso)


def ticket_from_dict(data: Mapping[str, Any]) -> Ticket:
    return ticket_from_fields(data, parse_iso)


def ticket_fields(ticket: Ticket, moment: Callable[[datetime], Any]) -> dict[str, Any]:
    """`ticket` field by field, its times (those set) spelled by `moment`: the one list of
    fields that the JSON spelling and the `tickets` table's columns share. Pauses are
    ISO 8601 pairs in both (the table keeps them in a JSON column)."""

    def optional(value: datetime | None) -> Any:
        return None if value is None else moment(value)

    return {
        "id": ticket.id,
        "fingerprint": ticket.fingerprint,
        "title": ticket.title,
        "type": ticket.type.value,
        "severity": int(ticket.severity),
        "state": ticket.state.value,
        "labels": dict(ticket.labels),
        "master_id": ticket.master_id,
        "refers_to": ticket.refers_to,
        "assignee_group": ticket.assignee_group,
        "escalation_level": int(ticket.escalation_level),
        "created_at": moment(ticket.created_at),
        "acknowledged_at": optional(ticket.acknowledged_at),
        "resolved_at": optional(ticket.resolved_at),
        "closed_at": optional(ticket.closed_at),
        "close_reason": None if ticket.close_reason is None else ticket.close_reason.value,
        "resolution": ticket.resolution,
        "known_error_id": ticket.known_error_id,
        "workaround": ticket.workaround,
        "occurrences": ticket.occurrences,
        "last_seen": optional(ticket.last_seen),
        "on_hold_since": optional(ticket.on_hold_since),
        "pauses": [[iso(p.start), iso(p.end)] for p in ticket.pauses],
        "reminders_sent": ticket.reminders_sent,
        "sla_marks": sorted(ticket.sla_marks),
    }


def ticket_from_fields(data: Mapping[str, Any], moment: Callable[[Any], datetime]) -> Ticket:
    """The ticket `ticket_fields` spelled, its times (those set) read by `moment`; a field
    an earlier version did not write takes its default."""

    def optional(value: Any) -> datetime | None:
        return None if value is None else moment(value)

    close_reason = data.get("close_reason")
    return Ticket(
        id=data["id"],
        fingerprint=data["fingerprint"] or "",
        title=data["title"],
        type=TicketType(data["type"]),
        severity=Severity(data["severity"]),
        created_at=moment(data["created_at"]),
        state=TicketState(data["state"]),
        labels=dict(data.get("labels") or {}),
        master_id=data.get("master_id"),
        refers_to=data.get("refers_to"),
        assignee_group=data.get("assignee_group", ""),
        escalation_level=EscalationLevel(data.get("escalation_level", 2)),
        acknowledged_at=optional(data.get("acknowledged_at")),
        resolved_at=optional(data.get("resolved_at")),
        closed_at=optional(data.get("closed_at")),
        close_reason=None if close_reason is None else CloseReason(close_reason),
        resolution=data.get("resolution"),
        known_error_id=data.get("known_error_id"),
        workaround=data.get("workaround"),
        occurrences=data.get("occurrences", 1),
        last_seen=optional(data.get("last_seen")),
        on_hold_since=optional(data.get("on_hold_since")),
        pauses=tuple(Pause(parse_iso(a), parse_iso(b)) for a, b in data.get("pauses", ())),
        reminders_sent=data.get("reminders_sent", 0),
        sla_marks=frozenset(data.get("sla_marks", ())),
    )


def notification_to_dict(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "event": notification.event.value,
        "at": iso(notification.at),
        "children": notification.children,
        "detail": notification.detail,
        "ticket": ticket_to_dict(notification.ticket),
    }


def notification_from_dict(data: Mapping[str, Any]) -> Notification:
    return Notification(
        id=data["id"],
        event=NotificationEvent(data["event"]),
        ticket=ticket_from_dict(data["ticket"]),
        at=parse_iso(data["at"]),
        children=data.get("children", 0),
        detail=data.get("detail", ""),
    )
