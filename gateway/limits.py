"""How much one user, one session and one connection may hold on a gateway.

Over a limit the request gets a Janus-style error (``errors.LIMIT_REACHED``, 429, with a reason
naming the limit) and
nothing else changes: the process stays healthy for everyone else. The SIP plugin keeps its
own per-user limits (SIP accounts and media legs: ``max_sip_accounts_per_user``,
``max_media_legs_per_user``, counted in :class:`gateway.plugins.sip.context.SipContext`) and
exempts the same :data:`UNLIMITED_ROLES`.
"""

from __future__ import annotations

from dataclasses import dataclass

UNLIMITED_ROLES = ("test",)
"""Tokens of test accounts (load tests: one token for many simulated users) are held to the
gateway-wide limit only, not to the per-user ones."""


@dataclass(frozen=True)
class Limits:
    max_sessions: int = 4000            # in this gateway process (0 = no limit)
    max_sessions_per_user: int = 8
    max_handles_per_session: int = 16
    max_handles_per_user: int = 32
    ws_max_pending_events: int = 2000   # events queued for one WebSocket not reading them
    ws_max_inflight: int = 32           # requests of one connection being processed at once

    @staticmethod
    def over(limit: int, count: int) -> bool:
        return limit > 0 and count >= limit
