"""Login sessions: a short-lived access token plus a rotating refresh token per session.

Each successful login starts a *family* (the session id, ``sid`` in the access token). Every
refresh marks the presented refresh token used and issues a new pair in the same family;
presenting a used token again means it was copied, so the whole family and its still-valid
access tokens are revoked; within ``refresh_reuse_grace`` seconds of the rotation it is taken
for two tabs racing and answered 409 without issuing or revoking anything. A family never
outlives ``session_max_age``. Refresh tokens are opaque random strings stored only as SHA-256
hashes. Every session that ends (logout, revocation, an account found disabled) is announced on
the bus as ``auth.ended`` (:mod:`webfon.session_end`): the gateway and FONBO end what the user
has open there.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sercen.repo import SercenRepo
from sercen.secretbox import opaque_hash
from sercen.settings import SercenSettings
from webfon import session_end
from webfon.store import Row
from webfon.tokens import Claims, TokenIssuer

REFRESH_PREFIX = "wfr1."


class SessionError(Exception):
    def __init__(self, reason: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


def _race() -> SessionError:
    return SessionError("refresh_race", "this refresh token was just used; use the newest "
                                        "tokens", 409)


def roles_for(user: Row) -> list[str]:
    roles = ["user"]
    if user.get("role") == "admin":
        roles.append("admin")
    if user.get("user_type") == "test":
        roles.append("test")
    return roles


def public_user(user: Row) -> dict[str, Any]:
    return {"id": int(user["id"]), "display_name": user["display_name"],
            "login_number": user["login_number"], "roles": roles_for(user)}


Notify = Callable[[int, list[str], str], Awaitable[None]]


class Sessions:
    def __init__(self, repo: SercenRepo, issuer: TokenIssuer, settings: SercenSettings,
                 notify: Notify | None = None) -> None:
        self.repo = repo
        self.issuer = issuer
        self.settings = settings
        self.notify = notify

    async def _ended(self, user_id: int, families: list[str], reason: str) -> None:
        if self.notify is not None and families:
            await self.notify(user_id, families, reason)

    async def start(self, user: Row, amr: Iterable[str]) -> dict[str, Any]:
        now = time.time()
        return await self._issue(user, list(amr), secrets.token_urlsafe(16),
                                 now + self.settings.session_max_age)

    async def _issue(self, user: Row, amr: list[str], family: str,
                     family_expires_at: float) -> dict[str, Any]:
        now = time.time()
        access_ttl = min(self.settings.access_ttl, max(1.0, family_expires_at - now))
        token, claims = self.issuer.issue(
            user["id"], audience=self.settings.token_audiences, roles=roles_for(user),
            ttl=access_ttl, login_number=user["login_number"], name=user["display_name"],
            amr=amr, sid=family)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
        refresh_expires_at = min(now + self.settings.refresh_ttl, family_expires_at)
        await self.repo.add_refresh({
            "token_hash": opaque_hash(refresh), "family": family, "user_id": int(user["id"]),
            "access_jti": claims.jti, "access_expires_at": claims.expires_at,
            "amr": ",".join(amr), "issued_at": now, "expires_at": refresh_expires_at,
            "family_expires_at": family_expires_at, "used": 0, "revoked": 0})
        return {"status": "ok", "token_type": "Bearer", "access_token": token,
                "expires_in": int(access_ttl), "refresh_token": refresh,
                "refresh_expires_in": int(refresh_expires_at - now), "user": public_user(user)}

    async def rotate(self, refresh_token: str) -> dict[str, Any]:
        now = time.time()
        row = await self.repo.refresh(opaque_hash(refresh_token))
        if row is None:
            raise SessionError("unknown_refresh", "invalid refresh token")
        if row["revoked"]:
            raise SessionError("revoked_refresh", "session ended; log in again")
        if row["used"]:
            last = await self.repo.family_last_issued(row["family"])
            if now - last <= self.settings.refresh_reuse_grace:
                raise _race()
            await self.repo.revoke_family(row["family"], now)
            await self._ended(int(row["user_id"]), [row["family"]], session_end.REVOKED)
            raise SessionError("reused_refresh", "refresh token already used; session revoked")
        if now >= row["expires_at"] or now >= row["family_expires_at"]:
            raise SessionError("expired_refresh", "session expired; log in again")
        user = await self.repo.user(int(row["user_id"]))
        if user is None or not user["enabled"]:
            await self.repo.revoke_family(row["family"], now)
            await self._ended(int(row["user_id"]), [row["family"]], session_end.DISABLED)
            raise SessionError("disabled", "account disabled")
        if not await self.repo.mark_refresh_used(row["token_hash"]):
            raise _race()      # another request rotated it a moment ago
        amr = [a for a in str(row["amr"]).split(",") if a]
        return await self._issue(user, amr, row["family"], float(row["family_expires_at"]))

    async def end(self, claims: Claims | None, refresh_token: str | None) -> int:
        """Revoke the access token and its session; returns the number of families ended."""
        now = time.time()
        families: set[str] = set()
        user_id = claims.user_id if claims is not None else None
        if claims is not None:
            await self.repo.revoke_access(claims.jti, claims.user_id, claims.expires_at)
            row = await self.repo.refresh_by_access(claims.jti)
            if row is not None:
                families.add(row["family"])
        if refresh_token:
            row = await self.repo.refresh(opaque_hash(refresh_token))
            if row is not None and (claims is None or int(row["user_id"]) == claims.user_id):
                families.add(row["family"])
                user_id = int(row["user_id"])
        for family in families:
            await self.repo.revoke_family(family, now)
        if user_id is not None:
            await self._ended(user_id, sorted(families), session_end.LOGGED_OUT)
        return len(families)
