"""Calling hours: when a callee may be rung, in their own local time.

A `CallingWindow` is a set of weekdays, a local start and end (minutes after local midnight,
half-open `[start, end)`, never across midnight) and holiday dates. `next_open` is the first
instant at or after a given one when the window is open in the callee's timezone.

Pure and deterministic (the workflows use it): local time is read through `zoneinfo`, and the
daylight-saving edges are handled exactly -- a start inside a spring-forward gap opens at the
jump, and a wall time passed twice when clocks go back is open both times.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")

# Far enough for a window open one weekday a year minus its holidays; further is "never".
HORIZON_DAYS = 800
# A day and its neighbours' DST transitions are looked for in this span around it.
_SPAN = timedelta(hours=30)


class NeverOpen(ValueError):
    """The window has no open instant within `HORIZON_DAYS` (every open day is a holiday)."""


class CallingWindow(BaseModel):
    """When calls may be placed, in the callee's local time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS[:6]),
        min_length=1,
        max_length=7,
        description="Weekdays on which calls may be placed",
    )
    start: str = Field(default="09:00", description="Local opening time, HH:MM")
    end: str = Field(default="20:00", description="Local closing time, HH:MM (24:00: midnight)")
    holidays: list[date] = Field(
        default_factory=list, max_length=400, description="Local dates with no calls"
    )

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time HH:MM (00:00 to 24:00)")
        return value

    @field_validator("days")
    @classmethod
    def _unique_days(cls, days: list[Weekday]) -> list[Weekday]:
        if len(set(days)) != len(days):
            raise ValueError("days lists a weekday twice")
        return days

    @model_validator(mode="after")
    def _start_before_end(self) -> CallingWindow:
        if self.start_minute >= self.end_minute:
            raise ValueError(
                f"start {self.start} must be before end {self.end} (a window never crosses "
                "midnight: give two days instead)"
            )
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def zone(name: str | None) -> tzinfo:
    """The IANA zone of that name; UTC for None or an unknown name."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def effective(*windows: CallingWindow | None) -> CallingWindow | None:
    """The most specific window given (call, then campaign, then deployment); None: any time."""
    return next((w for w in windows if w is not None), None)


def is_open(at: datetime, window: CallingWindow, tz: tzinfo) -> bool:
    """Whether the window is open at the instant `at` (aware) in zone `tz`."""
    local = _aware(at).astimezone(tz)
    if WEEKDAYS[local.weekday()] not in window.days or local.date() in window.holidays:
        return False
    minute = local.hour * 60 + local.minute
    return window.start_minute <= minute < window.end_minute


def next_open(at: datetime, window: CallingWindow | None, tz: tzinfo) -> datetime:
    """The first instant at or after `at` when `window` is open in `tz` (UTC, aware).

    `at` itself when open (or when there is no window). Otherwise the window opens either as the
    local clock reaches `start` on an open day, or at a DST transition that jumps the clock into
    the window: both are candidates, the earliest open one after `at` wins.

    Raises:
        NeverOpen: no open instant within `HORIZON_DAYS` days.
    """
    at = _aware(at).astimezone(UTC)
    if window is None or is_open(at, window, tz):
        return at
    first = at.astimezone(tz).date() - timedelta(days=1)  # clocks going back may reopen a day
    for offset in range(HORIZON_DAYS):
        day = first + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days or day in window.holidays:
            continue
        found = [c for c in _candidates(day, window, tz) if c > at and is_open(c, window, tz)]
        if found:
            return min(found)
    raise NeverOpen(f"the calling window is not open in the next {HORIZON_DAYS} days")


def _candidates(day: date, window: CallingWindow, tz: tzinfo) -> list[datetime]:
    """Instants at which the window may open on `day`: its start (both readings of an ambiguous
    wall time) and the zone's transitions around the day."""
    hour, minute = divmod(window.start_minute, 60)
    start = time(hour, minute)
    readings = [
        datetime.combine(day, start, tzinfo=tz).astimezone(UTC),
        datetime.combine(day, start, tzinfo=tz).replace(fold=1).astimezone(UTC),
    ]
    midnight = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    return readings + _transitions(midnight - timedelta(hours=6), midnight + _SPAN, tz)


def _transitions(low: datetime, high: datetime, tz: tzinfo) -> list[datetime]:
    """The first instant of each new UTC offset in `(low, high]` (whole seconds)."""
    if _offset(low, tz) == _offset(high, tz):
        return []  # no zone changes offset twice within 36 hours and back again
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _offset(middle, tz) == _offset(low, tz):
            low = middle
        else:
            high = middle
    return [high]


def _offset(at: datetime, tz: tzinfo) -> timedelta | None:
    return at.astimezone(tz).utcoffset()


def _aware(at: datetime) -> datetime:
    """A naive instant is taken as UTC (workflow.now() and the store are UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
