"""The `correlator:` section of the configuration, and what it builds: the correlation
policy, the topology (from the configured targets and any extra dependencies), the alert
rules with their overrides, and the SLA policy.

It must never reach the store or the network: it only turns configuration into the plain
values the correlator's driver takes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from correlator.correlator import CorrelationPolicy
from correlator.decide import Topology
from correlator.rules import DEFAULT_RULES, Rule
from probes.dns import SmlTarget
from ticket_sink.calendar import AlwaysOpen, BusinessCalendar, PublicHolidays, overlap
from ticket_sink.model import Severity
from ticket_sink.sla import BusinessDays, Goal, SlaPolicy, SlaTarget, default_policy
from vocab import Duration, PositiveDuration, StrictModel, TimeZoneName, parse_duration

__all__ = ["CorrelatorConfig", "Dependency", "RuleOverride", "SlaConfig", "sml_edges"]

_RULE_NAMES = frozenset(rule.name for rule in DEFAULT_RULES)


class Dependency(StrictModel):
    """`dependant` fails when `parent` does (both are alert `target` labels)."""

    parent: str = Field(description="the node depended on (an alert's target label)")
    dependant: str = Field(description="the node that fails with it")


class RuleOverride(StrictModel):
    """Changes to one default alert rule, by its alert name."""

    alert: str = Field(description="the alert name of a default rule (see the README)")
    severity: int | None = Field(None, ge=1, le=4, description="1 blocking ... 4 info")
    for_: Duration | None = Field(None, alias="for", description="failing this long first")
    keep_firing_for: Duration | None = Field(None, description="firing this long after")
    consecutive_failures: int | None = Field(None, ge=1, description="failed results in a row")

    @field_validator("alert")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in _RULE_NAMES:
            raise ValueError(
                f"no default rule raises {value!r}; known: {', '.join(sorted(_RULE_NAMES))}"
            )
        return value


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _check_windows(day: str, windows: list[str]) -> None:
    texts = {_window(window): window for window in windows}
    clash = overlap(texts)
    if clash is not None:
        earlier, later = (texts[window] for window in clash)
        raise ValueError(f"opening hours {earlier!r} and {later!r} of {day} overlap")


def _window(text: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"opening hours {text!r}: expected HH:MM-HH:MM") from None
    if not start < end:
        raise ValueError(f"opening hours {text!r}: must end after they start, the same day")
    return start, end


_BUSINESS_DAYS = re.compile(r"(\d{1,3})bd")


def parse_sla_goal(value: Any) -> Goal:
    """`1bd` (one of the desk's business days, see docs/tickets.md) or a duration such
    as `4h`; both positive."""
    if isinstance(value, timedelta | BusinessDays):
        return value
    if isinstance(value, str) and (days := _BUSINESS_DAYS.fullmatch(value.strip().lower())):
        if int(days[1]) == 0:
            raise ValueError("a target of business days must be at least 1bd")
        return BusinessDays(int(days[1]))
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(
            f"invalid target {value!r}: use business days such as 1bd, or a duration such as 4h"
        ) from None
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return timedelta(seconds=seconds)


SlaGoal = Annotated[
    timedelta | BusinessDays,
    BeforeValidator(parse_sla_goal),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d{1,3}bd|(\d+(\.\d+)?(ms|s|m|h|d))+)$"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": "business days (1bd) or a duration: 30m, 4h, or seconds",
        }
    ),
]


class SlaTargetConfig(StrictModel):
    response: SlaGoal | None = Field(
        None, description="business days (1bd) or a duration (4h); unset: best effort"
    )
    resolution: SlaGoal | None = Field(
        None, description="business days (3bd) or a duration (8h); unset: best effort"
    )
    calendar: Literal["always", "business"] = Field(
        "business", description="always: around the clock; business: the business hours"
    )


class SlaConfig(StrictModel):
    timezone: TimeZoneName = Field("Europe/Brussels", description="time zone of the business hours")
    business_hours: dict[str, list[str]] = Field(
        default_factory=lambda: {day: ["08:00-18:00"] for day in _WEEKDAYS[:5]},
        description="opening hours per weekday (mon ... sun), each HH:MM-HH:MM",
    )
    holidays: str | None = Field(
        "BE", description="country whose public holidays close the desk (ISO code); null: none"
    )
    holiday_subdivision: str | None = Field(
        None,
        description="region of that country whose own public holidays close the desk too "
        "(the ISO 3166-2 code after the dash: BY for Bavaria, ZH for Zurich)",
    )
    closed_days: list[date] = Field(
        default_factory=list, description="further dates the desk is closed (YYYY-MM-DD)"
    )
    half_days: dict[date, list[str]] = Field(
        default_factory=dict,
        description="dates with their own opening hours instead of their weekday's "
        "(YYYY-MM-DD: [HH:MM-HH:MM, ...]); an empty list closes the day",
    )
    targets: dict[int, SlaTargetConfig] | None = Field(
        None,
        description="per severity 1-4; unset: 1 h / 4 h around the clock for 1, "
        "1bd / 3bd on the business hours for 2, best effort for 3 and 4",
    )
    at_risk_fraction: float = Field(
        0.75, gt=0, le=1, description="a clock is at risk past this fraction of its target"
    )
    remind_every_business_days: int = Field(2, ge=1, description="reminders while on hold")
    reminders_before_close: int = Field(3, ge=0, description="unanswered reminders, then close")
    close_resolved_after_business_days: int = Field(
        5, ge=1, description="a resolution not rejected in this time closes the ticket"
    )

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, windows in value.items():
            if day not in _WEEKDAYS:
                raise ValueError(f"weekday {day!r}: use {', '.join(_WEEKDAYS)}")
            _check_windows(day, windows)
        if not any(value.values()):
            raise ValueError("the desk must be open on at least one weekday")
        return value

    @field_validator("half_days")
    @classmethod
    def _half_days(cls, value: dict[date, list[str]]) -> dict[date, list[str]]:
        for day, windows in value.items():
            _check_windows(day.isoformat(), windows)
        return value

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None:
            PublicHolidays(value)  # an unknown country is refused at load
        return value

    @field_validator("holiday_subdivision")
    @classmethod
    def _region(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        country = info.data.get("holidays")
        if country is None:
            raise ValueError("a subdivision needs its country in holidays")
        PublicHolidays(country, value)  # an unknown region is refused at load
        return value

    def public_holidays(self) -> PublicHolidays | None:
        if self.holidays is None:
            return None
        return PublicHolidays(self.holidays, self.holiday_subdivision)

    @field_validator("targets")
    @classmethod
    def _severities(
        cls, value: dict[int, SlaTargetConfig] | None
    ) -> dict[int, SlaTargetConfig] | None:
        for severity in value or {}:
            if severity not in tuple(Severity):
                raise ValueError(f"severities are 1-4, got {severity}")
        return value

    def calendar(self) -> BusinessCalendar:
        hours = {
            _WEEKDAYS.index(day): tuple(_window(w) for w in windows)
            for day, windows in self.business_hours.items()
        }
        return BusinessCalendar(
            ZoneInfo(self.timezone),
            hours,
            frozenset(self.closed_days),
            public_holidays=self.public_holidays(),
            special_hours={
                day: tuple(_window(w) for w in windows) for day, windows in self.half_days.items()
            },
        )


class CorrelatorConfig(StrictModel):
    enabled: bool = Field(True, description="turn failing checks into alerts and tickets")
    reopen_window: Duration = Field(3600.0, description="a recurrence this soon reopens")
    group_by: list[str] = Field(
        default_factory=lambda: ["service", "alertname"],
        description="alerts alike in these labels share one master ticket",
    )
    group_window: PositiveDuration = Field(300.0, description="how long a group gathers")
    group_wait: Duration = Field(30.0, description="a new master's notification waits this")
    quiet_period: Duration = Field(120.0, description="recovered this long → auto-resolved")
    flap_window: PositiveDuration = Field(1800.0, description="window of flap detection")
    flap_max_changes: int = Field(6, ge=1, description="more flips than this is flapping")
    sweep_interval: PositiveDuration = Field(15.0, description="auto-resolve and SLA sweep")
    dependencies: list[Dependency] = Field(
        default_factory=list, description="extra topology edges besides the derived ones"
    )
    rules: list[RuleOverride] = Field(default_factory=list, description="default rule changes")
    sla: SlaConfig = Field(default_factory=SlaConfig)

    def policy(self, sml: Iterable[SmlTarget]) -> CorrelationPolicy:
        edges = [*sml_edges(sml), *((d.parent, d.dependant) for d in self.dependencies)]
        return CorrelationPolicy(
            reopen_window=timedelta(seconds=self.reopen_window),
            group_by=tuple(self.group_by),
            group_window=timedelta(seconds=self.group_window),
            group_wait=timedelta(seconds=self.group_wait),
            quiet_period=timedelta(seconds=self.quiet_period),
            flap_window=timedelta(seconds=self.flap_window),
            flap_max_changes=self.flap_max_changes,
            topology=Topology.from_edges(edges),
        )

    def alert_rules(self) -> tuple[Rule, ...]:
        overrides = {override.alert: override for override in self.rules}
        rules = []
        for rule in DEFAULT_RULES:
            override = overrides.get(rule.name)
            if override is not None:
                changes: dict[str, object] = {}
                if override.severity is not None:
                    changes["severity"] = Severity(override.severity)
                if override.for_ is not None:
                    changes["for_seconds"] = override.for_
                if override.keep_firing_for is not None:
                    changes["keep_firing_for_seconds"] = override.keep_firing_for
                if override.consecutive_failures is not None:
                    changes["consecutive_failures"] = override.consecutive_failures
                rule = dataclasses.replace(rule, **changes)  # type: ignore[arg-type]
            rules.append(rule)
        return tuple(rules)

    def sla_policy(self) -> SlaPolicy:
        sla = self.sla
        office = sla.calendar()
        # The defaults' targets, on the configured business hours.
        base = default_policy(office)
        around_the_clock = AlwaysOpen(office.timezone)
        targets = dict(base.targets)
        if sla.targets is not None:
            for severity in Severity:
                chosen = sla.targets.get(int(severity))
                if chosen is None:
                    targets[severity] = SlaTarget(None, None, office)
                    continue
                targets[severity] = SlaTarget(
                    chosen.response,
                    chosen.resolution,
                    around_the_clock if chosen.calendar == "always" else office,
                )
        return dataclasses.replace(
            base,
            targets=targets,
            at_risk_fraction=sla.at_risk_fraction,
            remind_every_business_days=sla.remind_every_business_days,
            reminders_before_close=sla.reminders_before_close,
            close_resolved_after_business_days=sla.close_resolved_after_business_days,
        )


def sml_edges(targets: Iterable[SmlTarget]) -> Iterator[tuple[str, str]]:
    """The dependencies an SML zone's checks imply, as `(parent, dependant)` alert targets:
    every participant depends on the zone and on each of its name servers, and each name
    server's SOA check on the zone (the names are those `probes.dns.expand_sml` gives)."""
    for target in targets:
        zone = target.zone
        servers = [f"{zone}@{server}" for server in target.nameservers] or [f"{zone}@resolver"]
        for server in servers:
            yield zone, server
        for canary in target.participants:
            participant = f"{canary.id}@{zone}"
            yield zone, participant
            for server in servers:
                yield server, participant
