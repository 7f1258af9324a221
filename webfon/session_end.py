"""Sessions end with the account: the ``auth.ended`` event and what each service does with it.

When a user logs out, a session is revoked (a refresh token used twice) or an administrator
disables or deletes a user (or sets their password), whoever decided it publishes
``auth.ended`` on the bus::

    {"user_id": 1002, "sids": ["<session id>", …] | null, "reason": "logged out", "at": …}

``sids`` names the login sessions (the ``sid`` claim of every token of one login) that ended;
``null`` means all of the user's. Within seconds the gateway ends that user's Janus sessions
(so their calls hang up, the webphone logs out of the PBX and SIP registrations go) and FONBO
disconnects their Socket.IO sockets, each telling the client why. Both also refuse, from then
on, tokens of an ended session (:class:`EndedSessions`, for tokens that are still within their
lifetime) and tokens of a disabled account (:func:`store_account_check`, read from the shared
store, so it holds after a restart too).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from webfon.tokens import Claims

TOPIC = "auth.ended"
HORIZON_S = 2 * 3600.0
"""How long an ended session is remembered: longer than any access token lives."""

LOGGED_OUT = "logged out"
REVOKED = "session revoked"
DISABLED = "account disabled"
DELETED = "account deleted"
PASSWORD_CHANGED = "password changed by an administrator"


@dataclass(frozen=True)
class SessionEnd:
    user_id: int
    sids: tuple[str, ...] | None
    reason: str
    at: float

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SessionEnd | None:
        try:
            user_id = int(payload["user_id"])
            sids = payload.get("sids")
            return cls(user_id, tuple(str(s) for s in sids) if sids is not None else None,
                       str(payload.get("reason") or LOGGED_OUT),
                       float(payload.get("at") or time.time()))
        except (KeyError, TypeError, ValueError):
            return None

    def payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "sids": list(self.sids) if self.sids is not None
                else None, "reason": self.reason, "at": self.at}

    def ends(self, sub: str | None, sid: Any, issued_at: float) -> bool:
        """Whether a session of user ``sub``, login session ``sid``, whose token was issued at
        ``issued_at``, is one of those that ended."""
        if sub != str(self.user_id):
            return False
        if self.sids is None:
            return issued_at <= self.at
        return sid is not None and str(sid) in self.sids

    def ends_claims(self, claims: Claims) -> bool:
        return self.ends(claims.sub, claims.extra.get("sid"), claims.issued_at)


async def publish(bus: Any, user_id: int, sids: list[str] | None, reason: str) -> SessionEnd:
    end = SessionEnd(int(user_id), tuple(sids) if sids is not None else None, reason,
                     time.time())
    await bus.publish(TOPIC, end.payload())
    return end


class EndedSessions:
    """Recent ends, to refuse the tokens of an ended session while they are still valid."""

    def __init__(self, horizon: float = HORIZON_S) -> None:
        self.horizon = horizon
        self._ends: list[SessionEnd] = []

    def note(self, end: SessionEnd) -> None:
        now = time.time()
        self._ends = [e for e in self._ends if now - e.at < self.horizon]
        self._ends.append(end)

    def refusal(self, claims: Claims) -> str | None:
        for end in self._ends:
            if end.ends_claims(claims):
                return end.reason
        return None


AccountCheck = Callable[[Claims], Awaitable[str | None]]


def store_account_check(store: Any, ended: EndedSessions | None = None) -> AccountCheck:
    """A token refusal check: the session ended (``ended``) or the account is disabled in the
    shared store. A user missing from the store is left to the other checks."""

    async def refuse(claims: Claims) -> str | None:
        if ended is not None:
            reason = ended.refusal(claims)
            if reason is not None:
                return reason
        try:
            user_id = int(claims.sub)
        except ValueError:
            return None
        enabled = await store.fetchval("SELECT enabled FROM users WHERE id = ?", (user_id,))
        if enabled is not None and not int(enabled):
            return DISABLED
        return None

    return refuse
