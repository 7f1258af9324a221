"""Every query sercen makes, in one place; the SQL runs unchanged on SQLite and MariaDB.

State that several sercen nodes must agree on (pending challenges, failures, bans, refresh
tokens, the last accepted TOTP step) lives in the shared store, and each single-use step is a
conditional UPDATE/DELETE whose row count says whether this node won.
"""

from __future__ import annotations

import time
from typing import Any

from webfon.store import Row, Store

_USER_COLUMNS = ("id, display_name, login_number, username, email, password_hash, role, "
                 "user_type, enabled, second_factor")


class SercenRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- users ---------------------------------------------------------------------------
    async def user_by_login(self, login: str) -> Row | None:
        """Login number first; a user name only when no login number matches."""
        row = await self.store.fetchone(
            f"SELECT {_USER_COLUMNS} FROM users WHERE login_number = ?", (login,))
        if row is None:
            row = await self.store.fetchone(
                f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (login,))
        return row

    async def user(self, user_id: int) -> Row | None:
        return await self.store.fetchone(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?",
                                         (user_id,))

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self.store.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                                 (password_hash, user_id))

    # --- TOTP ----------------------------------------------------------------------------
    async def totp_secret(self, user_id: int) -> Row | None:
        return await self.store.fetchone(
            "SELECT user_id, secret_enc, last_totp_step FROM twofa_secrets "
            "WHERE user_id = ? AND method = 'totp' AND confirmed = 1", (user_id,))

    async def claim_totp_step(self, user_id: int, step: int) -> bool:
        """Record ``step`` as used; False when it (or a later one) was used already."""
        changed = await self.store.execute(
            "UPDATE twofa_secrets SET last_totp_step = ? "
            "WHERE user_id = ? AND method = 'totp' AND confirmed = 1 AND last_totp_step < ?",
            (step, user_id, step))
        return changed == 1

    async def set_pending_totp(self, user_id: int, secret_enc: str) -> None:
        await self.store.upsert("sercen_totp_pending", {
            "user_id": user_id, "secret_enc": secret_enc, "created_at": time.time()},
            ["user_id"])

    async def pending_totp(self, user_id: int) -> Row | None:
        return await self.store.fetchone(
            "SELECT secret_enc, created_at FROM sercen_totp_pending WHERE user_id = ?",
            (user_id,))

    async def confirm_totp(self, user_id: int, secret_enc: str, step: int) -> bool:
        """Make the pending secret the user's TOTP secret (its first code already used)."""
        async with self.store.transaction() as tx:
            gone = await tx.execute(
                "DELETE FROM sercen_totp_pending WHERE user_id = ? AND secret_enc = ?",
                (user_id, secret_enc))
            if gone != 1:
                return False
            await tx.upsert("twofa_secrets", {
                "user_id": user_id, "method": "totp", "secret_enc": secret_enc, "confirmed": 1,
                "last_totp_step": step, "created_at": time.time()}, ["user_id"])
            await tx.execute("UPDATE users SET second_factor = 'totp' WHERE id = ?", (user_id,))
        return True

    async def remove_totp(self, user_id: int) -> None:
        async with self.store.transaction() as tx:
            await tx.execute("DELETE FROM twofa_secrets WHERE user_id = ? AND method = 'totp'",
                             (user_id,))
            await tx.execute("DELETE FROM sercen_totp_pending WHERE user_id = ?", (user_id,))
            await tx.execute("UPDATE users SET second_factor = 'email' WHERE id = ?", (user_id,))

    # --- challenges ----------------------------------------------------------------------
    async def create_challenge(self, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        await self.store.execute(f"INSERT INTO sercen_challenges ({cols}) VALUES ({marks})",
                                 list(row.values()))

    async def challenge(self, id_hash: str) -> Row | None:
        return await self.store.fetchone(
            "SELECT id_hash, user_id, method, code_hash, code_expires_at, sent_at, send_count, "
            "ip, created_at, expires_at FROM sercen_challenges WHERE id_hash = ?", (id_hash,))

    async def set_challenge_code(self, id_hash: str, code_hash: str, code_expires_at: float,
                                 sent_at: float, previous_sent_at: float) -> bool:
        """Store a new code unless another request did so since ``previous_sent_at``."""
        changed = await self.store.execute(
            "UPDATE sercen_challenges SET code_hash = ?, code_expires_at = ?, sent_at = ?, "
            "send_count = send_count + 1 WHERE id_hash = ? AND sent_at = ?",
            (code_hash, code_expires_at, sent_at, id_hash, previous_sent_at))
        return changed == 1

    async def consume_challenge(self, id_hash: str) -> bool:
        return await self.store.execute("DELETE FROM sercen_challenges WHERE id_hash = ?",
                                        (id_hash,)) == 1

    async def drop_user_challenges(self, user_id: int) -> None:
        await self.store.execute("DELETE FROM sercen_challenges WHERE user_id = ?", (user_id,))

    # --- regulation ----------------------------------------------------------------------
    async def add_failure(self, kind: str, subject: str, factor: str, at: float) -> None:
        await self.store.execute(
            "INSERT INTO sercen_failures (subject_kind, subject, factor, at) VALUES (?, ?, ?, ?)",
            (kind, subject, factor, at))

    async def count_failures(self, kind: str, subject: str, since: float) -> int:
        return int(await self.store.fetchval(
            "SELECT COUNT(*) AS n FROM sercen_failures "
            "WHERE subject_kind = ? AND subject = ? AND at >= ?", (kind, subject, since)) or 0)

    async def clear_failures(self, kind: str, subject: str) -> None:
        await self.store.execute(
            "DELETE FROM sercen_failures WHERE subject_kind = ? AND subject = ?", (kind, subject))

    async def ban(self, kind: str, subject: str, now: float, until: float) -> None:
        await self.store.upsert("sercen_bans", {"subject_kind": kind, "subject": subject,
                                                "banned_at": now, "banned_until": until},
                                ["subject_kind", "subject"])

    async def banned_until(self, subjects: list[tuple[str, str]], now: float) -> float:
        """Latest end of any active ban on the given (kind, subject) pairs; 0 when none."""
        if not subjects:
            return 0.0
        where = " OR ".join("(subject_kind = ? AND subject = ?)" for _ in subjects)
        params: list[Any] = [v for pair in subjects for v in pair]
        value = await self.store.fetchval(
            f"SELECT MAX(banned_until) AS u FROM sercen_bans WHERE banned_until > ? AND ({where})",
            [now, *params])
        return float(value or 0.0)

    # --- refresh tokens and revocations ----------------------------------------------------
    async def add_refresh(self, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        await self.store.execute(f"INSERT INTO sercen_refresh_tokens ({cols}) VALUES ({marks})",
                                 list(row.values()))

    async def refresh(self, token_hash: str) -> Row | None:
        return await self.store.fetchone(
            "SELECT token_hash, family, user_id, access_jti, access_expires_at, amr, issued_at, "
            "expires_at, family_expires_at, used, revoked FROM sercen_refresh_tokens "
            "WHERE token_hash = ?", (token_hash,))

    async def refresh_by_access(self, jti: str) -> Row | None:
        return await self.store.fetchone(
            "SELECT token_hash, family, user_id FROM sercen_refresh_tokens WHERE access_jti = ?",
            (jti,))

    async def mark_refresh_used(self, token_hash: str) -> bool:
        return await self.store.execute(
            "UPDATE sercen_refresh_tokens SET used = 1 "
            "WHERE token_hash = ? AND used = 0 AND revoked = 0", (token_hash,)) == 1

    async def family_last_issued(self, family: str) -> float:
        """When the newest token of a session was issued (its latest rotation)."""
        return float(await self.store.fetchval(
            "SELECT MAX(issued_at) AS t FROM sercen_refresh_tokens WHERE family = ?",
            (family,)) or 0.0)

    async def revoke_family(self, family: str, now: float) -> int:
        """Revoke every refresh token of a session and its still-valid access tokens."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT user_id, access_jti, access_expires_at FROM sercen_refresh_tokens "
                "WHERE family = ? AND access_expires_at > ?", (family, now))
            for row in rows:
                await _revoke(tx, row["access_jti"], row["user_id"], now,
                              row["access_expires_at"])
            return await tx.execute(
                "UPDATE sercen_refresh_tokens SET revoked = 1 WHERE family = ? AND revoked = 0",
                (family,))

    async def revoke_access(self, jti: str, user_id: int | None, expires_at: float) -> None:
        await _revoke(self.store, jti, user_id, time.time(), expires_at)

    # --- housekeeping ----------------------------------------------------------------------
    async def cleanup(self, now: float, find_time: float) -> None:
        await self.store.execute("DELETE FROM sercen_challenges WHERE expires_at < ?", (now,))
        await self.store.execute("DELETE FROM sercen_failures WHERE at < ?", (now - find_time,))
        await self.store.execute("DELETE FROM sercen_bans WHERE banned_until < ?", (now,))
        await self.store.execute(
            "DELETE FROM sercen_refresh_tokens WHERE expires_at < ? AND access_expires_at < ?",
            (now, now))
        await self.store.execute("DELETE FROM sercen_totp_pending WHERE created_at < ?",
                                 (now - 86_400,))
        await self.store.execute("DELETE FROM token_revocations WHERE expires_at < ?", (now,))


async def _revoke(executor: Any, jti: str, user_id: int | None, now: float,
                  expires_at: float) -> None:
    await executor.upsert("token_revocations", {"jti": jti, "user_id": user_id,
                                                "revoked_at": now, "expires_at": expires_at},
                          ["jti"])
