"""The `notifications:` section of the configuration: sinks, routes, quiet hours,
escalation contacts and the outbox worker's pace.

Everything is checked when the configuration loads (routes naming unknown sinks or quiet
hours, bad matchers, unknown time zones, templates that do not render), so `vigie config
check` catches it. Nothing here does I/O.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from ticket_sink.model import Matcher, MatchOp, NotificationEvent
from ticket_sink.outbound._base import SinkConfig
from ticket_sink.outbound.alertmanager import AlertmanagerSinkConfig
from ticket_sink.outbound.chat import ChatSinkConfig
from ticket_sink.outbound.email import EmailSinkConfig
from ticket_sink.outbound.pagerduty import PagerDutySinkConfig
from ticket_sink.outbound.retry import RetryPolicy
from ticket_sink.outbound.webhook import WebhookSinkConfig
from vocab import HttpUrl, StrictModel, TimeZoneName

__all__ = [
    "WEEKDAYS",
    "NotificationsConfig",
    "QuietHours",
    "QuietWindow",
    "RouteConfig",
    "SinksConfig",
    "parse_matcher",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"(.*)"|(\S*))\s*$')


def parse_matcher(text: str) -> Matcher:
    """`name="value"`, `name!="value"`, `name=~"regex"` or `name!~"regex"` (quotes
    optional when the value has no spaces), as Alertmanager writes matchers."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f'invalid matcher {text!r}: expected name="value" (or !=, =~, !~)')
    name, op, quoted, bare = found.groups()
    return Matcher(name, MatchOp(op), quoted if quoted is not None else bare)


class SinksConfig(StrictModel):
    email: list[EmailSinkConfig] = Field(default_factory=list, description="SMTP e-mail")
    webhook: list[WebhookSinkConfig] = Field(
        default_factory=list, description="generic JSON webhooks, HMAC-signed"
    )
    chat: list[ChatSinkConfig] = Field(
        default_factory=list, description="Slack, Mattermost and Microsoft Teams webhooks"
    )
    pagerduty: list[PagerDutySinkConfig] = Field(
        default_factory=list, description="Events API v2 (PagerDuty and compatible services)"
    )
    alertmanager: list[AlertmanagerSinkConfig] = Field(
        default_factory=list, description="Alertmanagers that receive tickets as alerts"
    )

    def all(self) -> list[SinkConfig]:
        return [*self.email, *self.webhook, *self.chat, *self.pagerduty, *self.alertmanager]


class QuietWindow(StrictModel):
    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS), description="days the window starts on"
    )
    start: time = Field(description="local time the window starts (HH:MM)")
    end: time = Field(
        description="local time it ends; at or before start: the next day (19:00-07:00)"
    )


class QuietHours(StrictModel):
    time_zone: TimeZoneName = Field("UTC", description="IANA time zone of the windows")
    windows: list[QuietWindow] = Field(min_length=1, description="when notifications wait")


class RouteConfig(StrictModel):
    """Which notifications go to which sinks; an empty filter matches everything."""

    sinks: list[str] = Field(min_length=1, description="names of the sinks to notify")
    # Strings checked against NotificationEvent rather than the enum itself, so the
    # schema keeps a plain list (the options table documents lists of objects only).
    events: list[str] = Field(
        default_factory=list,
        description="events: " + ", ".join(event.value for event in NotificationEvent),
    )
    severities: list[int] = Field(default_factory=list, description="ticket severities (1-4)")
    services: list[str] = Field(default_factory=list, description="ticket services")
    escalation_levels: list[int] = Field(
        default_factory=list, description="the ticket's escalation levels (1-4)"
    )
    matchers: list[str] = Field(
        default_factory=list,
        description='label matchers, all must match: name="value", !=, =~, !~',
    )
    quiet_hours: str | None = Field(
        None, description="name of the quiet hours that hold these notifications"
    )

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: list[str]) -> list[str]:
        for event in events:
            NotificationEvent(event)  # a ValueError names the unknown one
        return events

    @field_validator("severities", "escalation_levels")
    @classmethod
    def _one_to_four(cls, values: list[int]) -> list[int]:
        if any(value not in range(1, 5) for value in values):
            raise ValueError("expected values from 1 to 4")
        return values

    @field_validator("matchers")
    @classmethod
    def _parse(cls, matchers: list[str]) -> list[str]:
        for text in matchers:
            parse_matcher(text)
        return matchers

    def parsed_matchers(self) -> tuple[Matcher, ...]:
        return tuple(parse_matcher(text) for text in self.matchers)


class NotificationsConfig(StrictModel):
    external_url: HttpUrl | None = Field(
        None, description="vigie's URL as people reach it, for links to tickets; unset: no link"
    )
    proxy_url: HttpUrl | None = Field(
        None,
        description="HTTP proxy for the webhooks; unset: direct (the environment's "
        "proxy variables are not read)",
    )
    sinks: SinksConfig = Field(default_factory=SinksConfig)
    routes: list[RouteConfig] = Field(
        default_factory=list,
        description="which notifications go where; none: every sink gets every notification",
    )
    quiet_hours: dict[str, QuietHours] = Field(
        default_factory=dict, description="named weekly windows during which routes wait"
    )
    escalation_contacts: dict[int, list[str]] = Field(
        default_factory=dict,
        description="e-mail addresses per escalation level (1-4), added to e-mail sinks",
    )
    poll_interval_seconds: float = Field(
        5.0, gt=0, le=3600, description="how often the worker looks for due notifications"
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="deliveries sent at once")
    claim_seconds: float = Field(
        300.0,
        gt=0,
        description="a delivery being sent is retried after this long if its agent died",
    )
    dead_agent_seconds: float = Field(
        60.0,
        gt=0,
        description="an agent whose heartbeat is older than this is dead: its deliveries "
        "in flight are taken over at once rather than after claim_seconds (keep it above "
        "three of every agent's server.readiness_interval)",
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @field_validator("escalation_contacts")
    @classmethod
    def _levels(cls, contacts: dict[int, list[str]]) -> dict[int, list[str]]:
        if any(level not in range(1, 5) for level in contacts):
            raise ValueError("escalation levels are 1 to 4")
        return contacts

    @model_validator(mode="after")
    def _references_exist(self) -> Self:
        names = [sink.name for sink in self.sinks.all()]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"sink names must be unique: {', '.join(duplicates)}")
        for index, route in enumerate(self.routes):
            unknown = [name for name in route.sinks if name not in names]
            if unknown:
                raise ValueError(f"routes[{index}]: unknown sink {', '.join(unknown)}")
            if route.quiet_hours is not None and route.quiet_hours not in self.quiet_hours:
                raise ValueError(f"routes[{index}]: unknown quiet hours {route.quiet_hours!r}")
        slowest = max((sink.timeout_seconds for sink in self.sinks.all()), default=0.0)
        if self.claim_seconds <= slowest:
            # Otherwise a second agent would send it again while the first still waits.
            raise ValueError(
                f"claim_seconds ({self.claim_seconds:g}) must exceed the slowest sink "
                f"timeout ({slowest:g})"
            )
        return self
