"""Tickets and what hangs off them, as the API's JSON (see `models` for the shapes).

Built from `ticket_sink.codec` so the API, the outbox and the sinks spell a ticket the
same way. Pure: the time is passed in; nothing here reads the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ticket_sink.api.models import PUBLIC_ACTIONS
from ticket_sink.codec import iso, ticket_to_dict
from ticket_sink.lifecycle import allowed_actions
from ticket_sink.model import AuditEvent, Comment, KnownError, Ticket
from ticket_sink.sla import ClockPlan, SlaPlan

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


_JSON_BOOL = {False: "false", True: "true"}


class SlaJson:
    """A ticket's `sla` member as JSON at any time, from its SLA plan: what the plan fixes
    (each clock's target and due instant) is encoded once, the rest at each `at`, spelled
    as `json` spells it (a float as its `repr`), so that it splices into compact JSON.
    `constant` is the member itself when it does not depend on the time (no clock)."""

    __slots__ = ("_clocks", "constant")

    def __init__(self, plan: SlaPlan) -> None:
        self._clocks = tuple(
            (clock, _fixed_members(clock)) for clock in (plan.response, plan.resolution)
        )
        self.constant = (
            _sla_json("null", "null") if plan.response is None and plan.resolution is None else None
        )

    def at(self, now: datetime) -> bytes:
        (response, fixed_response), (resolution, fixed_resolution) = self._clocks
        return _sla_json(
            _clock_json(response, fixed_response, now),
            _clock_json(resolution, fixed_resolution, now),
        )


def _sla_json(response: str, resolution: str) -> bytes:
    return f'{{"response":{response},"resolution":{resolution}}}'.encode()


def _fixed_members(clock: ClockPlan | None) -> str:
    if clock is None:
        return ""
    due = None if clock.due is None else iso(clock.due)
    return f'{{"target_seconds":{clock.target.total_seconds()!r},"due":{json.dumps(due)},'


def _clock_json(clock: ClockPlan | None, fixed: str, now: datetime) -> str:
    if clock is None:
        return "null"
    state = clock.reading(now)
    return (
        f'{fixed}"elapsed_seconds":{state.elapsed.total_seconds()!r},'
        f'"remaining_seconds":{state.remaining.total_seconds()!r},'
        f'"running":{_JSON_BOOL[state.running]},"met":{_JSON_BOOL[state.met]},'
        f'"at_risk":{_JSON_BOOL[state.at_risk]},"breached":{_JSON_BOOL[state.breached]}}}'
    )


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
