"""Weekly time windows in a time zone: "Monday to Friday, 08:00 to 20:00, Europe/Madrid".

Routing rules and dialler campaigns both say *when* they apply this way. A window is a set of
days of the week and a time of day range; a range that ends before it starts crosses midnight
(``22:00``-``06:00`` on Friday covers Friday night and Saturday until six), and ``00:00``-``24:00``
is the whole day. Times are local to the window's IANA time zone, so a rule keeps meaning
"office hours" across daylight-saving changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = ",".join(DAYS)
DEFAULT_TIMEZONE = "Europe/Madrid"
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class WindowError(ValueError):
    """A window that cannot be understood; ``field`` names the part that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_days(text: str) -> frozenset[int]:
    """``"mon,tue,fri"`` (or ``"mon-fri"``, ``"sat-sun"``) as weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                raise WindowError("days", f"{part!r} is not a range of days like mon-fri")
            a, b = DAYS.index(first), DAYS.index(last)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part in DAYS:
            days.add(DAYS.index(part))
        else:
            raise WindowError("days", f"{part!r} is not a day; use {', '.join(DAYS)}")
    if not days:
        raise WindowError("days", "name at least one day")
    return frozenset(days)


def parse_time(text: str, field: str, *, end: bool = False) -> int:
    """``"HH:MM"`` as minutes after midnight; ``24:00`` only as an end."""
    m = _TIME.match(text.strip())
    if m is None:
        raise WindowError(field, f"{text!r} is not a time like 08:30")
    minutes = int(m.group(1)) * 60 + int(m.group(2))
    if minutes > 24 * 60 or (minutes == 24 * 60 and not end):
        raise WindowError(field, f"{text!r} is not a time of day"
                          + ("" if end else " (24:00 only ends a range)"))
    return minutes


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError("timezone", f"{name!r} is not a known time zone "
                                      f"(like Europe/Madrid or Atlantic/Canary)") from None


@dataclass(frozen=True)
class TimeWindow:
    days: frozenset[int]
    start: int
    """Minutes after midnight."""
    end: int
    tz: ZoneInfo

    @classmethod
    def parse(cls, days: str = ALL_DAYS, time_from: str = "00:00", time_to: str = "24:00",
              timezone: str = DEFAULT_TIMEZONE) -> TimeWindow:
        start = parse_time(time_from, "time_from")
        end = parse_time(time_to, "time_to", end=True)
        if start == end:
            raise WindowError("time_to", "must differ from time_from (00:00 to 24:00 is the "
                                         "whole day)")
        return cls(parse_days(days), start, end, zone(timezone))

    @property
    def always(self) -> bool:
        return len(self.days) == 7 and self.start == 0 and self.end == 24 * 60

    def contains(self, at: float) -> bool:
        """Whether the instant ``at`` (epoch seconds) falls in the window."""
        if self.always:
            return True
        local = datetime.fromtimestamp(at, self.tz)
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        # crosses midnight: the evening of a listed day, or the morning after one
        return (day in self.days and minute >= self.start) or \
            ((day - 1) % 7 in self.days and minute < self.end)

    def describe(self) -> str:
        names = ",".join(DAYS[d] for d in sorted(self.days))
        return (f"{names} {self.start // 60:02d}:{self.start % 60:02d}-"
                f"{self.end // 60:02d}:{self.end % 60:02d} {self.tz.key}")
