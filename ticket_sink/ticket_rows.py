"""Tickets as rows of the `tickets` table, and back: the ticket, the correlator's
bookkeeping beside it (`Correlation`), and the pair as read (`StoredTicket`).

Pure mapping between the model and the columns; it must never run a query.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ticket_sink.codec import iso, parse_iso
from ticket_sink.model import (
    CloseReason,
    EscalationLevel,
    Pause,
    Severity,
    Ticket,
    TicketState,
    TicketType,
)

__all__ = [
    "Correlation",
    "StoredTicket",
    "correlation_values",
    "new_ticket_id",
    "stored_ticket",
    "ticket_values",
]


def new_ticket_id() -> str:
    """A short id, unique across agents sharing a database: `T` and 10 base32 characters
    (50 random bits; the primary key turns the unlikely collision into a retry)."""
    bits = int.from_bytes(secrets.token_bytes(7), "big") >> 6
    return "T" + "".join([_BASE32[(bits >> shift) & 31] for shift in _ID_SHIFTS])


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648's alphabet, as before
_ID_SHIFTS = tuple(range(45, -1, -5))


@dataclass(frozen=True, slots=True)
class Correlation:
    """The correlator's bookkeeping on a ticket, beside the ticket itself."""

    service: str = ""
    node: str = ""  # the alert's `target` label: the ticket's place in the topology
    group_key: str | None = None
    caused_by: str | None = None
    notify: bool = True
    firing: bool = False
    recovered_at: datetime | None = None
    flapping: bool = False
    alert_changes: tuple[datetime, ...] = ()
    reporter: str = ""

    @classmethod
    def for_labels(cls, labels: Mapping[str, str], **fields: Any) -> Correlation:
        return cls(service=labels.get("service", ""), node=labels.get("target", ""), **fields)


@dataclass(frozen=True, slots=True)
class StoredTicket:
    ticket: Ticket
    correlation: Correlation = field(default_factory=Correlation)
    updated_at: datetime | None = None


def ticket_values(ticket: Ticket) -> dict[str, Any]:
    """The `tickets` table's columns for `ticket`."""
    return {
        "id": ticket.id,
        "fingerprint": ticket.fingerprint or None,
        "title": ticket.title,
        "type": ticket.type.value,
        "severity": int(ticket.severity),
        "state": ticket.state.value,
        "labels": dict(ticket.labels),
        "master_id": ticket.master_id,
        "refers_to": ticket.refers_to,
        "assignee_group": ticket.assignee_group,
        "escalation_level": int(ticket.escalation_level),
        "created_at": ticket.created_at,
        "acknowledged_at": ticket.acknowledged_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "close_reason": None if ticket.close_reason is None else ticket.close_reason.value,
        "resolution": ticket.resolution,
        "known_error_id": ticket.known_error_id,
        "workaround": ticket.workaround,
        "occurrences": ticket.occurrences,
        "last_seen": ticket.last_seen,
        "on_hold_since": ticket.on_hold_since,
        "pauses": [[iso(p.start), iso(p.end)] for p in ticket.pauses],
        "reminders_sent": ticket.reminders_sent,
        "sla_marks": sorted(ticket.sla_marks),
    }


def correlation_values(correlation: Correlation) -> dict[str, Any]:
    """The `tickets` table's columns for the correlator's bookkeeping."""
    return {
        "service": correlation.service,
        "node": correlation.node,
        "group_key": correlation.group_key,
        "caused_by": correlation.caused_by,
        "notify": correlation.notify,
        "firing": correlation.firing,
        "recovered_at": correlation.recovered_at,
        "flapping": correlation.flapping,
        "alert_changes": [iso(at) for at in correlation.alert_changes],
        "reporter": correlation.reporter,
    }


def stored_ticket(row: Any) -> StoredTicket:
    """The ticket and its correlation from a row of the `tickets` table."""
    close_reason = row.close_reason
    ticket = Ticket(
        id=row.id,
        fingerprint=row.fingerprint or "",
        title=row.title,
        type=TicketType(row.type),
        severity=Severity(row.severity),
        created_at=row.created_at,
        state=TicketState(row.state),
        labels=row.labels,
        master_id=row.master_id,
        refers_to=row.refers_to,
        assignee_group=row.assignee_group,
        escalation_level=EscalationLevel(row.escalation_level),
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        close_reason=None if close_reason is None else CloseReason(close_reason),
        resolution=row.resolution,
        known_error_id=row.known_error_id,
        workaround=row.workaround,
        occurrences=row.occurrences,
        last_seen=row.last_seen,
        on_hold_since=row.on_hold_since,
        pauses=tuple(Pause(parse_iso(a), parse_iso(b)) for a, b in row.pauses),
        reminders_sent=row.reminders_sent,
        sla_marks=frozenset(row.sla_marks),
    )
    correlation = Correlation(
        service=row.service,
        node=row.node,
        group_key=row.group_key,
        caused_by=row.caused_by,
        notify=row.notify,
        firing=row.firing,
        recovered_at=row.recovered_at,
        flapping=row.flapping,
        alert_changes=tuple(parse_iso(at) for at in row.alert_changes),
        reporter=row.reporter,
    )
    return StoredTicket(ticket, correlation, row.updated_at)
