"""Tickets and what hangs off them, as the API's JSON (see `models` for the shapes).

Built from `ticket_sink.codec` so the API, the outbox and the sinks spell a ticket the
same way. Pure: the time is passed in; nothing here reads the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ticket_sink.api.models import PUBLIC_ACTIONS
from ticket_sink.codec import iso, ticket_to_dict
from ticket_sink.lifecycle import allowed_actions
from ticket_sink.model import AuditEvent, Comment, KnownError, Ticket
from ticket_sink.sla import ClockStatus, SlaPolicy, status

__all__ = [
    "comment_view",
    "event_view",
    "known_error_view",
    "sla_view",
    "summary_view",
    "ticket_detail_view",
]

_PUBLIC = frozenset(PUBLIC_ACTIONS)


def summary_view(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "title": ticket.title,
        "state": ticket.state.value,
        "severity": int(ticket.severity),
        "created_at": iso(ticket.created_at),
    }


def event_view(event_id: int, event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event_id,
        "ticket_id": event.ticket_id,
        "actor": event.actor,
        "at": iso(event.at),
        "action": event.action,
        "field": event.field,
        "before": event.before,
        "after": event.after,
    }


def comment_view(note: Comment) -> dict[str, Any]:
    return {"author": note.author, "at": iso(note.at), "text": note.text}


def _clock(clock: ClockStatus | None) -> dict[str, Any] | None:
    if clock is None:
        return None
    return {
        "target_seconds": clock.target.total_seconds(),
        "due": None if clock.due is None else iso(clock.due),
        "elapsed_seconds": clock.elapsed.total_seconds(),
        "remaining_seconds": clock.remaining.total_seconds(),
        "running": clock.running,
        "met": clock.met,
        "at_risk": clock.at_risk,
        "breached": clock.breached,
    }


def sla_view(ticket: Ticket, policy: SlaPolicy, now: datetime) -> dict[str, Any]:
    clocks = status(ticket, policy, now)
    return {"response": _clock(clocks.response), "resolution": _clock(clocks.resolution)}


def ticket_detail_view(
    ticket: Ticket,
    *,
    children: Sequence[Ticket],
    history: Sequence[dict[str, Any]],
    comments: Sequence[Comment],
    policy: SlaPolicy,
    now: datetime,
) -> dict[str, Any]:
    workaround = (
        None
        if ticket.workaround is None
        else {"known_error_id": ticket.known_error_id, "text": ticket.workaround}
    )
    return {
        "ticket": ticket_to_dict(ticket),
        "children": [summary_view(child) for child in children],
        "history": list(history),
        "comments": [comment_view(note) for note in comments],
        "sla": sla_view(ticket, policy, now),
        "workaround": workaround,
        "allowed_actions": [
            action.value for action in allowed_actions(ticket.state) if action.value in _PUBLIC
        ],
    }


def known_error_view(entry: KnownError, *, created_at: datetime, created_by: str) -> dict[str, Any]:
    return {
        "id": entry.id,
        "matchers": [{"name": m.name, "op": m.op.value, "value": m.value} for m in entry.matchers],
        "workaround": entry.workaround,
        "created_at": iso(created_at),
        "created_by": created_by,
    }
