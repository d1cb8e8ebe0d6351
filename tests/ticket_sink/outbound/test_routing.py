"""Routing, pure: which sinks get a notification, quiet hours and silences hold it (and
say until when), children stay silent, escalation contacts come from the ticket's level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ticket_sink.model import (
    EscalationLevel,
    Matcher,
    MatchOp,
    Notification,
    NotificationEvent,
    Severity,
    Ticket,
    TicketType,
)
from ticket_sink.outbound.config import NotificationsConfig, QuietHours, parse_matcher
from ticket_sink.outbound.routing import (
    Planned,
    Silence,
    contacts_for,
    hold_until,
    plan,
    quiet_until,
    routes_by_sink,
)
from ticket_sink.ticket_rows import Correlation, StoredTicket

# Friday 6 March 2026, 12:00 UTC = 13:00 in Brussels (CET, UTC+1).
NOON = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def notification(
    event: NotificationEvent = NotificationEvent.CREATED,
    *,
    severity: Severity = Severity.MAJOR,
    level: EscalationLevel = EscalationLevel.SERVICE_DESK,
    master_id: str | None = None,
    **labels: str,
) -> Notification:
    ticket = Ticket(
        id="T1",
        fingerprint="f",
        title="t",
        type=TicketType.INCIDENT,
        severity=severity,
        created_at=NOON,
        labels={"service": "sml", "target": "ns1", **labels},
        master_id=master_id,
        escalation_level=level,
    )
    return Notification("n1", event, ticket, NOON)


def config(**fields: Any) -> NotificationsConfig:
    sinks = {
        "webhook": [
            {"name": name, "url": "http://127.0.0.1:9/"} for name in ("ops", "pager", "chat")
        ]
    }
    return NotificationsConfig.model_validate({"sinks": sinks, **fields})


def stored(n: Notification, *, notify: bool = True) -> StoredTicket:
    return StoredTicket(n.ticket, Correlation(notify=notify))


ROUTES = [
    {"sinks": ["pager"], "severities": [1, 2], "events": ["created", "escalated", "reopened"]},
    {"sinks": ["ops"], "services": ["sml"]},
    {"sinks": ["chat"], "matchers": ['zone=~".*peppol.*"']},
    {"sinks": ["ops", "pager"], "escalation_levels": [4]},
]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param(notification(), {"pager", "ops"}, id="major-created"),
        pytest.param(notification(severity=Severity.MINOR), {"ops"}, id="minor"),
        pytest.param(notification(NotificationEvent.RESOLVED), {"ops"}, id="resolved"),
        pytest.param(notification(service="smp"), {"pager"}, id="other-service"),
        pytest.param(
            notification(zone="participant.sml.prod.tech.peppol.org"),
            {"pager", "ops", "chat"},
            id="matcher",
        ),
        pytest.param(
            notification(
                NotificationEvent.SLA_BREACHED,
                severity=Severity.INFO,
                level=EscalationLevel.VENDOR,
                service="smp",
            ),
            {"ops", "pager"},
            id="vendor-level",
        ),
    ],
)
def test_routes_pick_sinks_by_event_severity_service_level_and_labels(
    case: Notification, expected: set[str]
) -> None:
    assert set(routes_by_sink(case, config(routes=ROUTES))) == expected


def test_without_routes_every_sink_gets_everything() -> None:
    assert set(routes_by_sink(notification(), config())) == {"ops", "pager", "chat"}


def test_children_and_silent_tickets_notify_nobody() -> None:
    cfg = config()
    child = notification(master_id="T0")
    assert plan(child, stored(child), cfg, [], NOON) == []
    master = notification()
    assert plan(master, stored(master, notify=False), cfg, [], NOON) == []
    assert plan(master, None, cfg, [], NOON) == []
    assert len(plan(master, stored(master), cfg, [], NOON)) == 3


NIGHTS = QuietHours.model_validate(
    {
        "time_zone": "Europe/Brussels",
        "windows": [
            {"start": "19:00", "end": "07:00"},
            {"days": ["sat", "sun"], "start": "00:00", "end": "00:00"},
        ],
    }
)


def brussels(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall time in Brussels in March 2026, as a UTC instant."""
    return datetime(2026, 3, day, hour, minute, tzinfo=ZoneInfo("Europe/Brussels")).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        pytest.param(brussels(6, 13), None, id="friday-afternoon"),
        pytest.param(brussels(4, 22), brussels(5, 7), id="weeknight"),
        pytest.param(brussels(5, 6, 59), brussels(5, 7), id="before-seven"),
        pytest.param(brussels(5, 7), None, id="at-seven"),
        # Friday night runs into the weekend, and the weekend into Monday 07:00.
        pytest.param(brussels(6, 20), brussels(9, 7), id="friday-night-to-monday"),
        pytest.param(brussels(7, 12), brussels(9, 7), id="saturday"),
        # 29 March 2026 is the spring-forward Sunday: Monday 07:00 is CEST.
        pytest.param(brussels(28, 12), brussels(30, 7), id="across-dst"),
    ],
)
def test_quiet_hours_hold_until_the_window_ends(now: datetime, until: datetime | None) -> None:
    assert quiet_until(NIGHTS, now) == until


def test_quiet_hours_apply_to_their_routes_only() -> None:
    cfg = config(
        quiet_hours={"nights": NIGHTS.model_dump(mode="json")},
        routes=[
            {"sinks": ["ops"], "quiet_hours": "nights"},
            {"sinks": ["pager"], "severities": [1]},
            {"sinks": ["chat"], "quiet_hours": "nights"},
            {"sinks": ["chat"], "severities": [1]},
        ],
    )
    night = brussels(4, 23)
    minor = notification(severity=Severity.MINOR)
    assert plan(minor, stored(minor), cfg, [], night) == [
        Planned("chat", brussels(5, 7)),
        Planned("ops", brussels(5, 7)),
    ]
    # A blocking ticket also takes the routes without quiet hours: chat gets it at once.
    blocking = notification(severity=Severity.BLOCKING)
    assert plan(blocking, stored(blocking), cfg, [], night) == [
        Planned("chat", None),
        Planned("ops", brussels(5, 7)),
        Planned("pager", None),
    ]


def silence(*matchers: str, start: datetime = NOON, hours: float = 2) -> Silence:
    return Silence(
        "s", tuple(parse_matcher(m) for m in matchers), start, start + timedelta(hours=hours)
    )


def test_silences_hold_matching_tickets_until_they_end() -> None:
    cfg = config()
    n = notification()
    assert hold_until(n, [], cfg, [silence('target="ns1"')], NOON) == NOON + timedelta(hours=2)
    assert hold_until(n, [], cfg, [silence('target="ns2"')], NOON) is None
    later = silence('service="sml"', start=NOON + timedelta(hours=1))
    assert hold_until(n, [], cfg, [later], NOON) is None  # not started yet
    expired = silence('service="sml"', start=NOON - timedelta(hours=3))
    assert hold_until(n, [], cfg, [expired], NOON) is None


def test_holds_that_touch_are_followed_to_the_last_end() -> None:
    cfg = config(
        quiet_hours={"nights": NIGHTS.model_dump(mode="json")},
        routes=[{"sinks": ["ops"], "quiet_hours": "nights"}],
    )
    n = notification()
    # A silence until Friday 20:00 ends inside the night, which ends Monday 07:00.
    friday = brussels(6, 17)
    held = hold_until(
        n,
        routes_by_sink(n, cfg)["ops"],
        cfg,
        [silence('service="sml"', start=friday, hours=3)],
        friday,
    )
    assert held == brussels(9, 7)


@pytest.mark.parametrize(
    ("text", "matcher"),
    [
        ('zone="a b"', Matcher("zone", MatchOp.EQUAL, "a b")),
        ("zone!=x", Matcher("zone", MatchOp.NOT_EQUAL, "x")),
        ('zone=~"a|b"', Matcher("zone", MatchOp.REGEX, "a|b")),
        ('zone !~ "a.*"', Matcher("zone", MatchOp.NOT_REGEX, "a.*")),
    ],
)
def test_matchers_are_written_as_alertmanager_writes_them(text: str, matcher: Matcher) -> None:
    assert parse_matcher(text) == matcher


def test_escalation_contacts_come_from_the_tickets_level() -> None:
    cfg = config(escalation_contacts={2: ["desk@example.org"], 3: ["ops@example.org"]})
    assert contacts_for(notification(), cfg) == ("desk@example.org",)
    third = notification(level=EscalationLevel.TECHNICAL_TEAMS)
    assert contacts_for(third, cfg) == ("ops@example.org",)
    assert contacts_for(notification(level=EscalationLevel.VENDOR), cfg) == ()
