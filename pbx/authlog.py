"""The PBX's authentication failures and bans as log lines a fail2ban filter can match.

One line per failure, the source address first, never a password, PIN or digest::

    pbx-auth-failure ip=203.0.113.7 user=2001 kind=digest reason=wrong_credentials
    pbx-auth-failure ip=203.0.113.7 user=6721 kind=mobility reason=bad_pin
    pbx-auth-failure ip=203.0.113.7 user=3100 kind=conference reason=bad_pin

and one when the PBX itself starts refusing a source (``pbx-auth-ban``), which the filter
does not count. The shipped filter and jail: ``webfon-pbx.conf`` beside sercen's.
"""

from __future__ import annotations

import logging

from webfon.authlog import clean

log = logging.getLogger("pbx.auth")

FAILURE_PREFIX = "pbx-auth-failure"
BAN_PREFIX = "pbx-auth-ban"


def failure(ip: object, user: object, kind: str, reason: str,
            call_id: str | None = None) -> None:
    log.warning(f"{FAILURE_PREFIX} ip={clean(ip)} user={clean(user)} kind={clean(kind)} "
                f"reason={clean(reason)}", extra={"call_id": call_id} if call_id else None)


def ban(kind: str, subject: object, seconds: float) -> None:
    log.warning(f"{BAN_PREFIX} kind={clean(kind)} subject={clean(subject)} "
                f"seconds={int(seconds)}")
