"""The `correlator:` section: defaults that match the documented service desk, overrides
of rules, SLA targets and business hours, topology derived from the SML targets, and
located errors for what cannot work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from correlator.rules import DEFAULT_RULES
from ticket_sink.calendar import AlwaysOpen, BusinessCalendar
from ticket_sink.model import Severity
from vigie.config import ConfigError, parse_config

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def problems_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="vigie.yaml")
    return [(p.location, p.message) for p in caught.value.problems]


def test_the_defaults_are_the_documented_desk() -> None:
    config = parse_config("{}").correlator
    policy = config.sla_policy(NOW)
    blocking, major = policy.targets[Severity.BLOCKING], policy.targets[Severity.MAJOR]
    assert (blocking.response, blocking.resolution) == (timedelta(hours=1), timedelta(hours=4))
    assert isinstance(blocking.calendar, AlwaysOpen)
    assert (major.response, major.resolution) == (timedelta(hours=10), timedelta(hours=30))
    office = major.calendar
    assert isinstance(office, BusinessCalendar)
    assert office.weekly_hours[0] == ((time(8), time(18)),)
    assert 5 not in office.weekly_hours  # closed on Saturdays
    assert date(2026, 11, 11) in office.holidays  # Armistice Day, a Belgian holiday
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
    policy = config.sla_policy(NOW)
    office = policy.business_calendar
    assert isinstance(office, BusinessCalendar)
    assert str(office.timezone) == "Europe/Paris"
    assert office.weekly_hours == {
        0: ((time(9), time(12)), (time(13), time(17))),
        5: ((time(10), time(12)),),
    }
    assert office.holidays == frozenset()
    blocking = policy.targets[Severity.BLOCKING]
    assert (blocking.response, blocking.resolution) == (timedelta(minutes=30), timedelta(hours=2))
    assert isinstance(blocking.calendar, AlwaysOpen)
    major = policy.targets[Severity.MAJOR]
    assert (major.response, major.resolution, major.calendar) == (timedelta(hours=4), None, office)
    assert policy.targets[Severity.MINOR].response is None  # not listed: best effort


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
