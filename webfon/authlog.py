"""Authentication failures as log lines a fail2ban filter can match safely.

A line starts with a fixed prefix and carries ``key=value`` tokens, the client address first;
every value goes through :func:`clean`, so text an attacker chooses (a login, a SIP user name)
can neither add a field nor put another address where the filter looks for one.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+:-]")


def clean(value: object, limit: int = 64) -> str:
    """Printable token without spaces or '=', so a crafted login cannot add fields."""
    text = _UNSAFE.sub("?", str(value if value is not None else ""))[:limit]
    return text or "-"
