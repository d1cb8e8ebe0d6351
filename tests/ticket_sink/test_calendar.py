"""Business calendars: hand-computed cases (weekends, Belgian holidays, DST) and the laws
that SLA arithmetic relies on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticket_sink.calendar import AlwaysOpen, BusinessCalendar, PublicHolidays, belgian_calendar

BRUSSELS = ZoneInfo("Europe/Brussels")
BE = belgian_calendar()
H = timedelta(hours=1)


def bx(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


def test_belgian_holidays_are_known() -> None:
    for day in (date(2026, 7, 21), date(2026, 11, 11), date(2026, 12, 25), date(2027, 1, 1)):
        assert BE.hours_on(day) == ()
        assert not BE.is_business_day(day)
    assert BE.is_business_day(date(2026, 11, 20))  # a Friday
    assert not BE.is_business_day(date(2026, 11, 21))  # a Saturday


ADD_CASES = [
    pytest.param(bx(11, 20, 17, 30), H, bx(11, 23, 8, 30), id="friday-evening-to-monday"),
    pytest.param(bx(11, 20, 19), H, bx(11, 23, 9), id="outside-hours-starts-next-opening"),
    pytest.param(bx(11, 10, 17), H, bx(11, 10, 18), id="ends-exactly-at-closing"),
    pytest.param(bx(11, 10, 17), 2 * H, bx(11, 12, 9), id="armistice-day-skipped"),
    pytest.param(bx(7, 20, 17), 2 * H, bx(7, 22, 9), id="national-day-skipped"),
    pytest.param(bx(12, 24, 17), 2 * H, bx(12, 28, 9), id="christmas-and-weekend-skipped"),
    pytest.param(bx(11, 10, 16), 30 * H, bx(11, 16, 16), id="three-business-days"),
    pytest.param(bx(3, 27, 17), 2 * H, bx(3, 30, 9), id="over-spring-dst-weekend"),
    pytest.param(bx(10, 23, 17), 2 * H, bx(10, 26, 9), id="over-autumn-dst-weekend"),
    pytest.param(bx(11, 21, 12), timedelta(0), bx(11, 21, 12), id="zero-stays-put"),
]


@pytest.mark.parametrize(("start", "duration", "expected"), ADD_CASES)
def test_add_business_time(start: datetime, duration: timedelta, expected: datetime) -> None:
    result = BE.add_business_time(start, duration)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()  # in Brussels time, DST included


BETWEEN_CASES = [
    pytest.param(bx(11, 20, 17), bx(11, 23, 9), 2 * H, id="over-a-weekend"),
    pytest.param(bx(11, 10, 12), bx(11, 12, 12), 10 * H, id="over-armistice-day"),
    pytest.param(bx(3, 27, 12), bx(3, 30, 12), 10 * H, id="over-spring-dst"),
    pytest.param(bx(10, 23, 12), bx(10, 26, 12), 10 * H, id="over-autumn-dst"),
    pytest.param(bx(11, 23, 12), bx(11, 23, 11), timedelta(0), id="end-before-start"),
    pytest.param(bx(11, 21, 0), bx(11, 22, 23), timedelta(0), id="a-weekend"),
]


@pytest.mark.parametrize(("start", "end", "expected"), BETWEEN_CASES)
def test_business_time_between(start: datetime, end: datetime, expected: timedelta) -> None:
    assert BE.business_time_between(start, end) == expected


def test_windows_across_dst_nights_have_their_real_length() -> None:
    # Open on Sundays 00:00-06:00 local time: 5 real hours in March, 7 in October.
    night = BusinessCalendar(BRUSSELS, {6: ((time(0), time(6)),)})
    assert night.business_time_between(bx(3, 28), bx(3, 30)) == 5 * H
    assert night.business_time_between(bx(10, 24), bx(10, 26)) == 7 * H
    assert night.add_business_time(bx(3, 29), 3 * H) == bx(3, 29, 4)  # 01:00 CET + 2 h
    # 00:00 summer time is 22:00 UTC; three hours later it is 01:00 UTC, the second 02:00.
    later = night.add_business_time(bx(10, 25), 3 * H)
    # (== between zones is always False for the repeated hour, PEP 495: compare in UTC.)
    assert later.astimezone(UTC) == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert (later.hour, later.fold) == (2, 1)


DAYS_CASES = [
    pytest.param(bx(11, 20, 11), 1, bx(11, 23, 11), id="friday-plus-one"),
    pytest.param(bx(11, 21, 10), 1, bx(11, 23, 10), id="saturday-plus-one"),
    pytest.param(bx(11, 10, 14), 1, bx(11, 12, 14), id="over-armistice-day"),
    pytest.param(bx(11, 24, 11), 5, bx(12, 1, 11), id="five-days"),
    pytest.param(bx(10, 23, 10), 1, bx(10, 26, 10), id="over-autumn-dst"),
    pytest.param(bx(11, 20, 11), 0, bx(11, 20, 11), id="zero"),
]


@pytest.mark.parametrize(("start", "days", "expected"), DAYS_CASES)
def test_add_business_days(start: datetime, days: int, expected: datetime) -> None:
    result = BE.add_business_days(start, days)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


# A desk in the Canary Islands (UTC+0, summer UTC+1): Monday-Friday 09:00-12:30 and
# 13:30-17:30 (7.5 h a day), Spanish and Canarian public holidays, closed on 31 December,
# and a half day on Christmas Eve.
CANARY = ZoneInfo("Atlantic/Canary")
LUNCH_BREAK = ((time(9), time(12, 30)), (time(13, 30), time(17, 30)))
CANARIAN = BusinessCalendar(
    CANARY,
    {day: LUNCH_BREAK for day in range(5)},
    frozenset({date(2026, 12, 31)}),
    public_holidays=PublicHolidays("ES", "CN"),
    special_hours={date(2026, 12, 24): ((time(9), time(13)),)},
)


def cx(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CANARY)


# Each due instant is `start + business_days_as_time(start, days)` added on the calendar.
BUSINESS_DAY_CASES = [
    # Wednesday 1 April 16:00 is 6 h into the day (3.5 h + 2.5 h). Thursday 2 (Maundy
    # Thursday, Canarian) and Friday 3 (Good Friday) are holidays: 6 h into Monday 6 is
    # 16:00. Business time: 1.5 h left on Wednesday + 6 h = 7.5 h.
    pytest.param(cx(4, 1, 16), 1, cx(4, 6, 16), 7.5 * H, id="over-easter-holidays"),
    # Three business days: Monday 6, Tuesday 7, Wednesday 8 at 16:00 (22.5 h).
    pytest.param(cx(4, 1, 16), 3, cx(4, 8, 16), 22.5 * H, id="three-days"),
    # Friday 30 October 12:00 (after DST ended) is 3 h into the day; Monday 2 November is
    # a Canarian holiday, so Tuesday 3 at 12:00 (5 h on Friday + 3 h on Tuesday = 7.5 h).
    pytest.param(cx(10, 30, 12), 1, cx(11, 3, 12), 7.5 * H, id="regional-monday"),
    # Wednesday 23 December 16:30 is 6.5 h into the day; Christmas Eve is a half day of
    # 4 h, so one business day ends at its closing, 13:00 (1 h + 4 h = 5 h).
    pytest.param(cx(12, 23, 16, 30), 1, cx(12, 24, 13), 5 * H, id="half-day-shorter"),
    # Three: Thursday 24 (half day), Monday 28 (Friday 25 is Christmas), Tuesday 29 at
    # 16:30 (1 h + 4 h + 7.5 h + 6.5 h = 19 h).
    pytest.param(cx(12, 23, 16, 30), 3, cx(12, 29, 16, 30), 19 * H, id="over-christmas"),
    # Wednesday 30 December 12:00 (3 h in); Thursday 31 is the desk's own closed day and
    # 1 January a holiday: Monday 4 January at 12:00 (4.5 h + 3 h).
    pytest.param(cx(12, 30, 12), 1, cx(1, 4, 12, year=2027), 7.5 * H, id="closed-day"),
    # At lunch the clock waits: 12:45 counts as 3.5 h into the day, so the next day at
    # 12:30, its closing for lunch (4 h + 3.5 h).
    pytest.param(cx(4, 14, 12, 45), 1, cx(4, 15, 12, 30), 7.5 * H, id="raised-at-lunch"),
    # Raised on Saturday: the clock starts on Monday 09:00 and one business day is all of
    # Monday, due at its closing.
    pytest.param(cx(4, 11, 10), 1, cx(4, 13, 17, 30), 7.5 * H, id="raised-on-saturday"),
]


@pytest.mark.parametrize(("start", "days", "due", "business_time"), BUSINESS_DAY_CASES)
def test_targets_in_business_days_follow_the_desk(
    start: datetime, days: int, due: datetime, business_time: timedelta
) -> None:
    assert CANARIAN.business_days_as_time(start, days) == business_time
    assert CANARIAN.add_business_time(start, business_time) == due


def test_public_holidays_are_known_for_any_year_and_region() -> None:
    bavaria = PublicHolidays("DE", "BY")
    assert date(2026, 6, 4) in bavaria  # Corpus Christi: Bavarian, not German-wide
    assert date(2026, 6, 4) not in PublicHolidays("DE")
    assert date(2093, 1, 6) in bavaria  # Epiphany, in a year nobody loaded
    assert bavaria.name(date(2093, 1, 6)) == "Epiphany"
    assert date(2093, 1, 7) not in bavaria
    with pytest.raises(ValueError, match="no public holidays known for country 'XX'"):
        PublicHolidays("XX")
    with pytest.raises(ValueError, match="country 'DE' has no subdivision 'ZZ'; known: BB, BE"):
        PublicHolidays("DE", "ZZ")


def test_the_shortest_day_bounds_business_days() -> None:
    # The half day (4 h) less the hour a DST change may take.
    assert CANARIAN.shortest_day() == 3 * H
    assert AlwaysOpen(CANARY).shortest_day() == 23 * H
    assert AlwaysOpen(BRUSSELS).business_days_as_time(bx(3, 28, 12), 1) == 23 * H


def test_always_open_counts_real_time_across_dst() -> None:
    always = AlwaysOpen(BRUSSELS)
    # 23:00 CET is 22:00 UTC; four hours later it is 02:00 UTC, 04:00 summer time.
    assert always.add_business_time(bx(3, 28, 23), 4 * H) == bx(3, 29, 4)
    assert always.business_time_between(bx(10, 25, 0), bx(10, 25, 4)) == 5 * H
    assert always.add_business_days(bx(10, 24, 10), 1) == bx(10, 25, 10)
    assert always.business_time_between(bx(10, 25, 4), bx(10, 25, 0)) == timedelta(0)


@pytest.mark.parametrize("calendar", [BE, AlwaysOpen()], ids=["business", "always-open"])
def test_naive_datetimes_and_negative_amounts_are_refused(
    calendar: BusinessCalendar | AlwaysOpen,
) -> None:
    naive = datetime(2026, 11, 20, 12)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add_business_time(naive, H)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.business_time_between(bx(11, 20), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add_business_days(naive, 1)
    with pytest.raises(ValueError, match="negative"):
        calendar.add_business_time(bx(11, 20), -H)
    with pytest.raises(ValueError, match="negative"):
        calendar.add_business_days(bx(11, 20), -1)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        pytest.param({}, "at least one weekday", id="never-open"),
        pytest.param({0: ((time(18), time(8)),)}, "must end after", id="reversed-window"),
        pytest.param({7: ((time(8), time(18)),)}, "weekday", id="no-such-weekday"),
        pytest.param(
            {0: ((time(10), time(14)), (time(8), time(12)))}, "overlap at 10:00", id="overlap"
        ),
    ],
)
def test_invalid_calendars(hours: dict[int, tuple[tuple[time, time], ...]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(BRUSSELS, hours)


def test_invalid_special_hours() -> None:
    with pytest.raises(ValueError, match="2026-12-24 overlap at 10:00"):
        BusinessCalendar(
            BRUSSELS,
            {0: LUNCH_BREAK},
            special_hours={date(2026, 12, 24): ((time(9), time(11)), (time(10), time(12)))},
        )


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(BRUSSELS)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=200))


@given(instants, durations)
def test_between_undoes_add(start: datetime, duration: timedelta) -> None:
    assert BE.business_time_between(start, BE.add_business_time(start, duration)) == duration


@given(instants, instants, instants)
def test_between_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c), key=lambda moment: moment.astimezone(UTC))
    assert BE.business_time_between(a, b) + BE.business_time_between(b, c) == (
        BE.business_time_between(a, c)
    )


SPANS = [
    pytest.param(bx(11, 20, 17, 30), (bx(11, 20, 8), bx(11, 20, 18), True), id="open-friday"),
    pytest.param(bx(11, 20, 19), (bx(11, 20, 18), bx(11, 23, 8), False), id="weekend"),
    pytest.param(bx(11, 11, 12), (bx(11, 10, 18), bx(11, 12, 8), False), id="armistice-day"),
    pytest.param(bx(11, 23, 8), (bx(11, 23, 8), bx(11, 23, 18), True), id="at-opening"),
    pytest.param(bx(11, 23, 18), (bx(11, 23, 18), bx(11, 24, 8), False), id="at-closing"),
]


@pytest.mark.parametrize(("moment", "span"), SPANS)
def test_the_span_around_a_moment(moment: datetime, span: tuple[datetime, datetime, bool]) -> None:
    assert BE.span_at(moment) == span


@given(instants, st.floats(min_value=0, max_value=1))
def test_within_a_span_business_time_runs_as_wall_time_or_not_at_all(
    moment: datetime, fraction: float
) -> None:
    start, end, is_open = BE.span_at(moment)
    assert start <= moment < end
    later = start + (end - start) * fraction
    assert BE.business_time_between(start, later) == ((later - start) if is_open else 0 * H)
    assert AlwaysOpen().span_at(moment)[2]


def test_windows_a_dst_change_makes_overlap_count_once() -> None:
    """On the spring-forward Sunday, 01:00-02:30 (02:30 does not exist: 01:30 UTC) and
    03:00-04:00 (01:00-02:00 UTC) overlap in UTC: two hours of business time, not 2.5."""
    night = BusinessCalendar(BRUSSELS, {6: ((time(1), time(2, 30)), (time(3), time(4)))})
    day_start, day_end = bx(3, 29), bx(3, 30)
    assert night.business_time_between(day_start, day_end) == 2 * H
    start, end, is_open = night.span_at(datetime(2026, 3, 29, 1, 15, tzinfo=UTC))
    assert (start, end, is_open) == (
        datetime(2026, 3, 29, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 2, tzinfo=UTC),
        True,
    )
    assert night.add_business_time(day_start, 2 * H) == datetime(2026, 3, 29, 2, tzinfo=UTC)


def test_the_windows_a_calendar_keeps_are_bounded_and_change_no_answer() -> None:
    """Each day's windows are made once and kept (a bounded number of days); what the
    calendar answers is the same whether a day's windows were kept or are made again."""
    keeping = replace(belgian_calendar(), days_kept=5)
    year = keeping.business_time_between(bx(1, 1), bx(1, 1, year=2027))
    assert len(keeping._day_windows) <= 5
    # 2026 in Belgium: 261 weekdays, 8 of them public holidays (Aug 15 and Nov 1 are on a
    # weekend); 10 h each.
    assert year == (261 - 8) * 10 * H
    for start in (bx(3, 27, 17), bx(10, 23, 17), bx(12, 24, 17)):
        fresh = belgian_calendar()
        assert keeping.add_business_time(start, 7 * H) == fresh.add_business_time(start, 7 * H)
        assert keeping.business_time_between(start, start + 90 * H) == (
            fresh.business_time_between(start, start + 90 * H)
        )
