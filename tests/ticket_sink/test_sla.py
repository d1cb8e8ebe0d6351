"""SLA arithmetic: the clock never runs while on hold, deadlines only move later with a
longer pause, best effort has no clock, and the boundaries of at risk and breached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticket_sink.lifecycle import Action, apply
from ticket_sink.model import CloseReason, Severity, Ticket, TicketState, TicketType
from ticket_sink.sla import Deadlines, SlaPolicy, auto_actions, deadlines, default_policy, status

BRUSSELS = ZoneInfo("Europe/Brussels")
POLICY = default_policy()
H = timedelta(hours=1)


def bx(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BRUSSELS)


def ticket(severity: Severity, created: datetime) -> Ticket:
    return Ticket("T", "f", "title", TicketType.INCIDENT, severity, created)


def working(severity: Severity, created: datetime) -> Ticket:
    t, _ = apply(ticket(severity, created), Action.ACKNOWLEDGE, actor="a", at=created)
    t, _ = apply(t, Action.START, actor="a", at=created)
    return t


def test_best_effort_has_no_clock() -> None:
    minor = ticket(Severity.MINOR, bx(11, 20, 9))
    assert deadlines(minor, POLICY) == Deadlines(None, None)
    assert status(minor, POLICY, bx(12, 20, 9)).resolution is None
    assert auto_actions(minor, POLICY, bx(12, 20, 9)) == []


def test_at_risk_and_breach_boundaries() -> None:
    new = ticket(Severity.BLOCKING, bx(11, 20, 19))
    before = status(new, POLICY, bx(11, 20, 19, 44)).response
    at_risk = status(new, POLICY, bx(11, 20, 19, 45)).response
    due = status(new, POLICY, bx(11, 20, 20)).response
    after = status(new, POLICY, bx(11, 20, 20, 1)).response
    assert before is not None
    assert at_risk is not None
    assert due is not None
    assert after is not None
    assert (before.at_risk, at_risk.at_risk, due.at_risk, after.at_risk) == (
        False,
        True,
        True,
        False,
    )
    assert (due.breached, after.breached) == (False, True)
    assert after.remaining == -timedelta(minutes=1)


def test_breach_on_a_business_calendar_is_at_closing_time() -> None:
    # Severity 2 created Friday 08:00: response due at 18:00; on Saturday it is breached
    # although no business time has passed since.
    major = ticket(Severity.MAJOR, bx(11, 20, 8))
    saturday = status(major, POLICY, bx(11, 21, 12)).response
    assert saturday is not None
    assert saturday.elapsed == 10 * H
    assert saturday.breached
    assert saturday.due == bx(11, 20, 18)


def test_closing_a_new_ticket_stops_its_clock() -> None:
    new = ticket(Severity.BLOCKING, bx(11, 20, 19))
    closed, _ = apply(
        new, Action.CLOSE, actor="a", at=bx(11, 20, 19, 10), reason=CloseReason.INVALID
    )
    response = status(closed, POLICY, bx(11, 21, 19)).response
    assert response is not None
    assert response.met
    assert not response.running
    assert auto_actions(closed, POLICY, bx(11, 30, 19)) == []


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="at_risk_fraction"):
        SlaPolicy(POLICY.targets, POLICY.business_calendar, at_risk_fraction=1.5)


instants = st.datetimes(
    min_value=datetime(2026, 1, 5), max_value=datetime(2026, 12, 1), timezones=st.just(BRUSSELS)
)
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=12))
severities = st.sampled_from([Severity.BLOCKING, Severity.MAJOR])


@given(severities, instants, spans, spans, spans)
def test_clock_never_runs_while_on_hold(
    severity: Severity, created: datetime, work: timedelta, hold: timedelta, later: timedelta
) -> None:
    held_at, resumed_at = created + work, created + work + hold
    held, _ = apply(working(severity, created), Action.HOLD, actor="a", at=held_at)

    def elapsed(t: Ticket, now: datetime) -> timedelta:
        clock = status(t, POLICY, now).resolution
        assert clock is not None
        return clock.elapsed

    frozen = elapsed(held, held_at)
    assert elapsed(held, resumed_at) == frozen
    resumed, _ = apply(held, Action.RESUME, actor="a", at=resumed_at)
    assert elapsed(resumed, resumed_at) == frozen
    calendar = POLICY.targets[severity].calendar
    assert elapsed(resumed, resumed_at + later) == frozen + calendar.business_time_between(
        resumed_at, resumed_at + later
    )


@given(severities, instants, spans, spans, spans)
def test_deadlines_only_move_later_with_a_longer_pause(
    severity: Severity, created: datetime, work: timedelta, short: timedelta, extra: timedelta
) -> None:
    held_at = created + work
    held, _ = apply(working(severity, created), Action.HOLD, actor="a", at=held_at)
    due = []
    for pause in (short, short + extra):
        resumed, _ = apply(held, Action.RESUME, actor="a", at=held_at + pause)
        resolution_due = deadlines(resumed, POLICY).resolution_due
        assert resolution_due is not None
        due.append(resolution_due.astimezone(UTC))
    assert due[0] <= due[1]
    assert due[0] >= created


@given(severities, instants, spans)
def test_auto_actions_are_done_once(severity: Severity, created: datetime, wait: timedelta) -> None:
    t = working(severity, created)
    now = created + wait
    for _ in range(10):
        todo = auto_actions(t, POLICY, now)
        if not todo:
            break
        for step in todo:
            assert step.at <= now
            t, _ = apply(
                t, step.action, actor="sla", at=step.at, reason=step.reason, mark=step.mark
            )
    assert auto_actions(t, POLICY, now) == []
    assert t.state is not TicketState.CLOSED  # nothing closes a ticket being worked
