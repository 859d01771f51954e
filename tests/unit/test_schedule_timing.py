"""Cadences: what a person may type, and the slots a schedule falls on (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from atlas_services.errors import InvalidInput
from atlas_services.schedules.timing import (
    Cadence,
    format_duration,
    make_cadence,
    next_slot,
    parse_duration,
    with_jitter,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [
    ("6h", 21600), ("10m", 600), ("1d", 86400), ("90s", 90), ("1h30m", 5400), ("0", 0), ("45", 45), (" 2H ", 7200),
])
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration("every", text, "The interval") == seconds


@pytest.mark.parametrize("text", ["", "six hours", "6x", "h", "6h-", "1.5h", "6 h 30"])
def test_malformed_durations_are_refused_by_name(text: str) -> None:
    with pytest.raises(InvalidInput, match="must be a duration like 30m") as caught:
        parse_duration("jitter", text, "The jitter")
    assert caught.value.field == "jitter"


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"every": "0h"}, "every", "must be longer than zero"),
    ({"every": "0"}, "every", "must be longer than zero"),
    ({"every": "-5m"}, "every", "cannot be negative"),
    ({"every": -300}, "every", "cannot be negative"),
    ({"every": "30s"}, "every", "at least 1m"),
    ({"every": "40d"}, "every", "at most 31d"),
    ({"every": "1h", "jitter": "2h"}, "jitter", r"jitter \(2h\) is longer than the interval \(1h\)"),
    ({"every": "1h", "jitter": "-1m"}, "jitter", "cannot be negative"),
    ({"daily": "02:00", "jitter": "25h"}, "jitter", r"longer than the interval \(1d\)"),
    ({"daily": "02:00", "time_zone": "Mars/Olympus_Mons"}, "tz", "Unknown time zone 'Mars/Olympus_Mons'"),
    ({"daily": "02:00", "time_zone": "Europe"}, "tz", "Unknown time zone"),
    ({"daily": "02:00", "time_zone": "../../etc/passwd"}, "tz", "Unknown time zone"),
    ({"daily": "25:00"}, "daily", "HH:MM"),
    ({"daily": "2am"}, "daily", "HH:MM"),
    ({"every": "6h", "time_zone": "Europe/Berlin"}, "tz", "daily time only"),
    ({}, "every", "either an interval"),
    ({"every": "6h", "daily": "02:00"}, "every", "not both"),
])
def test_bad_cadences_get_a_clear_message(kwargs: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        make_cadence(**kwargs)
    assert caught.value.field == field


def test_good_cadences_are_normalised_and_described() -> None:
    assert make_cadence(every="6h", jitter="10m") == Cadence(every_seconds=21600, jitter_seconds=600)
    daily = make_cadence(daily="2:05", time_zone="Europe/Berlin")
    assert daily == Cadence(daily_at="02:05", time_zone="Europe/Berlin")
    assert daily.describe() == "daily at 02:05 Europe/Berlin"
    assert make_cadence(every="6h", jitter="30m").describe() == "every 6h, jitter 30m"
    assert make_cadence(every="1h", jitter="1h").jitter_seconds == 3600  # as long as the interval: allowed
    assert format_duration(5400) == "1h30m"


def test_a_new_schedule_is_due_at_once() -> None:
    assert next_slot(Cadence(every_seconds=21600), None, NOW) == NOW
    assert next_slot(Cadence(daily_at="02:00"), None, NOW) == NOW


def test_an_interval_missed_for_days_comes_back_once_on_its_own_rhythm() -> None:
    cadence = Cadence(every_seconds=6 * 3600)
    previous = NOW - timedelta(days=3, minutes=20)
    slot = next_slot(cadence, previous, NOW)
    assert NOW < slot <= NOW + timedelta(hours=6)
    assert (slot - previous) % timedelta(hours=6) == timedelta(0)  # the cadence keeps its phase
    assert next_slot(cadence, NOW - timedelta(hours=6), NOW) == NOW + timedelta(hours=6)  # exactly on a slot


def test_a_daily_time_is_read_in_its_time_zone() -> None:
    # 02:00 in Berlin is 01:00 UTC in winter; today's has passed at 10:00 UTC, so tomorrow's.
    cadence = Cadence(daily_at="02:00", time_zone="Europe/Berlin")
    assert next_slot(cadence, NOW - timedelta(hours=9), NOW) == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # 02:30 in Berlin (UTC+2): 02:00 has just passed
    assert next_slot(cadence, summer - timedelta(days=1), summer) == datetime(2026, 7, 2, 0, 0, tzinfo=UTC)
    new_york = Cadence(daily_at="23:30", time_zone="America/New_York")
    assert next_slot(new_york, NOW - timedelta(days=1), NOW) == datetime(2026, 11, 29, 4, 30, tzinfo=UTC)


def test_a_daily_time_that_a_dst_change_skips_still_runs_that_day() -> None:
    # 2026-03-29: Berlin jumps from 02:00 to 03:00; 02:30 does not exist that day but the slot still falls on it.
    cadence = Cadence(daily_at="02:30", time_zone="Europe/Berlin")
    now = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    slot = next_slot(cadence, now - timedelta(days=1), now)
    assert slot.date() == datetime(2026, 3, 29, tzinfo=UTC).date() and slot > now


def test_jitter_stays_inside_its_window() -> None:
    cadence = Cadence(every_seconds=3600, jitter_seconds=600)
    offsets = {(with_jitter(NOW, cadence) - NOW).total_seconds() for _ in range(200)}
    assert all(0 <= offset <= 600 for offset in offsets)
    assert len(offsets) > 1  # actually random
    assert with_jitter(NOW, Cadence(every_seconds=3600)) == NOW
