"""The periodic sweep over the tickets: auto-resolve what recovered and stayed quiet, then
do what the SLA calls for (escalations, reminders, closing), with their notifications.

It runs inside one store transaction that its caller opens, and decides nothing itself:
`flapping`, `lifecycle` and `sla` say what is due, the sweep applies it as the actor
`correlator` (the automation's name in the audit trail). It must never read a clock (the
transaction's `now` is the time) and never touch an alert: that is the correlator's.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ticket_sink.flapping import is_flapping
from ticket_sink.lifecycle import Action, apply, resolve_children
from ticket_sink.model import (
    ACTIVE_STATES,
    AuditEvent,
    NotificationEvent,
    Ticket,
    TicketState,
)
from ticket_sink.sla import SlaPolicy, auto_actions
from ticket_sink.ticket_rows import StoredTicket
from ticket_sink.tickets import TicketTx

__all__ = ["AUTOMATION", "SweepPolicy", "SweepResult", "sweep"]

# Who the sweep's changes are attributed to (the correlator's name for its own changes).
AUTOMATION = "correlator"
ACTOR = AUTOMATION


@dataclass(frozen=True, slots=True)
class SweepPolicy:
    """When a recovered ticket resolves by itself; the defaults are the configuration's."""

    quiet_period: timedelta = timedelta(minutes=2)
    flap_window: timedelta = timedelta(minutes=30)
    flap_max_changes: int = 6


@dataclass(slots=True)
class SweepResult:
    resolved: list[str] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)


async def sweep(tx: TicketTx, sla: SlaPolicy, policy: SweepPolicy) -> SweepResult:
    """Auto-resolve recovered tickets, then do what the SLA calls for, in `tx`."""
    result = SweepResult()
    await _auto_resolve(tx, policy, result)
    await _sla_actions(tx, sla, result)
    return result


async def _auto_resolve(tx: TicketTx, policy: SweepPolicy, result: SweepResult) -> None:
    now, quiet = tx.now, policy.quiet_period
    for stored in await tx.recovered_before(now - quiet):
        ticket = stored.ticket
        if ticket.state not in ACTIVE_STATES or ticket.id in result.resolved:
            continue
        changes = stored.correlation.alert_changes
        if is_flapping(
            changes,
            now,
            window=policy.flap_window,
            max_changes=policy.flap_max_changes,
        ):
            continue  # a flapping ticket stays open until it is stable
        children = await tx.children(ticket.id)
        if any(_still_failing(child, now, quiet) for child in children):
            continue
        resolution = f"recovered: every alert stayed clear for {_span(quiet)}"
        resolved, events = _resolve(ticket, resolution, now)
        flag = dataclasses.replace(stored.correlation, flapping=False)
        await tx.save(resolved, events, flag)
        result.resolved.append(ticket.id)
        for child, child_events in resolve_children(
            resolved, [c.ticket for c in children], actor=ACTOR, at=now
        ):
            await tx.save(child, child_events)
            result.resolved.append(child.id)
        if ticket.master_id is None and stored.correlation.notify:
            await tx.enqueue(
                NotificationEvent.RESOLVED, resolved, children=len(children), detail=resolution
            )


async def _sla_candidates(tx: TicketTx, sla: SlaPolicy) -> list[StoredTicket]:
    """Business time never runs faster than wall time, so nothing can be due before
    the same span of wall time has passed: at risk after `at_risk_fraction` of the
    shortest target, a reminder or closing after that many (calendar) days."""
    now = tx.now
    clocks_before = {}
    for severity, target in sla.targets.items():
        goals = [
            target.least_business_time(goal)
            for goal in (target.response, target.resolution)
            if goal is not None
        ]
        if goals:
            clocks_before[int(severity)] = now - min(goals) * sla.at_risk_fraction
    return await tx.sla_candidates(
        clocks_before=clocks_before,
        hold_before=now - timedelta(days=sla.remind_every_business_days),
        resolved_before=now - timedelta(days=sla.close_resolved_after_business_days),
    )


async def _sla_actions(tx: TicketTx, sla: SlaPolicy, result: SweepResult) -> None:
    now = tx.now
    # Children follow their master; closing after a resolution is their own.
    for stored in await _sla_candidates(tx, sla):
        ticket = stored.ticket
        for action in auto_actions(ticket, sla, now):
            ticket, events = apply(
                ticket,
                action.action,
                actor=ACTOR,
                at=action.at,
                reason=action.reason,
                mark=action.mark,
            )
            await tx.save(ticket, events)
            result.actions[action.action.value] += 1
            if not stored.correlation.notify or ticket.master_id is not None:
                continue
            for event in _sla_events(action.action, action.mark):
                await tx.enqueue(event, ticket, detail=action.why)


def _sla_events(action: Action, mark: str | None) -> list[NotificationEvent]:
    if action is Action.ESCALATE:
        condition = (
            NotificationEvent.SLA_BREACHED
            if mark and mark.endswith("breached")
            else (NotificationEvent.SLA_AT_RISK)
        )
        return [NotificationEvent.ESCALATED, condition]
    if action is Action.REMIND:
        return [NotificationEvent.REMINDER]
    return []


def _still_failing(child: StoredTicket, now: datetime, quiet: timedelta) -> bool:
    if child.ticket.state not in ACTIVE_STATES:
        return False
    recovered = child.correlation.recovered_at
    return child.correlation.firing or recovered is None or now - recovered < quiet


def _resolve(ticket: Ticket, resolution: str, at: datetime) -> tuple[Ticket, list[AuditEvent]]:
    events: list[AuditEvent] = []
    if ticket.state is TicketState.NEW:
        ticket, events = apply(ticket, Action.ACKNOWLEDGE, actor=ACTOR, at=at)
    ticket, resolved = apply(ticket, Action.RESOLVE, actor=ACTOR, at=at, resolution=resolution)
    return ticket, events + resolved


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
