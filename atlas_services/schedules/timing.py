"""A cadence and its slots: pure functions, no database.

A schedule runs every ``every_seconds``, or daily at ``daily_at`` (HH:MM) in ``time_zone``. Each start is due at
its nominal slot plus a random offset within ``jitter_seconds``, so a fleet of connections on the same cadence does
not start all at once. After a start (or a skip) the next slot is the first one after now: a schedule missed during
downtime runs once, not once per missed slot.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from atlas_services.errors import InvalidInput

DAY_SECONDS = 24 * 3600
MIN_INTERVAL_SECONDS = 60  # the scheduler passes every few seconds; a shorter interval could not be kept
MAX_INTERVAL_SECONDS = 31 * DAY_SECONDS
_UNITS = {"d": DAY_SECONDS, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d{1,7})([dhms])")
_DURATION = re.compile(r"(?:\d{1,7}[dhms])+|\d{1,9}")
_DAILY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


@dataclass(frozen=True)
class Cadence:
    """When a schedule's slots fall: exactly one of ``every_seconds`` and ``daily_at``."""

    every_seconds: int | None = None
    daily_at: str | None = None  # "HH:MM", in time_zone
    time_zone: str = "UTC"
    jitter_seconds: int = 0

    @property
    def period_seconds(self) -> int:
        return self.every_seconds if self.every_seconds is not None else DAY_SECONDS

    def describe(self) -> str:
        """How people read it: "every 6h, jitter 30m" or "daily at 02:00 Europe/Berlin"."""
        text = (f"every {format_duration(self.every_seconds)}" if self.every_seconds is not None
                else f"daily at {self.daily_at} {self.time_zone}")
        return text + (f", jitter {format_duration(self.jitter_seconds)}" if self.jitter_seconds else "")


def parse_duration(field: str, value: object, label: str) -> int:
    """Seconds from "90s", "10m", "6h", "1d", "1h30m" or a plain number of seconds; never negative."""
    if isinstance(value, bool):
        raise InvalidInput(field, f"{label} must be a duration like 30m, 6h or 1d")
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower().replace(" ", "") if isinstance(value, str) else ""
        if text.startswith("-"):
            raise InvalidInput(field, f"{label} cannot be negative")
        if not _DURATION.fullmatch(text):
            raise InvalidInput(field, f"{label} must be a duration like 30m, 6h or 1d")
        seconds = int(text) if text.isdigit() else sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
    if seconds < 0:
        raise InvalidInput(field, f"{label} cannot be negative")
    return seconds


def format_duration(seconds: int) -> str:
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def zone(field: str, value: object) -> str:
    """A time zone name from the IANA database (Europe/Berlin, UTC), checked."""
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        return "UTC"
    if len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        raise InvalidInput(field, "Unknown time zone; use a name like Europe/Berlin or UTC")
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise InvalidInput(field, f"Unknown time zone '{name}'; use a name like Europe/Berlin or UTC") from None
    return name


def make_cadence(*, every: object = None, daily: object = None, time_zone: object = None,
                 jitter: object = None) -> Cadence:
    """A checked cadence from what a person typed; InvalidInput names the field at fault."""
    if (every is None) == (daily is None):
        raise InvalidInput("every", "Give either an interval (every 6h) or a daily time (daily 02:00), not both")
    jitter_seconds = parse_duration("jitter", jitter, "The jitter") if jitter is not None else 0
    if every is not None:
        if time_zone is not None and str(time_zone).strip():
            raise InvalidInput("tz", "A time zone applies to a daily time only")
        seconds = parse_duration("every", every, "The interval")
        if seconds <= 0:
            raise InvalidInput("every", "The interval must be longer than zero (for example 6h)")
        if seconds < MIN_INTERVAL_SECONDS:
            raise InvalidInput("every", "The interval must be at least 1m")
        if seconds > MAX_INTERVAL_SECONDS:
            raise InvalidInput("every", "The interval must be at most 31d")
        cadence = Cadence(every_seconds=seconds, jitter_seconds=jitter_seconds)
    else:
        text = daily.strip() if isinstance(daily, str) else ""
        match = _DAILY.fullmatch(text)
        if match is None:
            raise InvalidInput("daily", "The daily time must be HH:MM on a 24-hour clock, like 02:00")
        cadence = Cadence(daily_at=f"{int(match[1]):02d}:{match[2]}", time_zone=zone("tz", time_zone),
                          jitter_seconds=jitter_seconds)
    if jitter_seconds > cadence.period_seconds:
        raise InvalidInput("jitter", f"The jitter ({format_duration(jitter_seconds)}) is longer than the interval "
                                     f"({format_duration(cadence.period_seconds)})")
    return cadence


def next_slot(cadence: Cadence, previous: datetime | None, now: datetime) -> datetime:
    """The first slot after ``now``; a new schedule's (``previous`` None) is ``now`` itself: due at once."""
    if previous is None:
        return now
    if cadence.every_seconds is not None:
        period = timedelta(seconds=cadence.every_seconds)
        if previous > now:
            return previous
        return previous + period * ((now - previous) // period + 1)
    assert cadence.daily_at is not None
    local_zone = ZoneInfo(cadence.time_zone)
    hour, minute = (int(part) for part in cadence.daily_at.split(":"))
    day = now.astimezone(local_zone).date()
    for offset in range(3):  # today's time may have passed; a time a DST change skips still maps to an instant
        slot = datetime.combine(day + timedelta(days=offset), time(hour, minute), tzinfo=local_zone).astimezone(UTC)
        if slot > now:
            return slot
    raise AssertionError("a daily slot always falls within three days")  # pragma: no cover


def with_jitter(slot: datetime, cadence: Cadence) -> datetime:
    """When a slot is due: a random moment in [slot, slot + jitter]."""
    if cadence.jitter_seconds <= 0:
        return slot
    return slot + timedelta(seconds=secrets.randbelow(cadence.jitter_seconds + 1))
