"""Business-hours arithmetic (domain.calendar).

Expected instants are written out by hand with explicit UTC offsets (CET is
UTC+1, CEST UTC+2, EST UTC-5, EDT UTC-4), never re-derived by the code under
test. Relevant 2026 dates: Mon 12 Jan; Fri 16 Jan; Sun 8 Mar (New York springs
forward 02:00 EST -> 03:00 EDT, 07:00 UTC); Sun 29 Mar (Berlin springs forward
02:00 CET -> 03:00 CEST, 01:00 UTC); Easter: Good Friday 3 Apr, Easter Monday
6 Apr; Sun 25 Oct (Berlin falls back 03:00 CEST -> 02:00 CET, 01:00 UTC).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

with workflow.unsafe.imports_passed_through():
    # The sandbox re-imports this module for its workflow: everything else
    # comes from the host.
    from tests.conftest import execute_in_sandbox
    from domain.calendar import (
        SEARCH_HORIZON_DAYS,
        BusinessCalendar,
        add_business_time,
        business_time_between,
    )

UTC = timezone.utc
H = timedelta(hours=1)
M = timedelta(minutes=1)


def _at(hours_from_utc: int) -> Callable[[str], datetime]:
    offset = timezone(timedelta(hours=hours_from_utc))
    return lambda text: datetime.fromisoformat(text).replace(tzinfo=offset)


# cet("2026-01-12 10:00") is 10:00 at UTC+1, whatever zoneinfo thinks.
utc, cet, cest, est, edt = _at(0), _at(1), _at(2), _at(-5), _at(-4)

EVERY_DAY = range(7)
MON_FRI = range(5)


def berlin(days: range, *periods: tuple[str, str], **fields) -> BusinessCalendar:
    return calendar_in("Europe/Berlin", days, *periods, **fields)


def calendar_in(zone: str, days: range, *periods: tuple[str, str], **fields) -> BusinessCalendar:
    return BusinessCalendar(time_zone=zone, working_hours={day: list(periods) for day in days}, **fields)


OFFICE = BusinessCalendar(time_zone="Europe/Berlin")  # default Mon-Fri 09:00-17:00
EASTER = BusinessCalendar(time_zone="Europe/Berlin", holidays=[date(2026, 4, 3), date(2026, 4, 6)])
LUNCH = berlin(MON_FRI, ("09:00", "12:00"), ("13:00", "17:00"))
SEVEN_DAYS = berlin(EVERY_DAY, ("09:00", "17:00"))
ALWAYS = berlin(EVERY_DAY, ("00:00", "24:00"))
NIGHTS = berlin(EVERY_DAY, ("01:00", "05:00"))
# Boundaries inside the hour that Berlin skips in March / repeats in October.
FROM_0230 = berlin(EVERY_DAY, ("02:30", "04:00"))
IN_GAP = berlin(EVERY_DAY, ("02:10", "02:50"))
LATE_0230 = berlin(EVERY_DAY, ("02:30", "06:00"))
NY_OFFICE = BusinessCalendar(time_zone="America/New_York")
NY_SEVEN_DAYS = calendar_in("America/New_York", EVERY_DAY, ("09:00", "17:00"))
NY_ALWAYS = calendar_in("America/New_York", EVERY_DAY, ("00:00", "24:00"))


def check(calendar: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime) -> None:
    due = add_business_time(start, duration, calendar)
    assert due == expected, f"{start} + {duration}: got {due.astimezone(expected.tzinfo)}, want {expected}"
    assert due.tzinfo is UTC
    assert business_time_between(start, due, calendar) == duration


def cases(*rows: tuple) -> list:
    """(id, calendar, start, duration, expected) rows as pytest params."""
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


CASE_FIELDS = ("calendar", "start", "duration", "expected")


# --- ordinary weeks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    CASE_FIELDS,
    cases(
        ("within-one-day", OFFICE, cet("2026-01-12 10:00"), 3 * H, cet("2026-01-12 13:00")),
        ("evening-into-next-morning", OFFICE, cet("2026-01-12 15:30"), 4 * H, cet("2026-01-13 11:30")),
        ("friday-across-weekend", OFFICE, cet("2026-01-16 15:00"), 3 * H, cet("2026-01-19 10:00")),
        ("whole-week", OFFICE, cet("2026-01-12 09:00"), 40 * H, cet("2026-01-16 17:00")),
        ("week-and-an-hour", OFFICE, cet("2026-01-12 09:00"), 41 * H, cet("2026-01-19 10:00")),
        ("ends-exactly-at-closing", OFFICE, cet("2026-01-12 09:00"), 8 * H, cet("2026-01-12 17:00")),
        ("start-saturday", OFFICE, cet("2026-01-17 12:00"), 1 * H, cet("2026-01-19 10:00")),
        ("start-sunday-night", OFFICE, cet("2026-01-18 23:30"), 30 * M, cet("2026-01-19 09:30")),
        ("start-before-opening", OFFICE, cet("2026-01-12 07:00"), 1 * H, cet("2026-01-12 10:00")),
        ("start-after-closing", OFFICE, cet("2026-01-12 18:00"), 1 * H, cet("2026-01-13 10:00")),
        ("start-at-closing", OFFICE, cet("2026-01-12 17:00"), 1 * H, cet("2026-01-13 10:00")),
        # 04:00 EST is 09:00 UTC is 10:00 CET: the start's own zone does not matter.
        ("start-in-other-zone", OFFICE, est("2026-01-12 04:00"), 1 * H, cet("2026-01-12 11:00")),
        (
            "microseconds",
            OFFICE,
            cet("2026-01-12 10:00:00.000001"),
            timedelta(seconds=1, microseconds=5),
            cet("2026-01-12 10:00:01.000006"),
        ),
        # Thu 16:00-17:00, Good Friday, weekend, Easter Monday, Tue 09:00-10:00.
        ("across-easter", EASTER, cest("2026-04-02 16:00"), 2 * H, cest("2026-04-07 10:00")),
        ("start-on-holiday", EASTER, cest("2026-04-03 11:00"), 30 * M, cest("2026-04-07 09:30")),
        ("day-before-holiday", EASTER, cest("2026-04-01 16:00"), 1 * H, cest("2026-04-01 17:00")),
        # 09:00-12:00 and 13:00-17:00
        ("across-lunch", LUNCH, cet("2026-01-12 11:00"), 2 * H, cet("2026-01-12 14:00")),
        ("ends-at-lunch", LUNCH, cet("2026-01-12 11:00"), 1 * H, cet("2026-01-12 12:00")),
        ("start-during-lunch", LUNCH, cet("2026-01-12 12:30"), 30 * M, cet("2026-01-12 13:30")),
        ("lunch-day-is-7h", LUNCH, cet("2026-01-12 09:00"), 7 * H, cet("2026-01-12 17:00")),
        ("lunch-into-next-day", LUNCH, cet("2026-01-12 09:00"), 7.5 * H, cet("2026-01-13 09:30")),
    ),
)
def test_ordinary_weeks(
    calendar: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    check(calendar, start, duration, expected)


def test_zero_duration() -> None:
    due = add_business_time(cet("2026-01-12 10:15"), timedelta(0), OFFICE)
    assert due == utc("2026-01-12 09:15") and due.tzinfo is UTC
    # Outside working time the clock has not started: the deadline is the next opening.
    assert add_business_time(cet("2026-01-17 12:00"), timedelta(0), OFFICE) == cet("2026-01-19 09:00")
    # Closing time itself is outside ([09:00, 17:00) is half-open).
    assert add_business_time(cet("2026-01-12 17:00"), timedelta(0), OFFICE) == cet("2026-01-13 09:00")


def test_business_time_between() -> None:
    def between(start: datetime, end: datetime, calendar: BusinessCalendar = OFFICE) -> timedelta:
        return business_time_between(start, end, calendar)

    assert between(cet("2026-01-12 10:00"), cet("2026-01-12 13:00")) == 3 * H
    assert between(cet("2026-01-12 10:00"), cet("2026-01-13 10:00")) == 8 * H
    assert between(cet("2026-01-16 15:00"), cet("2026-01-19 10:00")) == 3 * H
    assert between(cet("2026-01-17 08:00"), cet("2026-01-18 20:00")) == timedelta(0)
    assert between(cet("2026-01-12 10:00"), cet("2026-01-12 10:00")) == timedelta(0)
    # Reversed: negative, e.g. a deadline 3 business hours overdue.
    assert between(cet("2026-01-12 13:00"), cet("2026-01-12 10:00")) == -3 * H
    assert between(cet("2026-01-12 08:00"), cet("2026-01-12 18:00"), LUNCH) == 7 * H
    assert between(cest("2026-04-02 16:00"), cest("2026-04-07 10:00"), EASTER) == 2 * H
    # Four working weeks in January 2026 (5th..30th): 20 days of 8h.
    assert between(cet("2026-01-05 00:00"), cet("2026-01-31 00:00")) == 160 * H


# --- DST ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    CASE_FIELDS,
    cases(
        # Weekday office: the change is on a Sunday; Monday opens at 09:00 CEST.
        ("office", OFFICE, cet("2026-03-27 16:00"), 2 * H, cest("2026-03-30 10:00")),
        # 09:00-17:00 on the change day is still 8 real hours.
        ("seven-days-into-sunday", SEVEN_DAYS, cet("2026-03-28 16:00"), 2 * H, cest("2026-03-29 10:00")),
        ("change-day-is-8h", SEVEN_DAYS, cest("2026-03-29 09:00"), 8 * H, cest("2026-03-29 17:00")),
        # Round the clock: real hours, and the day has only 23.
        ("24h-day-is-23h", ALWAYS, cet("2026-03-29 00:00"), 23 * H, cest("2026-03-30 00:00")),
        ("24h-plus-24h", ALWAYS, cet("2026-03-29 00:00"), 24 * H, cest("2026-03-30 01:00")),
        ("24h-hour-across-jump", ALWAYS, cet("2026-03-29 01:30"), 1 * H, cest("2026-03-29 03:30")),
        # 01:00 CET .. 05:00 CEST is 3 real hours.
        ("night-is-3h", NIGHTS, cet("2026-03-29 01:00"), 3 * H, cest("2026-03-29 05:00")),
        ("night-into-next-night", NIGHTS, cet("2026-03-29 01:00"), 3.5 * H, cest("2026-03-30 01:30")),
        # 02:30 never happens on 29 Mar: the period starts at the jump, 03:00 CEST.
        ("skipped-start-boundary", FROM_0230, cet("2026-03-28 12:00"), 30 * M, cest("2026-03-29 03:30")),
        ("skipped-boundary-day-is-1h", FROM_0230, cet("2026-03-28 12:00"), 1 * H, cest("2026-03-29 04:00")),
        ("next-day-normal", FROM_0230, cet("2026-03-28 12:00"), 90 * M, cest("2026-03-30 03:00")),
        # 02:10-02:50 lies wholly inside the skipped hour: no working time on 29 Mar.
        ("period-inside-skipped-hour", IN_GAP, cet("2026-03-28 02:30"), 30 * M, cest("2026-03-30 02:20")),
    ),
)
def test_berlin_march_dst(
    calendar: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    check(calendar, start, duration, expected)


@pytest.mark.parametrize(
    CASE_FIELDS,
    cases(
        ("office", OFFICE, cest("2026-10-23 16:00"), 2 * H, cet("2026-10-26 10:00")),
        ("change-day-is-8h", SEVEN_DAYS, cet("2026-10-25 09:00"), 8 * H, cet("2026-10-25 17:00")),
        # Round the clock: the day has 25 real hours.
        ("24h-plus-24h", ALWAYS, cest("2026-10-25 00:00"), 24 * H, cet("2026-10-25 23:00")),
        ("24h-day-is-25h", ALWAYS, cest("2026-10-25 00:00"), 25 * H, cet("2026-10-26 00:00")),
        ("24h-repeated-hour", ALWAYS, cest("2026-10-25 02:30"), 1 * H, cet("2026-10-25 02:30")),
        # 01:00 CEST .. 05:00 CET is 5 real hours.
        ("night-is-5h", NIGHTS, cest("2026-10-24 12:00"), 5 * H, cet("2026-10-25 05:00")),
        # 02:30 happens twice on 25 Oct: the period starts at the first (CEST) one
        # and runs to 06:00 CET, 4.5 real hours.
        ("repeated-start-boundary", LATE_0230, cest("2026-10-24 12:00"), 1 * H, cet("2026-10-25 02:30")),
        ("repeated-boundary-day", LATE_0230, cest("2026-10-24 12:00"), 4.5 * H, cet("2026-10-25 06:00")),
    ),
)
def test_berlin_october_dst(
    calendar: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    check(calendar, start, duration, expected)


@pytest.mark.parametrize(
    CASE_FIELDS,
    cases(
        ("office", NY_OFFICE, est("2026-03-06 16:00"), 2 * H, edt("2026-03-09 10:00")),
        ("seven-days-into-sunday", NY_SEVEN_DAYS, est("2026-03-07 16:00"), 2 * H, edt("2026-03-08 10:00")),
        ("24h-day-is-23h", NY_ALWAYS, est("2026-03-08 00:00"), 23 * H, edt("2026-03-09 00:00")),
        ("24h-plus-24h", NY_ALWAYS, est("2026-03-08 00:00"), 24 * H, edt("2026-03-09 01:00")),
        ("24h-hour-across-jump", NY_ALWAYS, est("2026-03-08 01:30"), 1 * H, edt("2026-03-08 03:30")),
    ),
)
def test_new_york_march_dst(
    calendar: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    check(calendar, start, duration, expected)


@pytest.mark.parametrize(
    ("calendar", "day_start", "day_end", "expected"),
    # Each from local midnight to the next local midnight.
    [
        pytest.param(ALWAYS, cet("2026-03-29 00:00"), cest("2026-03-30 00:00"), 23 * H, id="berlin-mar-24h"),
        pytest.param(ALWAYS, cest("2026-10-25 00:00"), cet("2026-10-26 00:00"), 25 * H, id="berlin-oct-24h"),
        pytest.param(NY_ALWAYS, est("2026-03-08 00:00"), edt("2026-03-09 00:00"), 23 * H, id="ny-march-24h"),
        pytest.param(NIGHTS, cet("2026-03-29 00:00"), cest("2026-03-30 00:00"), 3 * H, id="march-nights"),
        pytest.param(NIGHTS, cest("2026-10-25 00:00"), cet("2026-10-26 00:00"), 5 * H, id="october-nights"),
        pytest.param(FROM_0230, cet("2026-03-29 00:00"), cest("2026-03-30 00:00"), 1 * H, id="march-0230"),
        pytest.param(IN_GAP, cet("2026-03-29 00:00"), cest("2026-03-30 00:00"), 0 * H, id="march-in-gap"),
        pytest.param(SEVEN_DAYS, cet("2026-03-29 00:00"), cest("2026-03-30 00:00"), 8 * H, id="march-9-to-5"),
        pytest.param(LATE_0230, cest("2026-10-25 00:00"), cet("2026-10-26 00:00"), 4.5 * H, id="oct-0230"),
    ],
)
def test_dst_days_measure_real_hours(
    calendar: BusinessCalendar, day_start: datetime, day_end: datetime, expected: timedelta
) -> None:
    assert business_time_between(day_start, day_end, calendar) == expected


def test_start_fold_selects_the_occurrence() -> None:
    """An ambiguous local start (02:30 on 25 Oct in Berlin) means what its fold says."""
    zone = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=zone)  # 02:30 CEST = 00:30 UTC
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=zone)  # 02:30 CET = 01:30 UTC
    assert add_business_time(first, H, ALWAYS) == utc("2026-10-25 01:30")
    assert add_business_time(second, H, ALWAYS) == utc("2026-10-25 02:30")


# --- independent oracle: count UTC minutes whose local wall time is working time ------------------


def _oracle(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Working time by brute force: step minute by minute in UTC (never ambiguous)
    and ask whether the local wall time lies in a working period. Agrees with the
    documented semantics whenever no period boundary is itself a skipped or
    repeated wall time."""
    zone = ZoneInfo(calendar.time_zone)
    minutes = 0
    moment = start
    while moment < end:
        local = moment.astimezone(zone)
        if local.date() not in calendar.holidays:
            since_midnight = timedelta(hours=local.hour, minutes=local.minute)
            for period_start, period_end in calendar.working_hours.get(local.weekday(), []):
                begins = timedelta(hours=period_start.hour, minutes=period_start.minute)
                ends = timedelta(hours=period_end.hour, minutes=period_end.minute) or timedelta(days=1)
                if begins <= since_midnight < ends:
                    minutes += 1
                    break
        moment += M
    return minutes * M


@pytest.mark.parametrize("calendar", [EASTER, LUNCH, SEVEN_DAYS, ALWAYS, NIGHTS, NY_SEVEN_DAYS, NY_ALWAYS])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(utc("2026-03-05 22:17"), utc("2026-03-10 03:41"), id="ny-march"),
        pytest.param(utc("2026-03-27 05:03"), utc("2026-04-08 11:59"), id="berlin-march-easter"),
        pytest.param(utc("2026-10-23 13:13"), utc("2026-10-27 00:01"), id="berlin-october"),
    ],
)
def test_between_matches_minute_oracle(calendar: BusinessCalendar, start: datetime, end: datetime) -> None:
    assert business_time_between(start, end, calendar) == _oracle(calendar, start, end)


# --- round trip over many generated cases ---------------------------------------------------------

ROUND_TRIP_CALENDARS = [
    EASTER,
    LUNCH,
    ALWAYS,
    NIGHTS,
    FROM_0230,
    IN_GAP,
    LATE_0230,
    NY_OFFICE,
    NY_ALWAYS,
    # Lord Howe Island moves its clocks by 30 minutes, at 02:00.
    calendar_in("Australia/Lord_Howe", EVERY_DAY, ("01:15", "02:45"), ("08:00", "18:00")),
    # A Sunday-Thursday week at +05:45, with microsecond boundaries.
    BusinessCalendar(
        time_zone="Asia/Kathmandu",
        working_hours={
            day: [(time(9, 59, 59, 999_999), time(13)), (time(14), time(18, 0, 0, 1))]
            for day in (6, 0, 1, 2, 3)
        },
        holidays=[date(2026, 3, 3)],
    ),
]
# Weeks around the 2026 clock changes: New York and Berlin (March), Lord Howe (April and
# October), Berlin (October).
DST_WEEKS = [utc(f"2026-{day} 00:00") for day in ("03-05", "03-26", "04-02", "09-24", "10-22")]


def _generated_cases(count: int) -> list[tuple[BusinessCalendar, datetime, timedelta]]:
    rng = random.Random(20260329)
    generated = []
    for index in range(count):
        calendar = ROUND_TRIP_CALENDARS[index % len(ROUND_TRIP_CALENDARS)]
        if rng.random() < 0.7:  # mostly around DST changes
            start = rng.choice(DST_WEEKS) + timedelta(seconds=rng.randrange(7 * 86_400))
        else:
            start = utc("2026-01-01 00:00") + timedelta(seconds=rng.randrange(365 * 86_400))
        start += timedelta(microseconds=rng.choice([0, 0, rng.randrange(1_000_000)]))
        duration = rng.choice(
            [
                timedelta(0),
                timedelta(minutes=rng.randrange(1, 600)),
                timedelta(seconds=rng.randrange(1, 80 * 3600)),
                timedelta(hours=rng.randrange(1, 200), microseconds=rng.randrange(1_000_000)),
            ]
        )
        generated.append((calendar, start, duration))
    return generated


def test_round_trip_generated_cases() -> None:
    tick = timedelta(microseconds=1)
    for calendar, start, duration in _generated_cases(600):
        due = add_business_time(start, duration, calendar)
        context = f"{calendar.time_zone} {calendar.working_hours.get(0)} {start=} {duration=} {due=}"
        assert due.tzinfo is UTC, context
        assert due >= start, context
        assert business_time_between(start, due, calendar) == duration, context
        assert business_time_between(due, start, calendar) == -duration, context
        if duration:
            # The earliest such instant: the clock was running just before it.
            assert business_time_between(due - tick, due, calendar) == tick, context
        later = add_business_time(start, duration + 7 * M, calendar)
        assert later > due, context
        # Measuring then adding lands back on a deadline.
        measured = business_time_between(start, later, calendar)
        assert add_business_time(start, measured, calendar) == later, context


# --- validation and guards ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown IANA time zone 'Mars/Olympus_Mons'"),
        ({"time_zone": ""}, "unknown IANA time zone"),
        ({"time_zone": "../../etc/passwd"}, "unknown IANA time zone"),
        ({"time_zone": "Europe"}, "unknown IANA time zone"),
        ({"working_hours": {0: [("17:00", "09:00")]}}, "Monday: period 17:00-09:00 must end after it starts"),
        ({"working_hours": {2: [("09:00", "09:00")]}}, "Wednesday: period 09:00-09:00 must end after"),
        ({"working_hours": {0: [("09:00", "13:00"), ("12:00", "17:00")]}}, "period 12:00-17:00 overlaps"),
        ({"working_hours": {4: [("13:00", "17:00"), ("09:00", "12:00")]}}, "Friday: period 09:00-12:00 over"),
        ({"working_hours": {7: [("09:00", "17:00")]}}, "weekday 7 is not 0 (Monday) .. 6 (Sunday)"),
        ({"working_hours": {}}, "no working time: every weekday is empty"),
        ({"working_hours": {day: [] for day in range(7)}}, "no working time: every weekday is empty"),
        ({"working_hours": {0: [(time(9, tzinfo=UTC), time(17))]}}, "no tzinfo"),
    ],
)
def test_invalid_calendars(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        BusinessCalendar(**{"time_zone": "Europe/Berlin", **fields})


def test_valid_calendar_shapes_and_json_round_trip() -> None:
    calendar = BusinessCalendar.model_validate(
        {
            "time_zone": "America/New_York",
            "working_hours": {"0": [["08:00", "12:00"], ["12:00", "24:00"]], "5": [["00:00", "24:00"]]},
            "holidays": ["2026-12-25"],
        }
    )
    assert calendar.working_hours == {0: [(time(8), time(12)), (time(12), time(0))], 5: [(time(0), time(0))]}
    assert BusinessCalendar.model_validate_json(calendar.model_dump_json()) == calendar
    # Touching periods tile: Monday 08:00-24:00 is 16 hours.
    assert business_time_between(est("2026-01-12 00:00"), est("2026-01-13 00:00"), calendar) == 16 * H
    assert OFFICE.working_hours == {day: [(time(9), time(17))] for day in range(5)}
    assert OFFICE.holidays == []


def test_guards() -> None:
    with pytest.raises(ValueError, match="start must be an aware datetime"):
        add_business_time(datetime(2026, 1, 12, 10, 0), H, OFFICE)
    with pytest.raises(ValueError, match="end must be an aware datetime"):
        business_time_between(utc("2026-01-12 10:00"), datetime(2026, 1, 12, 11, 0), OFFICE)
    with pytest.raises(ValueError, match="must not be negative"):
        add_business_time(utc("2026-01-12 10:00"), -H, OFFICE)
    # A calendar that skipped validation still cannot loop forever.
    empty = BusinessCalendar.model_construct(time_zone="UTC", working_hours={0: [], 3: []}, holidays=[])
    with pytest.raises(ValueError, match="no working time"):
        add_business_time(utc("2026-01-12 10:00"), H, empty)


def _mondays(first: date, last: date) -> list[date]:
    return [first + timedelta(weeks=week) for week in range((last - first).days // 7 + 1)]


def test_holidays_covering_the_search_horizon_fail_clearly() -> None:
    mondays_only = {0: [(time(9), time(17))]}
    # Every Monday of 2026 off: the first working hour is Mon 4 Jan 2027.
    year_off = BusinessCalendar(
        time_zone="UTC", working_hours=mondays_only, holidays=_mondays(date(2026, 1, 5), date(2026, 12, 28))
    )
    check(year_off, utc("2026-01-01 00:00"), H, utc("2027-01-04 10:00"))
    # Every Monday for longer than the search horizon: a clear error, not a hang.
    assert SEARCH_HORIZON_DAYS < 11 * 365
    forever_off = BusinessCalendar(
        time_zone="UTC", working_hours=mondays_only, holidays=_mondays(date(2026, 1, 5), date(2037, 1, 5))
    )
    with pytest.raises(ValueError, match="does not fit in the 3653 days after 2026-01-01T00:00:00"):
        add_business_time(utc("2026-01-01 00:00"), H, forever_off)


# --- inside Temporal's workflow sandbox -----------------------------------------------------------


class DeadlineRequest(BaseModel):
    calendar: BusinessCalendar
    start: datetime
    duration: timedelta


class DeadlineAnswer(BaseModel):
    due_at: datetime
    business_time: timedelta


@workflow.defn
class BusinessDeadlineWorkflow:
    """Computes deadlines in the sandbox the way the ticket workflow does."""

    @workflow.run
    async def run(self, requests: list[DeadlineRequest]) -> list[DeadlineAnswer]:
        answers = []
        for request in requests:
            due_at = add_business_time(request.start, request.duration, request.calendar)
            spent = business_time_between(request.start, due_at, request.calendar)
            answers.append(DeadlineAnswer(due_at=due_at, business_time=spent))
        return answers


async def test_runs_inside_the_workflow_sandbox(time_skipping_server: WorkflowEnvironment) -> None:
    """The worker's default sandbox runs the calendar code, reading time-zone files
    itself when a zone is first used there; domain.calendar is passed through
    (see the import at the top), as workflows/ticket.py does for domain modules."""
    requests: list[DeadlineRequest | dict] = [
        DeadlineRequest(calendar=EASTER, start=cest("2026-04-02 16:00"), duration=2 * H),
        DeadlineRequest(calendar=NY_ALWAYS, start=est("2026-03-08 00:00"), duration=24 * H),
        # Sent as plain JSON and used nowhere else in this file, so the zone is first
        # loaded (validated, its tz file read) inside the sandbox. Chatham is UTC+13:45
        # until 5 Apr 2026: 01:45 local on Sun 29 Mar; the 02:30 opening is 12:45 UTC.
        {
            "calendar": {"time_zone": "Pacific/Chatham", "working_hours": {"6": [["02:30", "04:00"]]}},
            "start": "2026-03-28T12:00:00Z",
            "duration": "PT30M",
        },
    ]
    answers = await execute_in_sandbox(time_skipping_server, BusinessDeadlineWorkflow, requests, list[DeadlineAnswer])

    due = [answer.due_at for answer in answers]
    assert due == [cest("2026-04-07 10:00"), edt("2026-03-09 01:00"), utc("2026-03-28 13:15")]
    # The same as computing directly, outside the sandbox.
    parsed = [DeadlineRequest.model_validate(request) for request in requests]
    assert due == [add_business_time(r.start, r.duration, r.calendar) for r in parsed]
    assert [answer.business_time for answer in answers] == [r.duration for r in parsed]
