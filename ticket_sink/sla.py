"""SLA clocks: targets per severity, deadlines, status and the automatic actions they call for.

Each ticket has two clocks: response (from creation until acknowledged) and resolution
(until resolved). They run on the severity's calendar (24/7 or business hours) and never
while the ticket is on hold or resolved (`Ticket.pauses`, `Ticket.on_hold_since`).
Everything here is pure: `now` is passed in, nothing is changed or sent. `auto_actions`
only says what is due; a driver does it through `lifecycle.apply`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ticket_sink.calendar import BRUSSELS, AlwaysOpen, Calendar, belgian_calendar
from ticket_sink.lifecycle import TRANSITIONS, Action
from ticket_sink.model import CloseReason, EscalationLevel, Severity, Ticket, TicketState

__all__ = [
    "AutoAction",
    "Clock",
    "ClockStatus",
    "Deadlines",
    "SlaPolicy",
    "SlaStatus",
    "SlaTarget",
    "auto_actions",
    "deadlines",
    "default_policy",
    "status",
]

# One business day of the default office hours (08:00-18:00).
BUSINESS_DAY = timedelta(hours=10)


class Clock(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """The targets of one severity; `None` is best effort (no clock)."""

    response: timedelta | None
    resolution: timedelta | None
    calendar: Calendar


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Targets per severity, and the service desk's own rules for holds and resolutions.

    Reminders and the closing of resolved tickets count days of `business_calendar`,
    whatever the severity's calendar: they follow the desk's working days.
    """

    targets: Mapping[Severity, SlaTarget]
    business_calendar: Calendar
    at_risk_fraction: float = 0.75
    remind_every_business_days: int = 2
    reminders_before_close: int = 3
    close_resolved_after_business_days: int = 5
    contacts: Mapping[EscalationLevel, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.at_risk_fraction <= 1:
            raise ValueError(f"at_risk_fraction must be in (0, 1], got {self.at_risk_fraction}")
        for severity, target in self.targets.items():
            for name, value in (("response", target.response), ("resolution", target.resolution)):
                if value is not None and value <= timedelta(0):
                    raise ValueError(f"severity {severity} {name} target must be positive")


def default_policy(years: Iterable[int]) -> SlaPolicy:
    """The defaults, modelled on a real second-level service desk.

    Severity 1: response 1 h, resolution 4 h, around the clock (Brussels time). Severity 2:
    response one business day, resolution three (10 business hours a day, Monday-Friday
    08:00-18:00 Europe/Brussels, Belgian public holidays of `years`). Severity 3 and 4:
    best effort. At risk at 75 % of a target; on hold, a reminder every 2 business days
    and closing after 3 unanswered ones; resolved tickets close after 5 business days.
    """
    office = belgian_calendar(years)
    around_the_clock = AlwaysOpen(BRUSSELS)
    return SlaPolicy(
        targets={
            Severity.BLOCKING: SlaTarget(timedelta(hours=1), timedelta(hours=4), around_the_clock),
            Severity.MAJOR: SlaTarget(BUSINESS_DAY, 3 * BUSINESS_DAY, office),
            Severity.MINOR: SlaTarget(None, None, office),
            Severity.INFO: SlaTarget(None, None, office),
        },
        business_calendar=office,
    )


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When each clock's target falls due; `None` for best effort or while on hold."""

    response_due: datetime | None
    resolution_due: datetime | None


@dataclass(frozen=True, slots=True)
class ClockStatus:
    clock: Clock
    target: timedelta
    due: datetime | None  # None while paused with time left
    elapsed: timedelta  # business time the clock ran
    remaining: timedelta  # target - elapsed; negative once over
    running: bool
    met: bool  # stopped (acknowledged, resolved) before its due instant
    at_risk: bool  # running or paused, elapsed >= at_risk_fraction of the target
    breached: bool


@dataclass(frozen=True, slots=True)
class SlaStatus:
    response: ClockStatus | None
    resolution: ClockStatus | None


@dataclass(frozen=True, slots=True)
class AutoAction:
    """An action the SLA calls for, due since `at`: apply it with `lifecycle.apply(ticket,
    action, at=at, reason=reason, mark=mark, ...)` and notify `notify`."""

    action: Action
    at: datetime
    why: str
    reason: CloseReason | None = None
    mark: str | None = None
    notify: tuple[str, ...] = ()


def _stop(ticket: Ticket, clock: Clock) -> datetime | None:
    """When the clock stopped for good (target met or ticket closed)."""
    done = ticket.acknowledged_at if clock is Clock.RESPONSE else ticket.resolved_at
    return done if done is not None else ticket.closed_at


def _running_periods(
    ticket: Ticket, stop: datetime | None
) -> list[tuple[datetime, datetime | None]]:
    """The periods the clock ran, as UTC instants; the last one is open (None) if it runs."""
    periods: list[tuple[datetime, datetime | None]] = []
    stop = None if stop is None else stop.astimezone(UTC)
    cursor = ticket.created_at.astimezone(UTC)
    for pause in sorted(ticket.pauses, key=lambda p: p.start.astimezone(UTC)):
        if stop is not None and pause.start >= stop:
            break
        periods.append((cursor, pause.start.astimezone(UTC)))
        cursor = max(cursor, pause.end.astimezone(UTC))
    end = stop if stop is not None else ticket.on_hold_since
    periods.append((cursor, None if end is None else max(cursor, end.astimezone(UTC))))
    return periods


def _instant_when(
    ticket: Ticket, calendar: Calendar, budget: timedelta, stop: datetime | None
) -> datetime | None:
    """When `budget` of running time is used up; None if the clock is paused first.

    A clock stopped for good gets the instant it would have reached had it kept running,
    so a met target still shows its due instant.
    """
    remaining = budget
    for start, end in _running_periods(ticket, stop):
        if end is None:
            return calendar.add_business_time(start, remaining)
        ran = calendar.business_time_between(start, end)
        if ran >= remaining:
            return calendar.add_business_time(start, remaining)
        remaining -= ran
    if stop is None:
        return None  # on hold with time left: the clock is stopped, nothing falls due
    return calendar.add_business_time(stop, remaining)


def _elapsed(ticket: Ticket, calendar: Calendar, stop: datetime | None, now: datetime) -> timedelta:
    total = timedelta(0)
    for start, end in _running_periods(ticket, stop):
        until = now if end is None else min(end, now.astimezone(UTC))
        total += calendar.business_time_between(start, until)
    return total


def deadlines(ticket: Ticket, policy: SlaPolicy) -> Deadlines:
    """Due instants of both clocks, past pauses accounted for (see `Deadlines`)."""
    target = policy.targets[ticket.severity]
    due = [
        None if goal is None else _instant_when(ticket, target.calendar, goal, _stop(ticket, clock))
        for clock, goal in (
            (Clock.RESPONSE, target.response),
            (Clock.RESOLUTION, target.resolution),
        )
    ]
    return Deadlines(due[0], due[1])


def _clock_status(
    ticket: Ticket, policy: SlaPolicy, clock: Clock, goal: timedelta, now: datetime
) -> ClockStatus:
    calendar = policy.targets[ticket.severity].calendar
    stop = _stop(ticket, clock)
    due = _instant_when(ticket, calendar, goal, stop)
    elapsed = _elapsed(ticket, calendar, stop, now)
    paused_at = ticket.on_hold_since if clock is Clock.RESOLUTION else None
    end = stop or paused_at or now
    breached = due is not None and end.astimezone(UTC) > due.astimezone(UTC)
    met = stop is not None and stop <= now and not breached
    return ClockStatus(
        clock=clock,
        target=goal,
        due=due,
        elapsed=elapsed,
        remaining=goal - elapsed,
        running=stop is None and paused_at is None,
        met=met,
        at_risk=not met and not breached and elapsed >= goal * policy.at_risk_fraction,
        breached=breached,
    )


def status(ticket: Ticket, policy: SlaPolicy, now: datetime) -> SlaStatus:
    """Both clocks at `now` (None for a best-effort clock)."""
    target = policy.targets[ticket.severity]
    response, resolution = (
        None if goal is None else _clock_status(ticket, policy, clock, goal, now)
        for clock, goal in (
            (Clock.RESPONSE, target.response),
            (Clock.RESOLUTION, target.resolution),
        )
    )
    return SlaStatus(response, resolution)


def _escalations(ticket: Ticket, policy: SlaPolicy, now: datetime) -> list[AutoAction]:
    if ticket.state not in TRANSITIONS[Action.ESCALATE].sources:
        return []
    if ticket.escalation_level >= EscalationLevel.VENDOR:
        return []
    target = policy.targets[ticket.severity]
    for clock, goal in ((Clock.RESPONSE, target.response), (Clock.RESOLUTION, target.resolution)):
        if goal is None:
            continue
        state = _clock_status(ticket, policy, clock, goal, now)
        # Breached outranks at risk: a driver that was down escalates once, not twice.
        condition = "breached" if state.breached else "at_risk" if state.at_risk else None
        mark = f"{clock}:{condition}"
        if condition is None or mark in ticket.sla_marks:
            continue
        budget = goal if state.breached else goal * policy.at_risk_fraction
        since = _instant_when(ticket, target.calendar, budget, _stop(ticket, clock))
        level = EscalationLevel(ticket.escalation_level + 1)
        return [
            AutoAction(
                Action.ESCALATE,
                at=since or now,
                why=f"{clock} target {condition.replace('_', ' ')}",
                mark=mark,
                notify=tuple(policy.contacts.get(level, ())),
            )
        ]
    return []


def _hold_or_close(ticket: Ticket, policy: SlaPolicy, now: datetime) -> list[AutoAction]:
    desk = policy.business_calendar
    if ticket.state is TicketState.ON_HOLD and ticket.on_hold_since is not None:
        sent = ticket.reminders_sent
        due = desk.add_business_days(
            ticket.on_hold_since, (sent + 1) * policy.remind_every_business_days
        )
        if now < due:
            return []
        if sent < policy.reminders_before_close:
            return [AutoAction(Action.REMIND, at=due, why=f"reminder {sent + 1} while on hold")]
        why = f"{sent} reminders unanswered"
        return [AutoAction(Action.CLOSE, at=due, why=why, reason=CloseReason.NO_RESPONSE)]
    if ticket.state is TicketState.RESOLVED and ticket.resolved_at is not None:
        days = policy.close_resolved_after_business_days
        due = desk.add_business_days(ticket.resolved_at, days)
        if now >= due:
            why = f"resolution not rejected within {days} business days"
            return [AutoAction(Action.CLOSE, at=due, why=why, reason=CloseReason.RESOLVED)]
    return []


def auto_actions(ticket: Ticket, policy: SlaPolicy, now: datetime) -> list[AutoAction]:
    """What the SLA calls for at `now`, at most one escalation and one other action.

    Each action carries the instant it fell due. A driver applies them in order and asks
    again (a driver that was away catches up one step at a time: reminder 1, reminder 2,
    ...); actions already applied are not returned again.
    """
    return _escalations(ticket, policy, now) + _hold_or_close(ticket, policy, now)
