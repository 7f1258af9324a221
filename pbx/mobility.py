"""Call-by-call mobility («Movilidad llamada a llamada»): ``*72*<login>*<pin>#<destination>``.

The code places one outgoing call as another user (their number and category) from an
extension that has the feature on and belongs to the user's mobility group. The user is fully
validated (login number and PIN together); incoming calls are unaffected.

PINs are short, so guessing is limited: failed codes are counted per source (the phone that
dials them) and per account (the login tried); past the limit the source or the account is
locked out for a while, longer each time. Every refusal — unknown login, wrong PIN, disabled
user, extension without the feature or outside the group, locked out — gets the same answer,
so nothing tells a right PIN from a wrong one. PIN checks (argon2id) run bounded
(:class:`~webfon.passwords.PasswordChecks`). Each failure is one ``pbx-auth-failure`` log
line (:mod:`pbx.authlog`). A code never appears whole outside this module: records and logs
get :func:`redact`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from webfon.passwords import ChecksBusy, PasswordChecks
from webfon.ratelimit import FailureLimiter

from . import authlog
from .directory import Directory, Extension, User
from .errors import Refusal

CODE = "*72*"
_PATTERN = re.compile(r"^\*72\*(?P<login>[0-9]{1,32})\*(?P<pin>[0-9]{1,32})#(?P<dest>[0-9*#+]+)$")
NOT_ACCEPTED = "Mobility code not accepted"
"""The one answer to every refused code (status 403)."""


class MobilityError(Refusal):
    """Refused: ``reason`` is safe to show the caller (never says which part was wrong)."""


@dataclass(frozen=True)
class MobilityCode:
    login: str
    pin: str
    destination: str


def is_mobility(dialled: str) -> bool:
    return dialled.startswith(CODE)


def parse(dialled: str) -> MobilityCode:
    m = _PATTERN.match(dialled)
    if not m:
        raise MobilityError(484, "Mobility code must be *72*<login>*<pin>#<destination>")
    return MobilityCode(m.group("login"), m.group("pin"), m.group("dest"))


def redact(dialled: str) -> str:
    """``dialled`` as records and logs may keep it: a mobility code without its PIN
    (``*72*6721*#0611223344``); anything else unchanged."""
    if not is_mobility(dialled):
        return dialled
    m = _PATTERN.match(dialled)
    if m is None:
        return CODE
    return f"{CODE}{m.group('login')}*#{m.group('dest')}"


@dataclass(frozen=True)
class Attempt:
    """Where a code was dialled: ``source`` is the limiter's key for the dialling phone,
    ``address`` its network address (for the log line)."""

    extension: Extension | None
    source: str
    address: str = ""
    call_id: str | None = None


class MobilityCodes:
    def __init__(self, directory: Directory, checks: PasswordChecks, *,
                 per_source: FailureLimiter, per_account: FailureLimiter) -> None:
        self.directory = directory
        self.checks = checks
        self.per_source = per_source
        self.per_account = per_account

    async def authorize(self, code: MobilityCode, attempt: Attempt) -> User:
        """The user the call goes out as, or :class:`MobilityError` (403, one answer)."""
        login = code.login
        if self.per_source.locked_for(attempt.source) or self.per_account.locked_for(login):
            authlog.failure(attempt.address, login, "mobility", "locked_out", attempt.call_id)
            raise MobilityError(403, NOT_ACCEPTED)
        ext = attempt.extension
        if ext is None or not ext.mobility_enabled:
            self._failed(code, attempt, "not_enabled", count=False)
        user = await self.directory.user_by_number(login)
        # unknown logins are checked against a dummy hash: timing does not reveal logins
        try:
            ok = await self.checks.verify(user.pin_hash if user is not None else None, code.pin)
        except ChecksBusy:
            raise MobilityError(503, "Busy, try again later") from None
        if user is None or not ok:
            self._failed(code, attempt, "bad_login_or_pin")
        assert user is not None and ext is not None
        if not user.enabled:
            self._failed(code, attempt, "user_disabled")
        if not await self.directory.mobility_group_allows(user.mobility_group_id, ext.id):
            self._failed(code, attempt, "not_in_group")
        # a success forgets nothing: a valid code of one's own must not reset the count of
        # guesses at others'
        return user

    def _failed(self, code: MobilityCode, attempt: Attempt, reason: str, *,
                count: bool = True) -> NoReturn:
        authlog.failure(attempt.address, code.login, "mobility", reason, attempt.call_id)
        if count:
            for limiter, key, kind in ((self.per_source, attempt.source, "mobility-source"),
                                       (self.per_account, code.login, "mobility-account")):
                locked = limiter.fail(key)
                if locked:
                    authlog.ban(kind, key, locked)
        raise MobilityError(403, NOT_ACCEPTED)
