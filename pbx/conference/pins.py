"""Conference-room PINs: checked bounded, guessing limited as mobility PINs are.

A room's PIN is short, so failures are counted per source (the phone that keys them; an
outside caller by its trunk and calling number) and per room (from anyone); past the limit the
source or the room's PIN entry is locked out for a while, longer each time
(``conference_pin_*`` and ``conference_room_max_failures`` settings). While locked, no PIN is
even checked and the answer is the same «wrong PIN» as for a wrong one, so the lock-out tells
nothing. The room's owner is never asked for the PIN (:mod:`pbx.destinations.conference`), so a
room under attack still lets its owner in. PIN checks (argon2id) share the PBX's bound
(:class:`~webfon.passwords.PasswordChecks`, ``password_checks``) with mobility codes. Each
failure is one ``pbx-auth-failure … kind=conference`` line (:mod:`pbx.authlog`; not for an
outside caller, whose address is the trunk's); the PIN is in no record and no log.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from webfon.passwords import ChecksBusy, PasswordChecks
from webfon.ratelimit import FailureLimiter

from .. import authlog
from ..repo.conferences import ConferenceRoom
from ..routing import Caller
from ..settings import PbxSettings

log = logging.getLogger("pbx.conference")


class PinCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    """Wrong, or locked out (the same answer)."""
    BUSY = "busy"
    """Too many PIN checks in progress: try again later (not counted as a failure)."""


class ConferencePins:
    def __init__(self, checks: PasswordChecks, *, per_source: FailureLimiter,
                 per_room: FailureLimiter) -> None:
        self.checks = checks
        self.per_source = per_source
        self.per_room = per_room

    async def check(self, room: ConferenceRoom, pin: str, caller: Caller, source: str,
                    call_id: str | None = None) -> PinCheck:
        """Whether ``pin`` opens ``room`` for ``caller`` keying it from ``source``."""
        room_key = f"room:{room.id}"
        if self.per_source.locked_for(source) or self.per_room.locked_for(room_key):
            _failure(caller, room, "locked_out", call_id)
            return PinCheck.WRONG
        try:
            ok = await self.checks.verify(room.pin_hash, pin)
        except ChecksBusy:
            return PinCheck.BUSY
        if ok:
            return PinCheck.OK
        _failure(caller, room, "bad_pin", call_id)
        for limiter, key, kind in ((self.per_source, source, "conference-source"),
                                   (self.per_room, room_key, "conference-room")):
            locked = limiter.fail(key)
            if locked:
                authlog.ban(kind, key, locked)
        return PinCheck.WRONG


def _failure(caller: Caller, room: ConferenceRoom, reason: str, call_id: str | None) -> None:
    """One failure line for fail2ban; not for a caller from a trunk, whose address is the
    trunk's (banning it would cut every outside call)."""
    if caller.trunk is not None:
        log.warning("conference PIN failure from a trunk", extra={
            "call_id": call_id, "room": room.number, "trunk": caller.trunk.name,
            "reason": reason})
        return
    authlog.failure(caller.address, room.number, "conference", reason, call_id)


def conference_pins(s: PbxSettings, checks: PasswordChecks) -> ConferencePins:
    """The PIN checks of ``s``'s limits, on the PBX's bounded ``checks``."""
    return ConferencePins(
        checks,
        per_source=FailureLimiter(s.conference_pin_max_failures, s.conference_pin_window_s,
                                  s.conference_pin_lock_s,
                                  max_lock_s=s.conference_pin_max_lock_s),
        per_room=FailureLimiter(s.conference_room_max_failures, s.conference_pin_window_s,
                                s.conference_pin_lock_s,
                                max_lock_s=s.conference_pin_max_lock_s))


def pin_source(caller: Caller, presented: str) -> str:
    """Whom failed PINs are counted against: the keying phone (web phones share the gateway's
    address, so not the address), else its extension or user; an outside caller by its trunk
    and the number it presents (spoofable, which the per-room limit bounds)."""
    if caller.phone is not None:
        return f"phone:{caller.phone.id}"
    if caller.extension is not None:
        return f"extension:{caller.extension.id}"
    if caller.user is not None:
        return f"user:{caller.user.id}"
    if caller.trunk is not None:
        return f"trunk:{caller.trunk.name}:{presented or '-'}"
    return f"address:{caller.address or '-'}"
