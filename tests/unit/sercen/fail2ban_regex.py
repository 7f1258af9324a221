"""The shipped fail2ban filter turned into Python regular expressions for tests.

fail2ban's ``<HOST>`` becomes a named group accepting IPv4/IPv6 addresses (fail2ban also
allows an IPv4-mapped prefix); ``{EPOCH}`` in the date pattern becomes seconds with optional
fraction. ``%(name)s`` references are resolved the way fail2ban's config reader does.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

FILTER = (Path(__file__).resolve().parents[3] / "deploy" / "fail2ban" / "filter.d"
          / "webfon-sercen.conf")
HOST = r"(?:::f{4,6}:)?(?P<host>[0-9A-Fa-f.:]+)"


def _definition() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(FILTER)
    return parser["Definition"]


def failregexes() -> list[re.Pattern[str]]:
    lines = [ln.strip() for ln in _definition()["failregex"].splitlines() if ln.strip()]
    return [re.compile(ln.replace("<HOST>", HOST)) for ln in lines]


def datepattern() -> re.Pattern[str]:
    return re.compile(_definition()["datepattern"].replace("{EPOCH}", r"\d+(?:\.\d+)?"))


def match_host(line: str) -> str | None:
    """The banned address if any failregex matches ``line`` (searched, as fail2ban does)."""
    for regex in failregexes():
        m = regex.search(line)
        if m:
            return m.group("host")
    return None
