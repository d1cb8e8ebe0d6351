"""SLA clocks: targets per severity, deadlines, status and the automatic actions they call for.

Each ticket has two clocks: response (from creation until acknowledged) and resolution
(until resolved). They run on the severity's calendar (24/7 or business hours) and never
while the ticket is on hold or resolved (`Ticket.pauses`, `Ticket.on_hold_since`).
A target is a span of business time or a number of the desk's business days
(`BusinessDays`), which gives each ticket the business time its calendar counts from its
creation. Everything here is pure: `now` is passed in, nothing is changed or sent. `auto_actions`
only says what is due; a driver does it through `lifecycle.apply`. `plan` works out what a
ticket's clocks owe to the ticket alone, once, for a caller asking for them at many times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from ticket_sink.calendar import AlwaysOpen, Calendar, belgian_calendar
from ticket_sink.lifecycle import TRANSITIONS, Action
from ticket_sink.model import CloseReason, EscalationLevel, Severity, Ticket, TicketState

__all__ = [
    "AutoAction",
    "BusinessDays",
    "Clock",
    "ClockPlan",
    "ClockReading",
    "ClockStatus",
    "Deadlines",
    "Goal",
    "SlaPlan",
    "SlaPolicy",
    "SlaStatus",
    "SlaTarget",
    "auto_actions",
    "deadlines",
    "default_policy",
    "plan",
    "status",
]


class Clock(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class BusinessDays:
    """A target of `days` of the desk's business days ("1bd"): what that is in business
    time depends on when the clock starts (`Calendar.business_days_as_time`)."""

    days: int

    def __post_init__(self) -> None:
        if self.days <= 0:
            raise ValueError(f"a target of business days must be positive, got {self.days}")

    def __str__(self) -> str:
        return f"{self.days}bd"


Goal = timedelta | BusinessDays


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """The targets of one severity; `None` is best effort (no clock)."""

    response: Goal | None
    resolution: Goal | None
    calendar: Calendar

    def business_time(self, goal: Goal, start: datetime) -> timedelta:
        """`goal` as business time for a clock started at `start`."""
        if isinstance(goal, BusinessDays):
            return self.calendar.business_days_as_time(start, goal.days)
        return goal

    def least_business_time(self, goal: Goal) -> timedelta:
        """No ticket's clock gets less business time than this for `goal`."""
        if isinstance(goal, BusinessDays):
            return goal.days * self.calendar.shortest_day()
        return goal


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
                if isinstance(value, timedelta) and value <= timedelta(0):
                    raise ValueError(f"severity {severity} {name} target must be positive")


def default_policy(office: Calendar | None = None) -> SlaPolicy:
    """The defaults, modelled on a real second-level service desk.

    Severity 1: response 1 h, resolution 4 h, around the clock (in the office's time zone).
    Severity 2: response one business day, resolution three, of `office` (by default
    Monday-Friday 08:00-18:00 Europe/Brussels, Belgian public holidays). Severity 3 and 4:
    best effort. At risk at 75 % of a target; on hold, a reminder every 2 business days
    and closing after 3 unanswered ones; resolved tickets close after 5 business days.
    """
    office = office or belgian_calendar()
    around_the_clock = AlwaysOpen(office.timezone)
    return SlaPolicy(
        targets={
            Severity.BLOCKING: SlaTarget(timedelta(hours=1), timedelta(hours=4), around_the_clock),
            Severity.MAJOR: SlaTarget(BusinessDays(1), BusinessDays(3), office),
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


class ClockReading(NamedTuple):
    """The part of a `ClockStatus` that depends on the time."""

    elapsed: timedelta
    remaining: timedelta
    running: bool
    met: bool
    at_risk: bool
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


def deadlines(ticket: Ticket, policy: SlaPolicy) -> Deadlines:
    """Due instants of both clocks, past pauses accounted for (see `Deadlines`)."""
    target = policy.targets[ticket.severity]
    due = [
        None
        if goal is None
        else _instant_when(
            ticket,
            target.calendar,
            target.business_time(goal, ticket.created_at),
            _stop(ticket, clock),
        )
        for clock, goal in (
            (Clock.RESPONSE, target.response),
            (Clock.RESOLUTION, target.resolution),
        )
    ]
    return Deadlines(due[0], due[1])


# `ClockPlan.ended_at` of a clock none of whose periods has ended: before any instant.
_NEVER = datetime.min.replace(tzinfo=UTC)
# The resolution of datetimes: the instant after another.
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ClockPlan:
    """What a clock's status owes to the ticket alone (see `SlaPlan`)."""

    clock: Clock
    target: timedelta
    due: datetime | None
    calendar: Calendar
    at_risk_after: timedelta  # the elapsed time past which it is at risk
    stop: datetime | None  # when it stopped for good
    halted_at: datetime | None  # in UTC: when it stopped or its hold began; None: it runs
    due_utc: datetime | None
    # The periods it ran that ended, in UTC, their business time in all, and when the
    # last of them ended; the start of the period it still runs in, if it does.
    ended: tuple[tuple[datetime, datetime], ...]
    ran: timedelta
    ended_at: datetime
    running_since: datetime | None
    # From this UTC instant on, `reading` gives what it gives there; None while it runs.
    settled_at: datetime | None
    # The calendar span (see `Calendar.span_at`) a reading of the running clock was last
    # in, from when the clock ran in it: (start, end, time run at start, open). A reading
    # within it costs a subtraction; one outside finds the next.
    _segment: list[tuple[datetime, datetime, timedelta, bool] | None] = field(
        default_factory=lambda: [None], init=False, repr=False, compare=False
    )

    def at(self, now: datetime) -> ClockStatus:
        return ClockStatus(self.clock, self.target, self.due, *self.reading(now))

    def reading(self, now: datetime) -> ClockReading:
        """`at(now)` but for what the plan fixes: cheaper, for a caller that has those."""
        now_utc = now if now.tzinfo is UTC else now.astimezone(UTC)
        elapsed = self._elapsed(now_utc)
        due_utc = self.due_utc
        breached = due_utc is not None and (self.halted_at or now_utc) > due_utc
        met = self.stop is not None and self.stop <= now and not breached
        at_risk = not met and not breached and elapsed >= self.at_risk_after
        running = self.halted_at is None
        return ClockReading(elapsed, self.target - elapsed, running, met, at_risk, breached)

    def _elapsed(self, now_utc: datetime) -> timedelta:
        running_since = self.running_since
        if running_since is not None and now_utc >= running_since:
            # Within a span of the calendar's (open or closed throughout), the time run is
            # what it was at the span's start, plus the wall time since if it is open.
            segment = self._segment[0]
            if segment is None or not segment[0] <= now_utc < segment[1]:
                span_start, span_end, is_open = self.calendar.span_at(now_utc)
                start = max(span_start, running_since)
                ran = self.ran + self.calendar.business_time_between(running_since, start)
                segment = self._segment[0] = (start, span_end, ran, is_open)
            start, _, ran, is_open = segment
            return ran + (now_utc - start) if is_open else ran
        if now_utc >= self.ended_at:
            return self.ran
        # An instant before some of the clock's past: the periods up to it.
        return sum(
            (
                self.calendar.business_time_between(start, min(end, now_utc))
                for start, end in self.ended
            ),
            timedelta(0),
        )


def _clock_plan(ticket: Ticket, policy: SlaPolicy, clock: Clock, goal: timedelta) -> ClockPlan:
    calendar = policy.targets[ticket.severity].calendar
    stop = _stop(ticket, clock)
    halted_at = stop or (ticket.on_hold_since if clock is Clock.RESOLUTION else None)
    due = _instant_when(ticket, calendar, goal, stop)
    periods = _running_periods(ticket, stop)
    ended = tuple((start, end) for start, end in periods if end is not None)
    running_since = next((start for start, end in periods if end is None), None)
    due_utc = None if due is None else due.astimezone(UTC)
    ended_at = max((end for _, end in ended), default=_NEVER)
    # What a reading compares `now` with: the end of the periods (past it, the elapsed time
    # is theirs), the stop (past it, met is settled), and just past the due instant
    # (breached, while no halt decides it).
    settled_at = (
        None
        if running_since is not None
        else max(
            ended_at,
            _NEVER if stop is None else stop.astimezone(UTC),
            _NEVER if due_utc is None else due_utc + _TICK,
        )
    )
    return ClockPlan(
        clock=clock,
        target=goal,
        due=due,
        calendar=calendar,
        at_risk_after=goal * policy.at_risk_fraction,
        stop=stop,
        halted_at=None if halted_at is None else halted_at.astimezone(UTC),
        due_utc=due_utc,
        ended=ended,
        ran=sum((calendar.business_time_between(start, end) for start, end in ended), timedelta(0)),
        ended_at=ended_at,
        running_since=running_since,
        settled_at=settled_at,
    )


@dataclass(frozen=True, slots=True)
class SlaPlan:
    """A ticket's clocks but for the time: `at(now)` is `status(ticket, policy, now)`, at
    the cost of what depends on `now` alone."""

    response: ClockPlan | None
    resolution: ClockPlan | None

    def at(self, now: datetime) -> SlaStatus:
        return SlaStatus(
            None if self.response is None else self.response.at(now),
            None if self.resolution is None else self.resolution.at(now),
        )


def plan(ticket: Ticket, policy: SlaPolicy) -> SlaPlan:
    """What both clocks owe to `ticket` and `policy` (None for a best-effort clock)."""
    target = policy.targets[ticket.severity]
    response, resolution = (
        None
        if goal is None
        else _clock_plan(ticket, policy, clock, target.business_time(goal, ticket.created_at))
        for clock, goal in (
            (Clock.RESPONSE, target.response),
            (Clock.RESOLUTION, target.resolution),
        )
    )
    return SlaPlan(response, resolution)


def status(ticket: Ticket, policy: SlaPolicy, now: datetime) -> SlaStatus:
    """Both clocks at `now` (None for a best-effort clock)."""
    return plan(ticket, policy).at(now)


def _escalations(ticket: Ticket, policy: SlaPolicy, now: datetime) -> list[AutoAction]:
    if ticket.state not in TRANSITIONS[Action.ESCALATE].sources:
        return []
    if ticket.escalation_level >= EscalationLevel.VENDOR:
        return []
    target = policy.targets[ticket.severity]
    clocks = status(ticket, policy, now)
    for state in (clocks.response, clocks.resolution):
        if state is None:
            continue
        clock, goal = state.clock, state.target
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
