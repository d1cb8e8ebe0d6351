"""The `correlator:` section: defaults that match the documented service desk, overrides
of rules, SLA targets and business hours, topology derived from the SML targets, and
located errors for what cannot work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from correlator.rules import DEFAULT_RULES
from ticket_sink.calendar import AlwaysOpen, BusinessCalendar
from ticket_sink.model import Severity
from ticket_sink.sla import BusinessDays
from vigie.config import ConfigError, parse_config

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def problems_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="vigie.yaml")
    return [(p.location, p.message) for p in caught.value.problems]


def test_the_defaults_are_the_documented_desk() -> None:
    config = parse_config("{}").correlator
    policy = config.sla_policy()
    blocking, major = policy.targets[Severity.BLOCKING], policy.targets[Severity.MAJOR]
    assert (blocking.response, blocking.resolution) == (timedelta(hours=1), timedelta(hours=4))
    assert isinstance(blocking.calendar, AlwaysOpen)
    assert (major.response, major.resolution) == (BusinessDays(1), BusinessDays(3))
    office = major.calendar
    assert isinstance(office, BusinessCalendar)
    assert office.weekly_hours[0] == ((time(8), time(18)),)
    assert 5 not in office.weekly_hours  # closed on Saturdays
    assert not office.is_business_day(date(2026, 11, 11))  # Armistice Day, a Belgian holiday
    assert not office.is_business_day(date(2041, 11, 11))  # ...in any year
    assert policy.targets[Severity.MINOR].response is None
    correlation = config.policy([])
    assert correlation.group_by == ("service", "alertname")
    assert correlation.reopen_window == timedelta(hours=1)
    assert config.alert_rules() == DEFAULT_RULES


def test_sla_targets_hours_holidays_and_contacts_are_configurable() -> None:
    config = parse_config(
        """
correlator:
  sla:
    timezone: Europe/Paris
    business_hours: {mon: ["09:00-12:00", "13:00-17:00"], sat: ["10:00-12:00"]}
    holidays: null
    targets:
      1: {response: 30m, resolution: 2h, calendar: always}
      2: {response: 4h}
"""
    ).correlator
    policy = config.sla_policy()
    office = policy.business_calendar
    assert isinstance(office, BusinessCalendar)
    assert str(office.timezone) == "Europe/Paris"
    assert office.weekly_hours == {
        0: ((time(9), time(12)), (time(13), time(17))),
        5: ((time(10), time(12)),),
    }
    assert office.public_holidays is None
    assert office.is_business_day(date(2026, 12, 28))  # a Monday
    blocking = policy.targets[Severity.BLOCKING]
    assert (blocking.response, blocking.resolution) == (timedelta(minutes=30), timedelta(hours=2))
    assert isinstance(blocking.calendar, AlwaysOpen)
    major = policy.targets[Severity.MAJOR]
    assert (major.response, major.resolution, major.calendar) == (timedelta(hours=4), None, office)
    assert policy.targets[Severity.MINOR].response is None  # not listed: best effort


def test_a_regional_desk_with_half_days_and_targets_in_business_days() -> None:
    config = parse_config(
        """
correlator:
  sla:
    timezone: Atlantic/Canary
    business_hours: {mon: ["09:00-12:30", "13:30-17:30"], fri: ["09:00-13:00"]}
    holidays: ES
    holiday_subdivision: CN
    closed_days: [2026-12-31]
    half_days: {2026-12-24: ["09:00-13:00"], 2026-12-28: []}
    targets:
      2: {response: 1bd, resolution: 3BD}
      3: {response: 8h}
"""
    ).correlator
    policy = config.sla_policy()
    office = policy.business_calendar
    assert isinstance(office, BusinessCalendar)
    major = policy.targets[Severity.MAJOR]
    assert (major.response, major.resolution) == (BusinessDays(1), BusinessDays(3))
    assert policy.targets[Severity.MINOR].response == timedelta(hours=8)
    # Monday 2 November 2026 is a holiday of the Canary Islands only.
    assert not office.is_business_day(date(2026, 11, 2))
    assert office.public_holidays is not None
    assert office.public_holidays.name(date(2026, 11, 2)) == "Monday following All Saints' Day"
    assert office.hours_on(date(2026, 12, 24)) == ((time(9), time(13)),)  # a Thursday
    assert office.hours_on(date(2026, 12, 28)) == ()  # a Monday, closed
    assert office.hours_on(date(2026, 12, 31)) == ()
    assert office.hours_on(date(2027, 1, 4)) == (
        (time(9), time(12, 30)),
        (time(13, 30), time(17, 30)),
    )


def test_rule_overrides_change_only_the_named_rule() -> None:
    config = parse_config(
        """
correlator:
  rules:
    - {alert: CertificateExpiring, severity: 2, for: 1h}
"""
    ).correlator
    rules = {rule.name: rule for rule in config.alert_rules()}
    assert rules["CertificateExpiring"].severity is Severity.MAJOR
    assert rules["CertificateExpiring"].for_seconds == 3600
    unchanged = [r for r in config.alert_rules() if r.name != "CertificateExpiring"]
    assert unchanged == [r for r in DEFAULT_RULES if r.name != "CertificateExpiring"]


def test_topology_comes_from_the_sml_targets_and_the_extra_dependencies() -> None:
    config = parse_config(
        """
targets:
  sml:
    - zone: sml.example.test
      nameservers: ["192.0.2.1:53", "192.0.2.2:53"]
      participants: [{id: "iso6523-actorid-upis::0088:1"}]
correlator:
  dependencies:
    - parent: "https://smp.example.test"
      dependant: "iso6523-actorid-upis::0088:1@sml.example.test"
"""
    )
    topology = config.correlator.policy(config.targets.sml).topology
    participant = "iso6523-actorid-upis::0088:1@sml.example.test"
    assert set(topology.ancestors(participant)) == {
        "sml.example.test",
        "sml.example.test@192.0.2.1:53",
        "sml.example.test@192.0.2.2:53",
        "https://smp.example.test",
    }
    assert topology.ancestors("sml.example.test@192.0.2.1:53") == ["sml.example.test"]
    assert participant in topology.dependants("sml.example.test")


@pytest.mark.parametrize(
    ("section", "location", "message"),
    [
        pytest.param(
            "rules: [{alert: NoSuchAlert}]",
            "correlator.rules[0].alert",
            "no default rule raises 'NoSuchAlert'",
            id="unknown-rule",
        ),
        pytest.param(
            "sla: {timezone: Mars/Olympus}",
            "correlator.sla.timezone",
            "unknown time zone 'Mars/Olympus'",
            id="bad-zone",
        ),
        pytest.param(
            "sla: {business_hours: {mon: ['18:00-08:00']}}",
            "correlator.sla.business_hours",
            "must end after they start",
            id="window-backwards",
        ),
        pytest.param(
            "sla: {business_hours: {tue: ['10:00-14:00', '08:00-12:00']}}",
            "correlator.sla.business_hours",
            "opening hours '08:00-12:00' and '10:00-14:00' of tue overlap",
            id="windows-overlap",
        ),
        pytest.param(
            "sla: {business_hours: {monday: ['08:00-18:00']}}",
            "correlator.sla.business_hours",
            "weekday 'monday'",
            id="bad-weekday",
        ),
        pytest.param(
            "sla: {holidays: XX}",
            "correlator.sla.holidays",
            "no public holidays known for country 'XX'",
            id="bad-country",
        ),
        pytest.param(
            "sla: {holidays: ES, holiday_subdivision: XX}",
            "correlator.sla.holiday_subdivision",
            "country 'ES' has no subdivision 'XX'; known: AN, AR,",
            id="bad-region",
        ),
        pytest.param(
            "sla: {holidays: null, holiday_subdivision: BY}",
            "correlator.sla.holiday_subdivision",
            "needs its country in holidays",
            id="region-without-country",
        ),
        pytest.param(
            "sla: {half_days: {2026-12-24: ['13:00-09:00']}}",
            "correlator.sla.half_days",
            "must end after they start",
            id="half-day-backwards",
        ),
        pytest.param(
            "sla: {targets: {2: {response: 0bd}}}",
            "correlator.sla.targets[2].response",
            "at least 1bd",
            id="zero-business-days",
        ),
        pytest.param(
            "sla: {targets: {2: {response: 1 day}}}",
            "correlator.sla.targets[2].response",
            "use business days such as 1bd, or a duration such as 4h",
            id="target-unreadable",
        ),
        pytest.param(
            "sla: {targets: {5: {response: 1h}}}",
            "correlator.sla.targets",
            "severities are 1-4",
            id="bad-severity",
        ),
    ],
)
def test_what_cannot_work_is_refused_with_its_location(
    section: str, location: str, message: str
) -> None:
    ((where, why),) = problems_of(f"correlator:\n  {section}\n")
    assert where == location
    assert message in why
