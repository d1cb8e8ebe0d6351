"""Service-desk scenarios on a simulated clock, every deadline and audit event computed by
hand (the comments show the arithmetic). A tiny driver plays the part of the later SLA
driver: at each instant it applies what `auto_actions` asks for, at the instant it fell due.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ticket_sink.lifecycle import Action, apply
from ticket_sink.model import (
    AuditEvent,
    CloseReason,
    EscalationLevel,
    Severity,
    Ticket,
    TicketState,
    TicketType,
)
from ticket_sink.sla import (
    AutoAction,
    BusinessDays,
    Deadlines,
    auto_actions,
    deadlines,
    default_policy,
    status,
)

BRUSSELS = ZoneInfo("Europe/Brussels")  # November: CET, UTC+01:00
H = timedelta(hours=1)
CONTACTS = {
    EscalationLevel.TECHNICAL_TEAMS: ("pki-team@example.org",),
    EscalationLevel.VENDOR: ("vendor-support@example.org",),
}
POLICY = dataclasses.replace(default_policy(), contacts=CONTACTS)


def bx(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BRUSSELS)


def iso(month: int, day: int, hour: int, minute: int = 0) -> str:
    return bx(month, day, hour, minute).isoformat()


class Desk:
    """One ticket, its audit trail, and the SLA driver's part."""

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.events: list[AuditEvent] = []
        self.notified: list[tuple[datetime, tuple[str, ...]]] = []

    def do(self, action: Action, actor: str, at: datetime, **args: object) -> None:
        self.ticket, events = apply(self.ticket, action, actor=actor, at=at, **args)  # type: ignore[arg-type]
        self.events += events

    def tick(self, now: datetime) -> list[AutoAction]:
        """Apply every automatic action due at `now`; return what was done."""
        done = []
        while todo := auto_actions(self.ticket, POLICY, now):
            for step in todo:
                self.do(step.action, "sla", step.at, reason=step.reason, mark=step.mark)
                if step.notify:
                    self.notified.append((step.at, step.notify))
            done += todo
        return done

    def new_events(self, since: int) -> list[tuple[str, str, str, str, str | None, str | None]]:
        return [
            (e.actor, e.at.isoformat(), e.action, e.field, e.before, e.after)
            for e in self.events[since:]
        ]


def test_policy_defaults() -> None:
    assert POLICY.at_risk_fraction == 0.75
    blocking, major = POLICY.targets[Severity.BLOCKING], POLICY.targets[Severity.MAJOR]
    assert (blocking.response, blocking.resolution) == (H, 4 * H)
    assert (major.response, major.resolution) == (BusinessDays(1), BusinessDays(3))
    assert POLICY.targets[Severity.MINOR].response is None
    assert POLICY.targets[Severity.INFO].resolution is None


def test_severity_1_friday_evening_held_monday_resolved_tuesday_closes_by_itself() -> None:
    desk = Desk(
        Ticket(
            id="INC-1",
            fingerprint="763cff321d9e4e884356a0380595decf",
            title="CRL of the eDelivery issuing CA unreachable",
            type=TicketType.INCIDENT,
            severity=Severity.BLOCKING,
            created_at=bx(11, 20, 19),  # Friday 20 November, 19:00
            assignee_group="service-desk",
        )
    )
    # 24/7: response due one hour later, resolution four hours later.
    assert deadlines(desk.ticket, POLICY) == Deadlines(bx(11, 20, 20), bx(11, 20, 23))
    assert desk.tick(bx(11, 20, 19, 15)) == []

    desk.do(Action.ACKNOWLEDGE, "alice", bx(11, 20, 19, 20))  # 20 min: response met
    desk.do(Action.START, "alice", bx(11, 20, 19, 30))
    # 75 % of 4 h is 3 h after 19:00: at risk at 22:00 -> technical teams.
    assert desk.tick(bx(11, 20, 21, 59)) == []
    assert [a.at for a in desk.tick(bx(11, 20, 22, 5))] == [bx(11, 20, 22)]
    # Breached at 23:00 -> vendor. Nothing more after that: the top level is reached.
    assert [a.at for a in desk.tick(bx(11, 20, 23, 30))] == [bx(11, 20, 23)]
    assert desk.tick(bx(11, 21, 12)) == []
    assert desk.notified == [
        (bx(11, 20, 22), ("pki-team@example.org",)),
        (bx(11, 20, 23), ("vendor-support@example.org",)),
    ]

    desk.do(Action.HOLD, "alice", bx(11, 23, 9))  # Monday: waiting for the CA operator
    held = status(desk.ticket, POLICY, bx(11, 23, 12))
    assert held.resolution is not None
    # Friday 19:00 to Monday 09:00 is 62 h, frozen while on hold.
    assert held.resolution.elapsed == 62 * H
    assert not held.resolution.running
    assert held.resolution.breached
    assert held.resolution.due == bx(11, 20, 23)
    desk.do(Action.RESUME, "alice", bx(11, 23, 15))
    desk.do(Action.RESOLVE, "alice", bx(11, 24, 11), resolution="CRL endpoint back, cache purged")

    done = status(desk.ticket, POLICY, bx(11, 24, 11))
    assert done.response is not None
    assert done.response.met
    assert done.response.elapsed == timedelta(minutes=20)
    assert done.resolution is not None
    assert done.resolution.breached
    # Friday 19:00 to Tuesday 11:00 is 88 h, minus the 6 h on hold.
    assert done.resolution.elapsed == 82 * H
    # The hold came after the due instant, so it does not move it.
    assert deadlines(desk.ticket, POLICY) == Deadlines(bx(11, 20, 20), bx(11, 20, 23))

    # Closes 5 business days after Tuesday 24 11:00: Wed 25, Thu 26, Fri 27, Mon 30, Tue 1.
    assert desk.tick(bx(12, 1, 10, 59)) == []
    assert [(a.action, a.at, a.reason) for a in desk.tick(bx(12, 1, 11, 30))] == [
        (Action.CLOSE, bx(12, 1, 11), CloseReason.RESOLVED)
    ]
    assert desk.ticket.state is TicketState.CLOSED

    assert desk.new_events(0) == [
        ("alice", iso(11, 20, 19, 20), "acknowledge", "state", "new", "open"),
        ("alice", iso(11, 20, 19, 20), "acknowledge", "acknowledged_at", None, iso(11, 20, 19, 20)),
        ("alice", iso(11, 20, 19, 30), "start", "state", "open", "in_progress"),
        ("sla", iso(11, 20, 22), "escalate", "escalation_level", "2", "3"),
        ("sla", iso(11, 20, 22), "escalate", "sla_marks", "", "resolution:at_risk"),
        ("sla", iso(11, 20, 23), "escalate", "escalation_level", "3", "4"),
        (
            "sla",
            iso(11, 20, 23),
            "escalate",
            "sla_marks",
            "resolution:at_risk",
            "resolution:at_risk,resolution:breached",
        ),
        ("alice", iso(11, 23, 9), "hold", "state", "in_progress", "on_hold"),
        ("alice", iso(11, 23, 9), "hold", "on_hold_since", None, iso(11, 23, 9)),
        ("alice", iso(11, 23, 15), "resume", "state", "on_hold", "in_progress"),
        ("alice", iso(11, 23, 15), "resume", "on_hold_since", iso(11, 23, 9), None),
        ("alice", iso(11, 23, 15), "resume", "pauses", "", f"{iso(11, 23, 9)}/{iso(11, 23, 15)}"),
        ("alice", iso(11, 24, 11), "resolve", "state", "in_progress", "resolved"),
        ("alice", iso(11, 24, 11), "resolve", "resolved_at", None, iso(11, 24, 11)),
        (
            "alice",
            iso(11, 24, 11),
            "resolve",
            "resolution",
            None,
            "CRL endpoint back, cache purged",
        ),
        ("sla", iso(12, 1, 11), "close", "state", "resolved", "closed"),
        ("sla", iso(12, 1, 11), "close", "closed_at", None, iso(12, 1, 11)),
        ("sla", iso(12, 1, 11), "close", "close_reason", None, "resolved"),
    ]


def major_ticket() -> Ticket:
    return Ticket(
        id="INC-2",
        fingerprint="4cd9e997300984ba651828a03adc4f47",
        title="Participant 0088:123abc points to the wrong SMP",
        type=TicketType.INCIDENT,
        severity=Severity.MAJOR,
        created_at=bx(11, 10, 16),  # Tuesday 10 November, 16:00; the 11th is a holiday
    )


def test_severity_2_on_business_hours_across_armistice_day() -> None:
    desk = Desk(major_ticket())
    # Response, 10 business hours: Tue 16-18 (2 h), Wed 11 closed, Thu 08:00 + 8 h.
    # Resolution, 30 h: Tue 2, Thu 10, Fri 13 10, Mon 16 08:00 + 8 h.
    assert deadlines(desk.ticket, POLICY) == Deadlines(bx(11, 12, 16), bx(11, 16, 16))
    # Response at risk at 7.5 h: Tue 2 h + Thu 08:00 + 5.5 h = Thu 13:30.
    assert [(a.at, a.mark) for a in desk.tick(bx(11, 12, 13, 45))] == [
        (bx(11, 12, 13, 30), "response:at_risk")
    ]
    desk.do(Action.ACKNOWLEDGE, "alice", bx(11, 12, 14))
    desk.do(Action.START, "alice", bx(11, 12, 14, 30))
    desk.do(Action.HOLD, "alice", bx(11, 12, 16))  # waiting for the participant's logs
    # On hold with time left: no resolution deadline exists until it resumes.
    assert deadlines(desk.ticket, POLICY) == Deadlines(bx(11, 12, 16), None)
    paused = status(desk.ticket, POLICY, bx(11, 16, 9))
    assert paused.resolution is not None
    assert paused.resolution.elapsed == 10 * H
    assert paused.resolution.remaining == 20 * H

    # Reminder 1 after 2 business days: Fri 13 (1), Mon 16 (2) at 16:00.
    assert [(a.action, a.at) for a in desk.tick(bx(11, 16, 17))] == [
        (Action.REMIND, bx(11, 16, 16))
    ]
    desk.do(Action.RESUME, "reporter", bx(11, 17, 10))
    # Paused Thu 16-18 (2 h), Fri 10, Mon 10, Tue 08-10 (2): 24 business hours.
    # 20 h left from Tue 10:00: Tue 8, Wed 10, Thu 08:00 + 2 h.
    assert deadlines(desk.ticket, POLICY).resolution_due == bx(11, 19, 10)
    # At risk at 22.5 h: 10 h before the hold + Tue 8 + Wed 08:00 + 4.5 h = Wed 12:30.
    assert [(a.at, a.mark) for a in desk.tick(bx(11, 18, 13))] == [
        (bx(11, 18, 12, 30), "resolution:at_risk")
    ]
    desk.do(Action.RESOLVE, "alice", bx(11, 18, 15), resolution="SMP URL corrected in the SML")
    final = status(desk.ticket, POLICY, bx(11, 18, 15))
    assert final.resolution is not None
    assert final.resolution.met
    # Tue 2 + Thu 8 + Tue 8 + Wed 7 = 25 business hours of work.
    assert final.resolution.elapsed == 25 * H
    # 5 business days after Wed 18 15:00: Thu 19, Fri 20, Mon 23, Tue 24, Wed 25.
    assert [a.at for a in desk.tick(bx(11, 26, 9))] == [bx(11, 25, 15)]
    assert desk.ticket.escalation_level is EscalationLevel.VENDOR

    assert desk.new_events(0) == [
        ("sla", iso(11, 12, 13, 30), "escalate", "escalation_level", "2", "3"),
        ("sla", iso(11, 12, 13, 30), "escalate", "sla_marks", "", "response:at_risk"),
        ("alice", iso(11, 12, 14), "acknowledge", "state", "new", "open"),
        ("alice", iso(11, 12, 14), "acknowledge", "acknowledged_at", None, iso(11, 12, 14)),
        ("alice", iso(11, 12, 14, 30), "start", "state", "open", "in_progress"),
        ("alice", iso(11, 12, 16), "hold", "state", "in_progress", "on_hold"),
        ("alice", iso(11, 12, 16), "hold", "on_hold_since", None, iso(11, 12, 16)),
        ("sla", iso(11, 16, 16), "remind", "reminders_sent", "0", "1"),
        ("reporter", iso(11, 17, 10), "resume", "state", "on_hold", "in_progress"),
        ("reporter", iso(11, 17, 10), "resume", "on_hold_since", iso(11, 12, 16), None),
        (
            "reporter",
            iso(11, 17, 10),
            "resume",
            "pauses",
            "",
            f"{iso(11, 12, 16)}/{iso(11, 17, 10)}",
        ),
        ("reporter", iso(11, 17, 10), "resume", "reminders_sent", "1", "0"),
        ("sla", iso(11, 18, 12, 30), "escalate", "escalation_level", "3", "4"),
        (
            "sla",
            iso(11, 18, 12, 30),
            "escalate",
            "sla_marks",
            "response:at_risk",
            "resolution:at_risk,response:at_risk",
        ),
        ("alice", iso(11, 18, 15), "resolve", "state", "in_progress", "resolved"),
        ("alice", iso(11, 18, 15), "resolve", "resolved_at", None, iso(11, 18, 15)),
        ("alice", iso(11, 18, 15), "resolve", "resolution", None, "SMP URL corrected in the SML"),
        ("sla", iso(11, 25, 15), "close", "state", "resolved", "closed"),
        ("sla", iso(11, 25, 15), "close", "closed_at", None, iso(11, 25, 15)),
        ("sla", iso(11, 25, 15), "close", "close_reason", None, "resolved"),
    ]


def test_unanswered_reminders_close_the_ticket() -> None:
    desk = Desk(major_ticket())
    desk.do(Action.ACKNOWLEDGE, "alice", bx(11, 12, 9))
    desk.do(Action.HOLD, "alice", bx(11, 12, 16))
    # Every 2 business days from Thu 12: Mon 16, Wed 18, Fri 20; closes after 2 more, Tue 24.
    done = desk.tick(bx(11, 30, 9))
    assert [(a.action, a.at) for a in done] == [
        (Action.REMIND, bx(11, 16, 16)),
        (Action.REMIND, bx(11, 18, 16)),
        (Action.REMIND, bx(11, 20, 16)),
        (Action.CLOSE, bx(11, 24, 16)),
    ]
    assert (desk.ticket.state, desk.ticket.close_reason) == (
        TicketState.CLOSED,
        CloseReason.NO_RESPONSE,
    )
    assert desk.ticket.pauses[-1].end == bx(11, 24, 16)
