"""Authentication events as log lines a fail2ban filter can match.

Every failure is one line whose message starts with a fixed prefix and carries only the client
address, the login as typed (sanitised so it cannot forge fields), the factor and a reason
word; never passwords, codes or tokens::

    sercen-auth-failure ip=203.0.113.7 user=1001 factor=password reason=bad_password

Successes and bans use their own prefixes (``sercen-auth-success``, ``sercen-auth-ban``) so
the failure filter never counts them. The shipped filter is deploy/fail2ban/filter.d/.
"""

from __future__ import annotations

import logging

from webfon.authlog import clean

log = logging.getLogger("sercen.auth")

FAILURE_PREFIX = "sercen-auth-failure"
SUCCESS_PREFIX = "sercen-auth-success"
BAN_PREFIX = "sercen-auth-ban"
__all__ = ["BAN_PREFIX", "FAILURE_PREFIX", "SUCCESS_PREFIX", "ban", "clean", "failure",
           "success"]


def failure(ip: object, user: object, factor: str, reason: str) -> None:
    log.warning(f"{FAILURE_PREFIX} ip={clean(ip)} user={clean(user)} factor={clean(factor)} "
                f"reason={clean(reason)}",
                extra={"ip": str(ip), "factor": factor, "reason": reason})


def success(ip: object, user: object, factors: str) -> None:
    log.info(f"{SUCCESS_PREFIX} ip={clean(ip)} user={clean(user)} factors={clean(factors)}",
             extra={"ip": str(ip)})


def ban(kind: str, subject: object, seconds: float) -> None:
    log.warning(f"{BAN_PREFIX} kind={clean(kind)} subject={clean(subject)} "
                f"seconds={int(seconds)}", extra={"ban_kind": kind})
