"""Business calendars: the time arithmetic SLA clocks run on.

A calendar says when the service desk's clock runs (weekly opening hours in a time zone,
several windows a day if the desk closes for lunch; minus the public holidays of a country
or one of its regions, computed for whichever year is asked about; minus the desk's own
closed days; with the desk's own hours on half days) and does arithmetic in that time: add
business time, measure it between two instants, add business days, and say how much
business time a target of N business days gives from a moment. 24/7 is a calendar too
(`AlwaysOpen`).

Pure: no clock is read here, and every input and output is a timezone-aware datetime
(naive ones are refused, since their meaning depends on the machine). All arithmetic is
done on UTC instants, because subtracting or comparing two datetimes that share a
`ZoneInfo` uses their wall-clock values and is wrong across a DST change.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holiday_tables

__all__ = [
    "DAYS_KEPT",
    "AlwaysOpen",
    "BusinessCalendar",
    "Calendar",
    "PublicHolidays",
    "belgian_calendar",
    "overlap",
]

# Monday is 0, as in `date.weekday()`.
Window = tuple[time, time]
WeeklyHours = Mapping[int, Sequence[Window]]

BRUSSELS = ZoneInfo("Europe/Brussels")
OFFICE_HOURS: WeeklyHours = {day: ((time(8), time(18)),) for day in range(5)}
# The days whose opening windows a calendar keeps by default (some 27 years).
DAYS_KEPT = 10_000
# The first and last instants there are.
_BEGINNING = datetime.min.replace(tzinfo=UTC)
_END = datetime.max.replace(tzinfo=UTC)


class Calendar(Protocol):
    """What SLA arithmetic needs from a calendar."""

    @property
    def timezone(self) -> tzinfo: ...

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime: ...

    def business_time_between(self, start: datetime, end: datetime) -> timedelta: ...

    def span_at(self, moment: datetime) -> tuple[datetime, datetime, bool]:
        """An interval `[start, end)` of UTC instants around `moment` over which the
        calendar is open throughout, or closed throughout; and whether it is open. Within
        it, business time runs as wall time does, or not at all."""
        ...

    def add_business_days(self, start: datetime, days: int) -> datetime: ...

    def business_days_as_time(self, start: datetime, days: int) -> timedelta:
        """The business time a target of `days` business days gives a clock started at
        `start` (see `BusinessCalendar.business_days_as_time`)."""
        ...

    def shortest_day(self) -> timedelta:
        """No business day of the calendar has less business time than this: N business
        days are never less business time than N times it."""
        ...


def overlap(windows: Iterable[Window]) -> tuple[Window, Window] | None:
    """The first two of `windows` (in time order) that overlap, or None."""
    for earlier, later in itertools.pairwise(sorted(windows)):
        if later[0] < earlier[1]:
            return earlier, later
    return None


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _non_negative(duration: timedelta) -> None:
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")


def _same_time_days_later(start: datetime, days: int, zone: tzinfo) -> datetime:
    """`start`'s local wall time `days` dates later; a time that DST skips moves forward."""
    local = start.astimezone(zone)
    wall = datetime.combine(local.date() + timedelta(days=days), local.time(), tzinfo=zone)
    # The UTC round trip turns a non-existent wall time (02:30 on the spring-forward
    # Sunday) into a real instant instead of keeping an impossible one.
    return wall.astimezone(UTC).astimezone(zone)


@dataclass(frozen=True, slots=True)
class AlwaysOpen:
    """The 24/7 calendar: every second is business time."""

    timezone: tzinfo = UTC

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        _non_negative(duration)
        return (_utc(start, "start") + duration).astimezone(self.timezone)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        return max(_utc(end, "end") - _utc(start, "start"), timedelta(0))

    def span_at(self, moment: datetime) -> tuple[datetime, datetime, bool]:
        return _BEGINNING, _END, True

    def add_business_days(self, start: datetime, days: int) -> datetime:
        _non_negative_days(days)
        return _same_time_days_later(_utc(start, "start"), days, self.timezone)

    def business_days_as_time(self, start: datetime, days: int) -> timedelta:
        """A business day around the clock is a day: the real time to the same local wall
        time `days` dates later (23 or 25 hours over a DST change)."""
        return _utc(self.add_business_days(start, days), "end") - _utc(start, "start")

    def shortest_day(self) -> timedelta:
        return timedelta(hours=23)  # the day DST begins


def _non_negative_days(days: int) -> None:
    if days < 0:
        raise ValueError(f"days must not be negative, got {days}")


def _check_windows(name: str, windows: Sequence[Window]) -> None:
    for start, end in windows:
        if not start < end:
            raise ValueError(f"opening window {start}-{end} must end after it starts")
    clash = overlap(windows)
    if clash is not None:
        raise ValueError(f"opening windows of {name} overlap at {clash[1][0]}")


@dataclass(frozen=True, slots=True)
class PublicHolidays:
    """The public holidays of `country` (ISO 3166-1 code) and, if given, of its
    `subdivision` (the ISO 3166-2 code's part after the dash, as the `holidays` package
    names them: "BY" for Bavaria, "ZH" for Zurich).

    Each year's holidays are computed the first time a date of that year is asked about,
    so a calendar made today is right for tickets of any year. Unknown codes are refused
    with a `ValueError` when the value is made.
    """

    country: str
    subdivision: str | None = None
    _table: holiday_tables.HolidayBase = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The package answers NotImplementedError for both an unknown country and an
        # unknown subdivision; its message lists every subdivision of some countries.
        subdivisions = holiday_tables.list_supported_countries().get(self.country)
        if subdivisions is None:
            raise ValueError(f"no public holidays known for country {self.country!r}")
        if self.subdivision is not None and self.subdivision not in subdivisions:
            raise ValueError(
                f"country {self.country!r} has no subdivision {self.subdivision!r}; "
                f"known: {', '.join(subdivisions)}"
            )
        table = holiday_tables.country_holidays(self.country, subdiv=self.subdivision)
        object.__setattr__(self, "_table", table)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day in self._table

    def name(self, day: date) -> str | None:
        """The holiday's name, or None on a day that is not one."""
        return self._table.get(day)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Weekly opening hours in a time zone, closed on public holidays and on the desk's own
    closed days, with the desk's own hours on some dates.

    `weekly_hours` maps a weekday (Monday 0 ... Sunday 6) to its opening windows, each
    `(start, end)` in local wall time with `start < end` (no window crosses midnight); a
    desk that closes for lunch has two windows that day. `public_holidays` are a country's
    or region's (computed for any year); `holidays` are further closed local dates (the
    desk's own: a bridge day, the staff party). `special_hours` gives a date its own
    windows instead of its weekday's (a half day before Christmas; no windows closes it),
    whatever else the date is. A calendar must be open at least one weekday, or adding
    business time would never end. It keeps the opening windows of up to `days_kept` days;
    past that, it starts over.
    """

    timezone: tzinfo
    weekly_hours: WeeklyHours
    holidays: frozenset[date] = field(default_factory=frozenset)
    public_holidays: PublicHolidays | None = None
    special_hours: Mapping[date, Sequence[Window]] = field(default_factory=dict)
    days_kept: int = field(default=DAYS_KEPT, repr=False, compare=False)
    # Each local day's opening windows as UTC instants, made once: an SLA clock is read on
    # every ticket request, and a time zone conversion costs a microsecond.
    _day_windows: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for day, windows in self.weekly_hours.items():
            if day not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {day}")
            _check_windows(f"weekday {day}", windows)
        for special, windows in self.special_hours.items():
            _check_windows(special.isoformat(), windows)
        if not any(self.weekly_hours.values()):
            raise ValueError("a business calendar must be open on at least one weekday")

    def hours_on(self, day: date) -> Sequence[Window]:
        """The opening windows of local date `day` (none when the desk is closed)."""
        special = self.special_hours.get(day)
        if special is not None:
            return special
        if day in self.holidays or (
            self.public_holidays is not None and day in self.public_holidays
        ):
            return ()
        return self.weekly_hours.get(day.weekday(), ())

    def is_business_day(self, day: date) -> bool:
        return bool(self.hours_on(day))

    def _windows(self, start_day: date) -> Iterator[tuple[datetime, datetime]]:
        """Opening windows as UTC instants, from `start_day` on, in order, forever."""
        known = self._day_windows
        day = start_day
        while True:
            windows = known.get(day)
            if windows is None:
                if len(known) >= self.days_kept:
                    known.clear()
                windows = known[day] = self._windows_of(day)
            yield from windows
            day += timedelta(days=1)

    def _windows_of(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """`day`'s windows as UTC instants, in order and disjoint: a DST change can make
        windows that only touch in wall time overlap, or empty one."""
        instants = sorted(
            (
                datetime.combine(day, opens, tzinfo=self.timezone).astimezone(UTC),
                datetime.combine(day, closes, tzinfo=self.timezone).astimezone(UTC),
            )
            for opens, closes in self.hours_on(day)
        )
        merged: list[tuple[datetime, datetime]] = []
        for start, end in instants:
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                start, last_end = merged.pop()
                end = max(end, last_end)
            merged.append((start, end))
        return tuple(merged)

    def _local_day(self, moment: datetime) -> date:
        # A day earlier than the local date, so no window that contains `moment` is missed.
        return moment.astimezone(self.timezone).date() - timedelta(days=1)

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of business time has run since `start`.

        A zero duration outside opening hours stays at `start`; a positive one that ends
        exactly at closing time ends there (not at the next opening).
        """
        _non_negative(duration)
        cursor = _utc(start, "start")
        remaining = duration
        if not remaining:
            return cursor.astimezone(self.timezone)
        for opens, closes in self._windows(self._local_day(cursor)):
            if closes <= cursor:
                continue
            begin = max(opens, cursor)
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(self.timezone)
            remaining -= available
            cursor = closes
        raise AssertionError("unreachable: _windows never ends")  # pragma: no cover

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in `[start, end)`; zero when `end` is not after `start`."""
        begin, finish = _utc(start, "start"), _utc(end, "end")
        total = timedelta(0)
        if finish <= begin:
            return total
        for opens, closes in self._windows(self._local_day(begin)):
            if opens >= finish:
                return total
            overlap = min(closes, finish) - max(opens, begin)
            if overlap > timedelta(0):
                total += overlap
        raise AssertionError("unreachable: _windows never ends")  # pragma: no cover

    def span_at(self, moment: datetime) -> tuple[datetime, datetime, bool]:
        """An interval `[start, end)` of UTC instants around `moment` over which the
        calendar is open throughout, or closed throughout; and whether it is open."""
        cursor = _utc(moment, "moment")
        closed_since = cursor
        for opens, closes in self._windows(self._local_day(cursor)):
            if cursor < opens:
                return closed_since, opens, False
            if cursor < closes:
                return opens, closes, True
            closed_since = closes
        raise AssertionError("unreachable: _windows never ends")  # pragma: no cover

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same local wall time on the `days`-th business day after `start`'s date.

        Counting starts the day after `start` whether or not `start`'s own day is a
        business day (resolved on a Saturday, one business day later is Monday).
        """
        _non_negative_days(days)
        local_day = _utc(start, "start").astimezone(self.timezone).date()
        day, counted = local_day, 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_business_day(day):
                counted += 1
        return _same_time_days_later(start, (day - local_day).days, self.timezone)

    def business_days_as_time(self, start: datetime, days: int) -> timedelta:
        """The business time of `days` of the desk's business days from `start`.

        A desk counts a target of N business days the way it counts its days: the clock
        starts at `start`, or at the next opening when the desk is closed then; the target
        falls due on the N-th business day after that day, once as much of that day's
        business time has run as had run of the start's day when the clock started, or at
        its closing if that day is shorter (a half day). So raised on Tuesday at 10:00, one
        business day is due on Wednesday at 10:00, and raised after closing on Tuesday, at
        Wednesday's closing; a lunch break or a half day counts for what it is.
        """
        _non_negative_days(days)
        cursor = _utc(start, "start")
        _, next_change, is_open = self.span_at(cursor)
        if not is_open:
            cursor = next_change
        day = cursor.astimezone(self.timezone).date()
        started = [min(closes, cursor) - opens for opens, closes in self._windows_of(day)]
        into_day = sum((ran for ran in started if ran > timedelta(0)), timedelta(0))
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_business_day(day):
                counted += 1
        windows = self._windows_of(day)
        due = windows[-1][1] if windows else cursor
        remaining = into_day
        for opens, closes in windows:
            if remaining <= closes - opens:
                due = opens + remaining
                break
            remaining -= closes - opens
        return self.business_time_between(_utc(start, "start"), max(due, cursor))

    def shortest_day(self) -> timedelta:
        """The shortest day's windows by their wall-clock lengths, less the hour a DST
        change may take from a window that spans it."""
        days = [*self.weekly_hours.values(), *self.special_hours.values()]
        lengths = [
            sum(
                (
                    datetime.combine(date.min, closes) - datetime.combine(date.min, opens)
                    for opens, closes in windows
                ),
                timedelta(0),
            )
            for windows in days
            if windows
        ]
        return max(min(lengths) - timedelta(hours=1), timedelta(0))


def belgian_calendar(weekly_hours: WeeklyHours = OFFICE_HOURS) -> BusinessCalendar:
    """Monday-Friday 08:00-18:00 Europe/Brussels, closed on Belgian public holidays (of
    any year)."""
    return BusinessCalendar(BRUSSELS, weekly_hours, public_holidays=PublicHolidays("BE"))
