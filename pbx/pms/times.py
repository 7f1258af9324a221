"""Hotel times: the wake-up times the PMS or a guest gives (local times of the hotel's zone)
as instants, and instants as the local date and time the PMS reads."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_TIME = re.compile(r"^([01]?\d|2[0-3]):?([0-5]\d)(?::?([0-5]\d))?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class TimeError(ValueError):
    """A time or date the hotel cannot mean."""


def parse_time(text: str) -> dt.time:
    """``HH:MM``, ``HH:MM:SS``, ``HHMM`` (as dialled: ``*55*0730#``) or ``HHMMSS``."""
    m = _TIME.match(text.strip())
    if m is None:
        raise TimeError(f"{text!r} is not a time (HH:MM or HH:MM:SS)")
    return dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def parse_date(text: str) -> dt.date:
    m = _DATE.match(text.strip())
    if m is None:
        raise TimeError(f"{text!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise TimeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def wakeup_instant(time_text: str, date_text: str | None, now: float, zone: ZoneInfo) -> float:
    """When a wake-up call at ``time_text`` (on ``date_text``, else its next occurrence) is
    due. A time given with its date must not be past; without a date, a time already past
    today means tomorrow."""
    at = parse_time(time_text)
    local_now = dt.datetime.fromtimestamp(now, zone)
    if date_text:
        when = dt.datetime.combine(parse_date(date_text), at, zone)
        if when.timestamp() < now - 60:
            raise TimeError(f"{date_text} {time_text} is in the past")
        return max(when.timestamp(), now)
    when = dt.datetime.combine(local_now.date(), at, zone)
    if when.timestamp() <= now:
        when = dt.datetime.combine(local_now.date() + dt.timedelta(days=1), at, zone)
    return when.timestamp()


def local(ts: float, zone: ZoneInfo) -> tuple[str, str]:
    """The local (date, time) of an instant: ``YYYY-MM-DD``, ``HH:MM:SS``."""
    moment = dt.datetime.fromtimestamp(ts, zone)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")


def day_bounds(date_text: str, zone: ZoneInfo) -> tuple[float, float]:
    """The instants a local day starts and ends."""
    day = parse_date(date_text)
    start = dt.datetime.combine(day, dt.time(0, 0), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), zone)
    return start.timestamp(), end.timestamp()
