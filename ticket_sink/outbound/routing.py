"""Routing: which sinks a notification goes to, and until when it must wait.

Pure functions over the configuration, the ticket and the silences, with `now` passed in:
no clock, no I/O. A route never drops a notification because of quiet hours or a silence;
it only says how long it waits (`hold_until`). The only notifications dropped are those of
tickets that no longer notify on their own (children of a master: the master speaks for
its whole group).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ticket_sink.model import Matcher, Notification
from ticket_sink.outbound.config import WEEKDAYS, NotificationsConfig, QuietHours, RouteConfig
from ticket_sink.ticket_rows import StoredTicket

__all__ = [
    "Planned",
    "Silence",
    "contacts_for",
    "hold_until",
    "notifies_on_its_own",
    "plan",
    "quiet_until",
    "routes_by_sink",
]

# A hold that keeps being extended (back-to-back windows and silences) is followed this
# many steps; more would mean a configuration that is quiet all the time.
_MAX_HOLD_STEPS = 64


@dataclass(frozen=True, slots=True)
class Silence:
    """A maintenance window: notifications of tickets whose labels match every matcher
    wait while `starts_at <= now < ends_at`."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""

    def silences(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at and all(
            matcher.matches(labels) for matcher in self.matchers
        )


@dataclass(frozen=True, slots=True)
class Planned:
    """One delivery to create: to `sink`, held until `held_until` (None: send now)."""

    sink: str
    held_until: datetime | None


def notifies_on_its_own(stored: StoredTicket | None) -> bool:
    """A master ticket that notifies; a child waits for its master to speak for it."""
    return stored is not None and stored.ticket.master_id is None and stored.correlation.notify


def _route_matches(route: RouteConfig, notification: Notification) -> bool:
    ticket = notification.ticket
    return (
        (not route.events or notification.event.value in route.events)
        and (not route.severities or int(ticket.severity) in route.severities)
        and (not route.services or ticket.labels.get("service", "") in route.services)
        and (not route.escalation_levels or int(ticket.escalation_level) in route.escalation_levels)
        and all(matcher.matches(ticket.labels) for matcher in route.parsed_matchers())
    )


def routes_by_sink(
    notification: Notification, config: NotificationsConfig
) -> dict[str, list[RouteConfig]]:
    """The sinks `notification` goes to, each with the routes that send it there. Without
    routes every sink gets everything."""
    if not config.routes:
        return {sink.name: [] for sink in config.sinks.all()}
    found: dict[str, list[RouteConfig]] = {}
    for route in config.routes:
        if _route_matches(route, notification):
            for sink in route.sinks:
                found.setdefault(sink, []).append(route)
    return found


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """The end of the quiet window `now` falls in (followed across windows that touch),
    or None when it is not quiet now."""
    zone = ZoneInfo(quiet.time_zone)
    moment, end = now, None
    for _ in range(_MAX_HOLD_STEPS):
        window_end = _window_end(quiet, zone, moment)
        if window_end is None:
            return end
        moment = end = window_end
    return end


def _window_end(quiet: QuietHours, zone: ZoneInfo, moment: datetime) -> datetime | None:
    local_day = moment.astimezone(zone).date()
    ends = []
    # A window that crosses midnight started the day before.
    for day in (local_day - timedelta(days=1), local_day):
        for window in quiet.windows:
            if WEEKDAYS[day.weekday()] not in window.days:
                continue
            end_day = day if window.start < window.end else day + timedelta(days=1)
            # Comparisons in UTC: datetimes sharing a ZoneInfo compare by wall time.
            start = datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
            end = datetime.combine(end_day, window.end, tzinfo=zone).astimezone(UTC)
            if start <= moment < end:
                ends.append(end)
    return max(ends, default=None)


def _blocked_until(
    notification: Notification,
    routes: Sequence[RouteConfig],
    config: NotificationsConfig,
    silences: Iterable[Silence],
    moment: datetime,
) -> datetime | None:
    ends = [
        silence.ends_at
        for silence in silences
        if silence.silences(notification.ticket.labels, moment)
    ]
    if routes:
        # A sink named by several routes gets it as soon as one of them lets it through.
        quiet_ends: list[datetime] = []
        for route in routes:
            quiet = None if route.quiet_hours is None else config.quiet_hours[route.quiet_hours]
            quiet_end = None if quiet is None else quiet_until(quiet, moment)
            if quiet_end is None:
                quiet_ends = []
                break
            quiet_ends.append(quiet_end)
        if quiet_ends:
            ends.append(min(quiet_ends))
    return max(ends, default=None)


def hold_until(
    notification: Notification,
    routes: Sequence[RouteConfig],
    config: NotificationsConfig,
    silences: Iterable[Silence],
    now: datetime,
) -> datetime | None:
    """Until when a delivery over `routes` must wait (silences, quiet hours); None: not."""
    silences = list(silences)
    moment, held = now, None
    for _ in range(_MAX_HOLD_STEPS):
        end = _blocked_until(notification, routes, config, silences, moment)
        if end is None or end <= moment:
            return held
        moment = held = end
    return held


def plan(
    notification: Notification,
    stored: StoredTicket | None,
    config: NotificationsConfig,
    silences: Iterable[Silence],
    now: datetime,
) -> list[Planned]:
    """The deliveries of one due notification (none for a ticket that does not notify)."""
    if not notifies_on_its_own(stored):
        return []
    silences = list(silences)
    return [
        Planned(sink, hold_until(notification, routes, config, silences, now))
        for sink, routes in sorted(routes_by_sink(notification, config).items())
    ]


def contacts_for(notification: Notification, config: NotificationsConfig) -> tuple[str, ...]:
    """The e-mail contacts of the ticket's escalation level."""
    level = int(notification.ticket.escalation_level)
    return tuple(config.escalation_contacts.get(level, ()))
