"""Tickets and what hangs off them, as the API's JSON (see `models` for the shapes).

Built from `ticket_sink.codec` so the API, the outbox and the sinks spell a ticket the
same way. Pure: the time is passed in; nothing here reads the store.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ticket_sink.api.ticket_models import PUBLIC_ACTIONS
from ticket_sink.codec import iso, ticket_to_dict
from ticket_sink.lifecycle import allowed_actions
from ticket_sink.model import AuditEvent, Comment, KnownError, Ticket
from ticket_sink.sla import ClockPlan, ClockReading, SlaPlan

__all__ = [
    "SlaJson",
    "comment_view",
    "event_view",
    "known_error_view",
    "summary_view",
    "ticket_detail_members",
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


class SlaJson:
    """A ticket's `sla` member as JSON at any time, from its SLA plan: what the plan fixes
    (each clock's target and due instant) is encoded once, the rest at each `at`, spelled
    as `json` spells it (a float as its `repr`), so that it splices into compact JSON.
    `constant` is the member itself when it does not depend on the time (no clock)."""

    __slots__ = ("_resolution", "_response", "constant")

    def __init__(self, plan: SlaPlan) -> None:
        self._response = _ClockJson(plan.response)
        self._resolution = _ClockJson(plan.resolution)
        self.constant = (
            b'{"response":null,"resolution":null}'
            if plan.response is None and plan.resolution is None
            else None
        )

    def at(self, now: datetime) -> bytes:
        now_utc = now if now.tzinfo is UTC else now.astimezone(UTC)
        response, resolution = self._response.at(now_utc), self._resolution.at(now_utc)
        return f'{{"response":{response},"resolution":{resolution}}}'.encode()


class _ClockJson:
    """One clock's member: "null" for best effort; at and past the instant the clock has
    settled (stopped or paused for good, see `ClockPlan.settled_at`), one text, encoded
    once."""

    __slots__ = ("_fixed", "_plan", "_settled")

    def __init__(self, plan: ClockPlan | None) -> None:
        self._plan = plan
        self._settled: str | None = None
        if plan is None:
            self._fixed = ""
            return
        due = None if plan.due is None else iso(plan.due)
        self._fixed = f'{{"target_seconds":{plan.target.total_seconds()!r},"due":{json.dumps(due)},'

    def at(self, now_utc: datetime) -> str:
        plan = self._plan
        if plan is None:
            return "null"
        settled_at = plan.settled_at
        if settled_at is None or now_utc < settled_at:
            return self._encode(plan.reading(now_utc))
        if self._settled is None:
            self._settled = self._encode(plan.reading(settled_at))
        return self._settled

    def _encode(self, state: ClockReading) -> str:
        return (
            f'{self._fixed}"elapsed_seconds":{state.elapsed.total_seconds()!r},'
            f'"remaining_seconds":{state.remaining.total_seconds()!r},{_FLAGS[state[2:]]}'
        )


# The members after the times, for each (running, met, at_risk, breached).
_FLAGS = {
    flags: '"running":{},"met":{},"at_risk":{},"breached":{}}}'.format(
        *(json.dumps(flag) for flag in flags)
    )
    for flags in itertools.product((False, True), repeat=4)
}


def ticket_detail_members(
    ticket: Ticket,
    *,
    children: Sequence[Ticket],
    history: Sequence[dict[str, Any]],
    comments: Sequence[Comment],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ticket's detail but for its `sla` member (`SlaJson`), the one that depends on the
    time: the members that come before `sla`, and those after it, in order."""
    workaround = (
        None
        if ticket.workaround is None
        else {"known_error_id": ticket.known_error_id, "text": ticket.workaround}
    )
    before = {
        "ticket": ticket_to_dict(ticket),
        "children": [summary_view(child) for child in children],
        "history": list(history),
        "comments": [comment_view(note) for note in comments],
    }
    after = {
        "workaround": workaround,
        "allowed_actions": [
            action.value for action in allowed_actions(ticket.state) if action.value in _PUBLIC
        ],
    }
    return before, after


def known_error_view(entry: KnownError, *, created_at: datetime, created_by: str) -> dict[str, Any]:
    return {
        "id": entry.id,
        "matchers": [{"name": m.name, "op": m.op.value, "value": m.value} for m in entry.matchers],
        "workaround": entry.workaround,
        "created_at": iso(created_at),
        "created_by": created_by,
    }
