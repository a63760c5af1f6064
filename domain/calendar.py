"""Business-hours arithmetic for escalation deadlines.

An escalation rule's duration counts either calendar time (plain `start +
duration`) or working time of the segment's `BusinessCalendar`. This module does
the second: `add_business_time` finds the instant at which a duration of working
time has elapsed, `business_time_between` measures the working time between two
instants (its inverse: "2h of business time left").

It runs inside Temporal's workflow sandbox (the ticket workflow computes its own
deadlines), so it is pure: no clock, no I/O other than the stdlib `zoneinfo`
time-zone database, only stdlib and pydantic.

How wall-clock working hours become real time
---------------------------------------------
Working hours are local wall-clock times, but durations are measured in real
(UTC) time, so a DST change is handled by converting every period boundary to
an instant and subtracting instants:

- A boundary wall time maps to the *first instant at which the local clock shows
  that time or later*. For an ordinary time that is the one instant. For a time
  that occurs twice (the clock falls back) it is the first occurrence (fold=0).
  For a time that never occurs (the clock springs forward over it) it is the
  instant of the jump.
- Starts and ends use the same mapping, so adjacent periods (`00:00-12:00`,
  `12:00-24:00`) still tile the day without gap or overlap, and a period never
  has negative length.
- Consequently 09:00-17:00 is 8 real hours on a DST-change day unless the
  transition falls inside it; then it is the real time between the two instants:
  00:00-24:00 is 23 hours on the spring-forward day and 25 on the fall-back
  day, 01:00-05:00 is 3 or 5 hours. A period lying entirely inside a skipped
  hour has no length. When a boundary itself is a repeated wall time, only the
  first occurrence counts (e.g. 02:30-06:00 on a 03:00->02:00 night starts at
  the first 02:30).

Periods are half-open, [start, end): at 17:00 the office is closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, Field, field_validator

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# As an end time, 00:00 means midnight at the end of the day ("24:00"), which
# `time` cannot express; the input "24:00" is accepted as an alias.
END_OF_DAY = time(0, 0)

# add_business_time looks at most this many local days ahead (about ten years)
# before giving up: a misconfigured calendar (holidays covering years) must fail
# with a clear error, not loop or stall a workflow task.
SEARCH_HORIZON_DAYS = 3653

ONE_DAY = timedelta(days=1)
UTC = timezone.utc


# weekday (0=Monday .. 6=Sunday) -> [(start, end), ...] in local time
WorkingHours = dict[int, list[tuple[time, time]]]


def _default_working_hours() -> WorkingHours:
    return {weekday: [(time(9, 0), time(17, 0))] for weekday in range(5)}


class BusinessCalendar(BaseModel):
    """When a segment works: weekly local hours in one time zone, minus holidays."""

    time_zone: str = Field(
        description="IANA time zone name, e.g. Europe/Berlin",
        # The schema lists the zones this machine knows (read when the schema
        # is made, not on import: the workflow sandbox imports this module).
        json_schema_extra=lambda schema: schema.update(enum=sorted(available_timezones())),
    )
    working_hours: WorkingHours = Field(
        default_factory=_default_working_hours,
        description=(
            "weekday (0=Monday .. 6=Sunday) -> sorted, non-overlapping (start, end) local times; "
            "an end of 00:00 (or '24:00') is midnight at the end of the day; a missing weekday has no "
            "working time. Default Monday-Friday 09:00-17:00."
        ),
    )
    holidays: list[date] = Field(default_factory=list, description="whole local days off")

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("working_hours", mode="before")
    @classmethod
    def _accept_24_00(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {weekday: _end_of_day_aliases(periods) for weekday, periods in value.items()}

    @field_validator("working_hours")
    @classmethod
    def _valid_working_hours(cls, value: WorkingHours) -> WorkingHours:
        for weekday, periods in value.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday {weekday} is not 0 (Monday) .. 6 (Sunday)")
            _check_day_periods(WEEKDAY_NAMES[weekday], periods)
        if not any(value.values()):
            raise ValueError("the calendar has no working time: every weekday is empty")
        return value

    @property
    def zone(self) -> ZoneInfo:
        # ZoneInfo caches instances by name, so this is cheap after the first call.
        return ZoneInfo(self.time_zone)


def _end_of_day_aliases(periods: Any) -> Any:
    if not isinstance(periods, list | tuple):
        return periods  # let pydantic report the wrong type
    return [_end_of_day_alias(pair) for pair in periods]


def _end_of_day_alias(pair: Any) -> Any:
    if isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[1], str):
        if pair[1].strip() in ("24:00", "24:00:00"):
            return (pair[0], END_OF_DAY)
    return pair


def _since_midnight(moment: time, *, is_end: bool = False) -> timedelta:
    if is_end and moment == END_OF_DAY:
        return ONE_DAY
    return timedelta(
        hours=moment.hour, minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond
    )


def _check_day_periods(day_name: str, periods: list[tuple[time, time]]) -> None:
    previous_end = timedelta(0)
    for start, end in periods:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{day_name}: working hours are local times of the calendar's zone, no tzinfo")
        begins, ends = _since_midnight(start), _since_midnight(end, is_end=True)
        if ends <= begins:
            raise ValueError(f"{day_name}: period {start:%H:%M}-{end:%H:%M} must end after it starts")
        if begins < previous_end:
            raise ValueError(
                f"{day_name}: period {start:%H:%M}-{end:%H:%M} overlaps or precedes the one before; "
                "list periods sorted and non-overlapping"
            )
        previous_end = ends


# ---------------------------------------------------------------------------
# Local wall time -> real instants


def _as_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _first_instant_at(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the local clock shows `wall` or later."""
    # fold=0 is the earlier of two occurrences when the clock falls back.
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # The wall time does not exist: the clock jumped over it.
    return _clock_jump_over(wall, zone)


def _clock_jump_over(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of the forward jump that skips the wall time `wall`.

    zoneinfo reads a skipped time with the offset from before the jump (fold=0,
    giving an instant after the jump) or after it (fold=1, an instant before), so
    the jump lies between those two; zoneinfo exposes no transition list, so
    bisect down to the microsecond (about 32 steps, only on DST-change days).
    """
    candidates = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    before, after = candidates
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > timedelta(microseconds=1):
        middle = before + (after - before) // 2
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after


def _working_periods_on(
    day: date, calendar: BusinessCalendar, zone: ZoneInfo, holidays: frozenset[date]
) -> list[tuple[datetime, datetime]]:
    """The working periods of one local day as UTC [begin, end) intervals, in order."""
    if day in holidays:
        return []
    periods = []
    for start, end in calendar.working_hours.get(day.weekday(), ()):
        begins = _first_instant_at(datetime.combine(day, start), zone)
        end_day = day + ONE_DAY if end == END_OF_DAY else day
        ends = _first_instant_at(datetime.combine(end_day, end), zone)
        if ends > begins:  # a period inside a skipped hour has no length
            periods.append((begins, ends))
    return periods


def _working_periods(
    first_day: date, last_day: date, calendar: BusinessCalendar
) -> Iterator[tuple[datetime, datetime]]:
    """Working periods of the local days first_day..last_day, in chronological order.

    Periods of one day end no later than the next day's midnight and the
    boundary mapping is monotonic, so day-by-day order is chronological order.
    """
    zone = calendar.zone
    holidays = frozenset(calendar.holidays)
    day = first_day
    while day <= last_day:
        yield from _working_periods_on(day, calendar, zone, holidays)
        day += ONE_DAY


def _local_date(moment: datetime, calendar: BusinessCalendar) -> date:
    return moment.astimezone(calendar.zone).date()


# ---------------------------------------------------------------------------
# Public API


def add_business_time(start: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """The instant (aware, UTC) at which `duration` of working time has elapsed after `start`.

    - `start` is an aware datetime in any zone; a naive one is a ValueError.
    - Outside working hours the clock does not run: counting starts at the
      next working period.
    - The result always lies in a working period or at its end: a duration
      used up exactly at closing time gives the closing time (17:00), not the
      next opening.
    - `duration` zero gives `start` (in UTC) if start is in working time, else
      the next opening (so a deadline never falls outside working hours).
    - A negative duration is a ValueError.
    - A calendar without any working time, or whose holidays leave none within
      SEARCH_HORIZON_DAYS (about ten years) of the start, is a ValueError.
    """
    start_utc = _as_utc(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    if not any(calendar.working_hours.values()):
        raise ValueError("the calendar has no working time: every weekday is empty")

    # Start a local day early: cheap insurance for zones whose clock falls back
    # across midnight (the local date goes backwards). Periods that ended
    # before `start` are skipped below.
    first_day = _local_date(start_utc, calendar) - ONE_DAY
    last_day = first_day + timedelta(days=SEARCH_HORIZON_DAYS)
    remaining = duration
    for begins, ends in _working_periods(first_day, last_day, calendar):
        if ends <= start_utc:
            continue
        counted_from = max(begins, start_utc)
        available = ends - counted_from
        if remaining <= available:
            return counted_from + remaining
        remaining -= available
    raise ValueError(
        f"{duration} of working time does not fit in the {SEARCH_HORIZON_DAYS} days after "
        f"{start_utc.isoformat()} (time zone {calendar.time_zone}): the calendar has too little working "
        "time; do holidays cover years?"
    )


def business_time_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> timedelta:
    """The working time (real duration) in [start, end); both aware, any zone.

    Negative if end is before start (`between(a, b) == -between(b, a)`), so
    "time left until the deadline" goes below zero once it is overdue.
    For d >= 0: business_time_between(s, add_business_time(s, d, cal), cal) == d.
    """
    start_utc, end_utc = _as_utc(start, "start"), _as_utc(end, "end")
    if end_utc < start_utc:
        return -business_time_between(end_utc, start_utc, calendar)
    # A local day of margin each side, as in add_business_time; periods outside
    # [start, end) contribute nothing.
    first_day = _local_date(start_utc, calendar) - ONE_DAY
    last_day = _local_date(end_utc, calendar) + ONE_DAY
    total = timedelta(0)
    for begins, ends in _working_periods(first_day, last_day, calendar):
        overlap = min(ends, end_utc) - max(begins, start_utc)
        if overlap > timedelta(0):
            total += overlap
    return total
