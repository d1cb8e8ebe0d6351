"""The ticket lifecycle: which change is allowed from which state, and what it records.

`TRANSITIONS` is the whole state machine of DESIGN.md ("Tickets") in one table; `apply`
is the only way a ticket changes, and every change it makes comes back as audit events.
Pure: the caller passes the actor and the time, and stores the results. It must never read
a clock, never mutate a ticket, and never let a closed ticket change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import TypedDict

from ticket_sink.model import (
    ACTIVE_STATES,
    AuditEvent,
    CloseReason,
    Comment,
    EscalationLevel,
    KnownError,
    Matcher,
    Pause,
    Ticket,
    TicketState,
)
from vocab.errors import InputError

__all__ = [
    "CLOSE_REASONS",
    "TRANSITIONS",
    "Action",
    "Transition",
    "TransitionArguments",
    "TransitionError",
    "allowed_actions",
    "apply",
    "attach_known_error",
    "check_resolvable",
    "comment",
    "created",
    "known_error_from",
    "resolve_children",
]

NEW, OPEN, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED = TicketState


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    HOLD = "hold"
    RESUME = "resume"
    RESOLVE = "resolve"
    REJECT_RESOLUTION = "reject_resolution"
    CLOSE = "close"
    ESCALATE = "escalate"
    DEESCALATE = "deescalate"
    REASSIGN = "reassign"
    REMIND = "remind"
    RECORD_OCCURRENCE = "record_occurrence"


class TransitionError(InputError):
    """`apply` refused a change: not allowed from the ticket's state, or missing arguments.

    The message names the ticket, its state and the actions allowed from it.
    """


@dataclass(frozen=True, slots=True)
class _Args:
    at: datetime
    resolution: str | None
    reason: CloseReason | None
    group: str | None
    level: EscalationLevel | None
    mark: str | None


# An effect returns the fields it changes (besides `state`), or raises TransitionError.
Effect = Callable[[Ticket, _Args], dict[str, object]]


@dataclass(frozen=True, slots=True)
class Transition:
    """An action allowed from `sources`, moving to `target` (`None`: the state stays)."""

    sources: frozenset[TicketState]
    target: TicketState | None
    effect: Effect


def _refuse(ticket: Ticket, why: str) -> TransitionError:
    return TransitionError(f"ticket {ticket.id} ({ticket.state}): {why}")


def _end_pause(ticket: Ticket, at: datetime) -> dict[str, object]:
    """Close the pause in progress (an on-hold period or a resolution) into `pauses`."""
    start = ticket.on_hold_since if ticket.state is ON_HOLD else ticket.resolved_at
    if start is None:
        return {}
    changes: dict[str, object] = {"pauses": (*ticket.pauses, Pause(start, at))}
    if ticket.state is ON_HOLD:
        changes.update(on_hold_since=None, reminders_sent=0)
    return changes


def _acknowledge(ticket: Ticket, args: _Args) -> dict[str, object]:
    return {"acknowledged_at": args.at}


def _nothing(ticket: Ticket, args: _Args) -> dict[str, object]:
    return {}


def _hold(ticket: Ticket, args: _Args) -> dict[str, object]:
    return {"on_hold_since": args.at, "reminders_sent": 0}


def _resume(ticket: Ticket, args: _Args) -> dict[str, object]:
    return _end_pause(ticket, args.at)


def _resolve(ticket: Ticket, args: _Args) -> dict[str, object]:
    if not args.resolution:
        raise _refuse(ticket, "resolve needs a resolution (what solved it, or the workaround)")
    changes = _end_pause(ticket, args.at)
    changes.update(resolved_at=args.at, resolution=args.resolution)
    return changes


def _reject_resolution(ticket: Ticket, args: _Args) -> dict[str, object]:
    # The time spent resolved is a pause: the desk was waiting on the reporter.
    changes = _end_pause(ticket, args.at)
    changes.update(resolved_at=None, resolution=None)
    return changes


def _close(ticket: Ticket, args: _Args) -> dict[str, object]:
    allowed = CLOSE_REASONS[ticket.state]
    if args.reason not in allowed:
        reasons = ", ".join(sorted(allowed))
        raise _refuse(ticket, f"close needs a reason among: {reasons} (got {args.reason})")
    changes = _end_pause(ticket, args.at) if ticket.state is ON_HOLD else {}
    changes.update(closed_at=args.at, close_reason=args.reason)
    return changes


def _escalate(ticket: Ticket, args: _Args) -> dict[str, object]:
    level = args.level or (
        EscalationLevel(ticket.escalation_level + 1)
        if ticket.escalation_level < EscalationLevel.VENDOR
        else None
    )
    if level is None or level <= ticket.escalation_level:
        raise _refuse(
            ticket, f"escalate needs a level above the current {ticket.escalation_level.name}"
        )
    changes: dict[str, object] = {"escalation_level": level}
    if args.mark:
        changes["sla_marks"] = ticket.sla_marks | {args.mark}
    return changes


def _deescalate(ticket: Ticket, args: _Args) -> dict[str, object]:
    # A level that handed the ticket back (the vendor delivered a fix to apply, the
    # technical team a procedure for the desk). SLA marks stay: an escalation the SLA
    # already called for is not called for again.
    level = args.level or (
        EscalationLevel(ticket.escalation_level - 1)
        if ticket.escalation_level > EscalationLevel.USER_SUPPORT
        else None
    )
    if level is None or level >= ticket.escalation_level:
        raise _refuse(
            ticket, f"deescalate needs a level below the current {ticket.escalation_level.name}"
        )
    return {"escalation_level": level}


def _reassign(ticket: Ticket, args: _Args) -> dict[str, object]:
    if not args.group:
        raise _refuse(ticket, "reassign needs a group")
    return {"assignee_group": args.group}


def _remind(ticket: Ticket, args: _Args) -> dict[str, object]:
    return {"reminders_sent": ticket.reminders_sent + 1}


def _record_occurrence(ticket: Ticket, args: _Args) -> dict[str, object]:
    return {"occurrences": ticket.occurrences + 1, "last_seen": args.at}


# Which reasons may close a ticket from each state (DESIGN.md: `new` only as invalid or
# duplicate; a resolved ticket closes as resolved). A ticket being worked may turn out to
# duplicate another, or be withdrawn, without first going on hold.
CLOSE_REASONS: Mapping[TicketState, frozenset[CloseReason]] = {
    NEW: frozenset({CloseReason.INVALID, CloseReason.DUPLICATE}),
    OPEN: frozenset({CloseReason.INVALID, CloseReason.DUPLICATE, CloseReason.WITHDRAWN}),
    IN_PROGRESS: frozenset({CloseReason.DUPLICATE, CloseReason.WITHDRAWN}),
    ON_HOLD: frozenset({CloseReason.NO_RESPONSE, CloseReason.WITHDRAWN, CloseReason.DUPLICATE}),
    RESOLVED: frozenset({CloseReason.RESOLVED}),
}

# The state machine. Every (state, action) pair not allowed here is refused.
TRANSITIONS: Mapping[Action, Transition] = {
    Action.ACKNOWLEDGE: Transition(frozenset({NEW}), OPEN, _acknowledge),
    Action.START: Transition(frozenset({OPEN}), IN_PROGRESS, _nothing),
    Action.HOLD: Transition(frozenset({OPEN, IN_PROGRESS}), ON_HOLD, _hold),
    Action.RESUME: Transition(frozenset({ON_HOLD}), IN_PROGRESS, _resume),
    Action.RESOLVE: Transition(frozenset({OPEN, IN_PROGRESS, ON_HOLD}), RESOLVED, _resolve),
    Action.REJECT_RESOLUTION: Transition(frozenset({RESOLVED}), OPEN, _reject_resolution),
    Action.CLOSE: Transition(frozenset(CLOSE_REASONS), CLOSED, _close),
    Action.ESCALATE: Transition(ACTIVE_STATES, None, _escalate),
    Action.DEESCALATE: Transition(ACTIVE_STATES, None, _deescalate),
    Action.REASSIGN: Transition(ACTIVE_STATES, None, _reassign),
    Action.REMIND: Transition(frozenset({ON_HOLD}), None, _remind),
    Action.RECORD_OCCURRENCE: Transition(ACTIVE_STATES, None, _record_occurrence),
}


def allowed_actions(state: TicketState) -> list[Action]:
    """The actions `apply` accepts from `state`, in table order."""
    return [action for action, rule in TRANSITIONS.items() if state in rule.sources]


def _text(value: object) -> str | None:
    """A field's value as audit text (see `AuditEvent`)."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Pause):
        return f"{value.start.isoformat()}/{value.end.isoformat()}"  # an ISO 8601 interval
    if isinstance(value, tuple):
        return ";".join(filter(None, map(_text, value)))
    if isinstance(value, frozenset):
        return ",".join(sorted(map(str, value)))
    return str(value)


def _audit(
    before: Ticket, after: Ticket, action: str, actor: str, at: datetime
) -> list[AuditEvent]:
    """One event per changed field, in the model's field order."""
    return [
        AuditEvent(before.id, actor, at, action, f.name, _text(old), _text(new))
        for f in dataclasses.fields(Ticket)
        if (old := getattr(before, f.name)) != (new := getattr(after, f.name))
    ]


class TransitionArguments(TypedDict, total=False):
    """What a person's action may take besides the ticket, named as `apply` names them;
    the interfaces pass them through the service without knowing each one."""

    resolution: str | None
    reason: CloseReason | None
    group: str | None
    level: EscalationLevel | None


def apply(
    ticket: Ticket,
    action: Action,
    *,
    actor: str,
    at: datetime,
    resolution: str | None = None,
    reason: CloseReason | None = None,
    group: str | None = None,
    level: EscalationLevel | None = None,
    mark: str | None = None,
) -> tuple[Ticket, list[AuditEvent]]:
    """Do `action` to `ticket` at `at` on behalf of `actor`; the new ticket and its events.

    Arguments by action: `resolve` needs `resolution`; `close` needs a `reason` allowed
    from the current state (`CLOSE_REASONS`); `reassign` needs `group`; `escalate` goes to
    `level` (default: one up) and records `mark` if given (SLA escalations).
    Raises `TransitionError` when the action is not allowed from the ticket's state or an
    argument is missing; the ticket is then unchanged.
    """
    if at.tzinfo is None:
        raise ValueError(f"at must be timezone-aware, got naive {at.isoformat()}")
    rule = TRANSITIONS[action]
    if ticket.state not in rule.sources:
        allowed = ", ".join(allowed_actions(ticket.state)) or "none (closed is final)"
        raise _refuse(ticket, f"{action} is not allowed; allowed: {allowed}")
    args = _Args(at, resolution, reason, group, level, mark)
    changes = rule.effect(ticket, args)
    if rule.target is not None:
        changes["state"] = rule.target
    # The effects name real fields; mypy cannot check a dict of them against Ticket.
    changed = dataclasses.replace(ticket, **changes)  # type: ignore[arg-type]
    return changed, _audit(ticket, changed, action, actor, at)


def check_resolvable(ticket: Ticket, firing: Sequence[str]) -> None:
    """Refuse to resolve `ticket` by hand while alerts still fire: its own (`firing` holds
    its id) or those of the tickets under it (their ids).

    A resolution says the problem is gone; while the alert that reports it fires, vigie
    knows it is not, and a resolution would close the ticket a few business days later
    over a live problem. The correlator resolves an alert's ticket by itself once every
    alert has stayed clear for the quiet period; a desk that stops working on it closes it
    instead (duplicate, withdrawn...), and a still-firing alert then opens a new ticket.
    """
    if not firing:
        return
    own = ticket.id in firing
    others = sorted(set(firing) - {ticket.id})
    which = "its alert" if own else ""
    if others:
        under = f"the alerts of {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}"
        which = f"{which} and {under}" if own else under
    raise _refuse(
        ticket,
        f"resolve is refused while {which} still fire{'s' if own and not others else ''}: "
        "it resolves by itself once every alert stays clear for the quiet period, "
        "or close it (a still-firing alert then opens a new ticket)",
    )


def created(ticket: Ticket, *, actor: str) -> list[AuditEvent]:
    """The audit events of a ticket's registration (its state, and what it refers to)."""
    at = ticket.created_at
    events = [AuditEvent(ticket.id, actor, at, "create", "state", None, _text(ticket.state))]
    for name in ("master_id", "refers_to"):
        if (value := getattr(ticket, name)) is not None:
            events.append(AuditEvent(ticket.id, actor, at, "create", name, None, value))
    return events


def known_error_from(ticket: Ticket, *, id: str, matchers: Sequence[Matcher]) -> KnownError:
    """A known-error entry whose workaround is `ticket`'s resolution."""
    if not ticket.resolution:
        raise _refuse(ticket, "only a resolution can become a known error")
    return KnownError(id, tuple(matchers), ticket.resolution)


def comment(ticket: Ticket, *, author: str, at: datetime, text: str) -> tuple[Comment, AuditEvent]:
    """A comment on `ticket` and its audit event. Allowed in every state, closed included:
    a comment records something about the ticket without changing it."""
    note = Comment(ticket.id, author, at, text)
    return note, AuditEvent(ticket.id, author, at, "comment", "comments", None, text)


def attach_known_error(
    ticket: Ticket, known_errors: Sequence[KnownError], *, actor: str, at: datetime
) -> tuple[Ticket, list[AuditEvent]]:
    """Attach the workaround of the first known error matching the ticket's labels.

    A ticket that already has one, or matches none, comes back unchanged with no events.
    """
    if ticket.known_error_id is not None or ticket.state is CLOSED:
        return ticket, []
    for entry in known_errors:
        if entry.matches(ticket.labels):
            changed = dataclasses.replace(
                ticket, known_error_id=entry.id, workaround=entry.workaround
            )
            return changed, _audit(ticket, changed, "attach_known_error", actor, at)
    return ticket, []


def resolve_children(
    master: Ticket, children: Sequence[Ticket], *, actor: str, at: datetime
) -> list[tuple[Ticket, list[AuditEvent]]]:
    """Resolve the unresolved children of a resolved master; only the changed ones return.

    A child still `new` is acknowledged first (the master's resolution answers it too);
    children of other masters, and resolved or closed ones, are left alone.
    """
    if master.state is not RESOLVED:
        raise _refuse(master, "only a resolved master resolves its children")
    resolution = f"resolved with master ticket {master.id}: {master.resolution}"
    results = []
    for child in children:
        if child.master_id != master.id or child.state in (RESOLVED, CLOSED):
            continue
        events: list[AuditEvent] = []
        if child.state is NEW:
            child, events = apply(child, Action.ACKNOWLEDGE, actor=actor, at=at)
        child, resolved = apply(child, Action.RESOLVE, actor=actor, at=at, resolution=resolution)
        results.append((child, events + resolved))
    return results
