"""Calling hours: `next_open` is checked against a minute-by-minute walk of the clock, in zones
with daylight saving (30-minute Lord Howe, midnight transitions in Havana, Samoa's skipped day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.calling_hours import (
    WEEKDAYS,
    CallingWindow,
    NeverOpen,
    effective,
    is_open,
    next_open,
    zone,
)
from domain.phone import timezone_for

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "America/Havana",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Apia",
    "Pacific/Chatham",
]


@st.composite
def windows(draw: st.DrawFn) -> CallingWindow:
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.integers(start + 1, 24 * 60))
    holidays = draw(st.lists(st.dates(date(2011, 12, 20), date(2012, 1, 20)), max_size=5))
    return CallingWindow(
        days=days,
        start=f"{start // 60:02d}:{start % 60:02d}",
        end=f"{end // 60:02d}:{end % 60:02d}",
        holidays=holidays,
    )


# Around Samoa's skipped day (2011-12-30) and several DST changes of the other zones.
instants = st.one_of(
    st.datetimes(datetime(2011, 12, 20), datetime(2012, 1, 10)),
    st.datetimes(datetime(2026, 3, 1), datetime(2026, 4, 10)),
    st.datetimes(datetime(2026, 9, 20), datetime(2026, 11, 10)),
).map(lambda d: d.replace(tzinfo=UTC))


def walk(at: datetime, window: CallingWindow, tz: ZoneInfo, days: int = 9) -> datetime | None:
    """The first open instant by brute force: `at`, then every whole minute (every offset and
    window edge of these zones falls on a whole minute)."""
    if is_open(at, window, tz):
        return at
    t = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(days * 24 * 60):
        if is_open(t, window, tz):
            return t
        t += timedelta(minutes=1)
    return None


@settings(max_examples=150, deadline=None)
@given(at=instants, window=windows(), name=st.sampled_from(ZONES))
def test_next_open_is_the_first_open_minute(at: datetime, window: CallingWindow, name: str) -> None:
    tz = ZoneInfo(name)
    expected = walk(at, window, tz)
    try:
        found = next_open(at, window, tz)
    except NeverOpen:
        assert expected is None
        return
    assert found >= at and found.tzinfo is not None
    assert is_open(found, window, tz)
    if expected is not None:
        assert found == expected
    else:
        assert found - at > timedelta(days=8)  # beyond the walk, past a run of holidays


@settings(max_examples=100, deadline=None)
@given(at=instants, window=windows(), name=st.sampled_from(ZONES))
def test_open_now_means_now_and_next_open_is_stable(
    at: datetime, window: CallingWindow, name: str
) -> None:
    tz = ZoneInfo(name)
    try:
        found = next_open(at, window, tz)
    except NeverOpen:
        return
    assert (found == at) == is_open(at, window, tz)
    assert next_open(found, window, tz) == found  # asking again at the slot: it is open


def test_a_night_call_waits_for_the_morning_in_the_callees_zone() -> None:
    window = CallingWindow(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="20:00")
    tz = zone(timezone_for("+33612345678"))  # a French mobile: Europe/Paris
    friday_night = datetime(2026, 12, 4, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    opens = next_open(friday_night, window, tz)
    assert opens == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 09:00 in Paris
    new_york = zone(timezone_for("+12125550123"))
    assert next_open(friday_night, window, new_york) == friday_night  # 17:30 in New York


def test_holidays_and_no_window() -> None:
    window = CallingWindow(days=["mon"], start="10:00", end="11:00", holidays=[date(2026, 12, 7)])
    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert next_open(at, window, UTC) == datetime(2026, 12, 14, 10, 0, tzinfo=UTC)
    assert next_open(at, None, UTC) == at
    assert effective(None, window, CallingWindow()) is window
    assert effective(None, None) is None


def test_spring_forward_opens_at_the_jump() -> None:
    # Paris, 2026-03-29: 02:00 becomes 03:00. A window starting 02:30 opens at the jump.
    window = CallingWindow(days=list(WEEKDAYS), start="02:30", end="04:00")
    tz = ZoneInfo("Europe/Paris")
    opens = next_open(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), window, tz)
    assert opens == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"start": "20:00", "end": "09:00"}, "must be before end"),
        ({"start": "9:00"}, "is not a time"),
        ({"end": "24:30"}, "is not a time"),
        ({"days": []}, "at least 1"),
        ({"days": ["mon", "mon"]}, "twice"),
        ({"days": ["monday"]}, "mon"),
    ],
)
def test_bad_windows_are_refused_with_a_reason(body: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        CallingWindow.model_validate(body)


def test_a_window_never_open_says_so() -> None:
    mondays = [date(2026, 12, 7) + timedelta(weeks=w) for w in range(120)]
    window = CallingWindow(days=["mon"], holidays=mondays[:400])
    with pytest.raises(NeverOpen):
        next_open(datetime(2026, 12, 7, tzinfo=UTC), window, UTC)
