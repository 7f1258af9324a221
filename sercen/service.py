"""The authentication logic, independent of HTTP: password, second factor, TOTP enrolment.

Every failure is logged through :mod:`sercen.authlog` and counted by the regulator against the
user and the client address. Answers never say whether an account exists: an unknown login, a
wrong password and a disabled account all get the same "invalid login or password".
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sercen import authlog, mailer, totp
from sercen.regulation import Regulator, user_subject
from sercen.repo import SercenRepo
from sercen.secretbox import SecretBox, SecretBoxError, opaque_hash
from sercen.sessions import Sessions, public_user
from sercen.settings import SercenSettings
from webfon.passwords import ChecksBusy, PasswordChecks, hash_password, needs_rehash
from webfon.store import Row
from webfon.tokens import Claims

CODE_DIGITS = 6
TOTP_ENROL_TTL = 600.0


class AuthError(Exception):
    """A refusal with the HTTP status, a message for people and a reason code for programs."""

    def __init__(self, status: int, message: str, reason: str,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after = retry_after


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def _totp_context(user_id: int) -> str:
    return f"totp:{user_id}"


@dataclass
class Authenticator:
    settings: SercenSettings
    repo: SercenRepo
    box: SecretBox
    sessions: Sessions
    regulator: Regulator

    def __post_init__(self) -> None:
        # argon2id takes ~64 MiB and tens of ms per check: a burst of logins queues (bounded)
        # instead of exhausting memory
        self._checks = PasswordChecks()

    async def _verify_password(self, stored: str | None, password: str) -> bool:
        try:
            return await self._checks.verify(stored, password)
        except ChecksBusy:
            raise AuthError(503, "too many logins in progress; try again shortly", "busy",
                            1.0) from None

    # --- first factor --------------------------------------------------------------------
    async def login(self, ip: str, login: str, password: str, trusted: bool) -> dict[str, Any]:
        user = await self.repo.user_by_login(login)
        subject = user_subject(int(user["id"]) if user else None, login)
        await self._refuse_if_banned(subject, ip, login, "password")
        stored = user["password_hash"] if user else None
        ok = await self._verify_password(stored, password)
        if not ok or user is None or not user["enabled"]:
            reason = ("unknown_user" if user is None else
                      "bad_password" if not ok else "disabled")
            await self._fail(subject, ip, login, "password", reason,
                             int(user["id"]) if user else None)
            raise AuthError(401, "invalid login or password", "invalid_credentials")
        if needs_rehash(user["password_hash"]):
            await self.repo.set_password_hash(int(user["id"]),
                                              await asyncio.to_thread(hash_password, password))
        if trusted:
            await self.regulator.succeeded(subject)
            authlog.success(ip, user["login_number"], "password+trusted_network")
            return await self.sessions.start(user, ["pwd", "trusted_network"])
        return await self._challenge(user, ip)

    async def _challenge(self, user: Row, ip: str) -> dict[str, Any]:
        user_id = int(user["id"])
        has_totp = await self.repo.totp_secret(user_id) is not None
        email = str(user["email"] or "").strip()
        if has_totp and (user["second_factor"] == "totp" or not email):
            method = "totp"
        elif email:
            method = "email"
        else:
            authlog.log.info("second factor unavailable",
                             extra={"ip": ip, "user_id": user_id})
            raise AuthError(403, "this account has no second factor (no e-mail address and no "
                                 "authenticator app); ask your administrator",
                            "no_second_factor")
        challenge = secrets.token_urlsafe(32)
        id_hash = opaque_hash(challenge)
        now = time.time()
        row: dict[str, Any] = {"id_hash": id_hash, "user_id": user_id, "method": method,
                               "ip": ip, "created_at": now,
                               "expires_at": now + self.settings.challenge_ttl}
        answer: dict[str, Any] = {"status": "second_factor", "challenge": challenge,
                                  "method": method, "expires_in": int(self.settings.challenge_ttl),
                                  "code_length": CODE_DIGITS}
        if method == "email":
            code = self._new_code()
            row.update(code_hash=self.box.mac("email", id_hash, code),
                       code_expires_at=now + self.settings.email_code_ttl, sent_at=now,
                       send_count=1)
            await self.repo.create_challenge(row)
            try:
                await mailer.send_code(self.settings, email, user["display_name"], code)
            except mailer.MailError:
                await self.repo.consume_challenge(id_hash)
                raise AuthError(503, "the code could not be sent by e-mail; try again later",
                                "mail_failed") from None
            answer.update(destination=mask_email(email),
                          code_expires_in=int(self.settings.email_code_ttl),
                          resend_after=int(self.settings.email_resend_cooldown))
        else:
            await self.repo.create_challenge(row)
        return answer

    @staticmethod
    def _new_code() -> str:
        return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"

    # --- second factor -------------------------------------------------------------------
    async def _live_challenge(self, challenge: str, ip: str) -> tuple[Row, Row]:
        row = await self.repo.challenge(opaque_hash(challenge))
        now = time.time()
        user = await self.repo.user(int(row["user_id"])) if row else None
        if row is None or now >= row["expires_at"] or user is None or not user["enabled"]:
            if row is not None:
                await self.repo.consume_challenge(row["id_hash"])
            authlog.failure(ip, "-", "challenge", "unknown_challenge")
            raise AuthError(401, "unknown or expired login attempt; log in again",
                            "unknown_challenge")
        return row, user

    async def second_factor(self, ip: str, challenge: str, code: str) -> dict[str, Any]:
        row, user = await self._live_challenge(challenge, ip)
        user_id = int(user["id"])
        subject = user_subject(user_id, "")
        method = row["method"]
        await self._refuse_if_banned(subject, ip, user["login_number"], method)
        code = code.strip().replace(" ", "")
        if method == "email":
            if time.time() >= row["code_expires_at"]:
                await self._fail(subject, ip, user["login_number"], method, "code_expired",
                                 user_id)
                raise AuthError(401, "the code has expired; ask for a new one", "code_expired")
            if not hmac.compare_digest(self.box.mac("email", row["id_hash"], code),
                                       str(row["code_hash"])):
                await self._fail(subject, ip, user["login_number"], method, "bad_code", user_id)
                raise AuthError(401, "wrong code", "bad_code")
        else:
            secret_row = await self.repo.totp_secret(user_id)
            if secret_row is None:
                await self.repo.consume_challenge(row["id_hash"])
                raise AuthError(401, "the authenticator was removed; log in again",
                                "unknown_challenge")
            secret = self._decrypt(secret_row["secret_enc"], user_id)
            step = totp.matching_step(secret, code, self.settings.totp_window)
            if step is None:
                await self._fail(subject, ip, user["login_number"], method, "bad_code", user_id)
                raise AuthError(401, "wrong code", "bad_code")
            if step <= int(secret_row["last_totp_step"]) or not await self.repo.claim_totp_step(
                    user_id, step):
                await self._fail(subject, ip, user["login_number"], method, "reused_code",
                                 user_id)
                raise AuthError(401, "this code was already used; wait for the next one",
                                "reused_code")
        if not await self.repo.consume_challenge(row["id_hash"]):
            raise AuthError(401, "unknown or expired login attempt; log in again",
                            "unknown_challenge")
        await self.regulator.succeeded(subject)
        authlog.success(ip, user["login_number"], f"password+{method}")
        return await self.sessions.start(user, ["pwd", "otp" if method == "totp" else "email"])

    async def resend(self, ip: str, challenge: str) -> dict[str, Any]:
        row, user = await self._live_challenge(challenge, ip)
        if row["method"] != "email":
            raise AuthError(400, "this login uses an authenticator app, not e-mail",
                            "not_email")
        subject = user_subject(int(user["id"]), "")
        await self._refuse_if_banned(subject, ip, user["login_number"], "email")
        now = time.time()
        wait = float(row["sent_at"]) + self.settings.email_resend_cooldown - now
        if wait > 0:
            raise AuthError(429, "wait before asking for another code", "cooldown", wait)
        if int(row["send_count"]) >= self.settings.email_max_sends:
            raise AuthError(429, "too many codes sent; log in again later", "too_many_sends",
                            float(row["expires_at"]) - now)
        code = self._new_code()
        if not await self.repo.set_challenge_code(
                row["id_hash"], self.box.mac("email", row["id_hash"], code),
                now + self.settings.email_code_ttl, now, float(row["sent_at"])):
            raise AuthError(429, "wait before asking for another code", "cooldown",
                            self.settings.email_resend_cooldown)
        try:
            await mailer.send_code(self.settings, str(user["email"]), user["display_name"], code)
        except mailer.MailError:
            raise AuthError(503, "the code could not be sent by e-mail; try again later",
                            "mail_failed") from None
        return {"status": "sent", "destination": mask_email(str(user["email"])),
                "code_expires_in": int(self.settings.email_code_ttl),
                "resend_after": int(self.settings.email_resend_cooldown)}

    # --- TOTP enrolment ------------------------------------------------------------------
    async def totp_enroll(self, claims: Claims) -> dict[str, Any]:
        user = await self._token_user(claims)
        amr = claims.extra.get("amr") or []
        if await self.repo.totp_secret(int(user["id"])) is not None and not (
                isinstance(amr, list) and {"otp", "trusted_network"} & set(amr)):
            # replacing an authenticator needs the current one (or the office network)
            raise AuthError(403, "log in with your current authenticator app (or from the "
                                 "office network) to replace it", "reauth_required")
        secret = totp.new_secret()
        await self.repo.set_pending_totp(int(user["id"]),
                                         self.box.encrypt(secret, _totp_context(int(user["id"]))))
        account = str(user["username"] or user["login_number"])
        uri = totp.provisioning_uri(secret, account, self.settings.totp_issuer)
        return {"status": "pending", "otpauth_uri": uri, "secret": secret,
                "qr_png_base64": await asyncio.to_thread(totp.qr_png_base64, uri),
                "expires_in": int(TOTP_ENROL_TTL), "digits": totp.DIGITS,
                "period": totp.INTERVAL}

    async def totp_confirm(self, claims: Claims, ip: str, code: str) -> dict[str, Any]:
        user = await self._token_user(claims)
        user_id = int(user["id"])
        subject = user_subject(user_id, "")
        await self._refuse_if_banned(subject, ip, user["login_number"], "totp")
        pending = await self.repo.pending_totp(user_id)
        if pending is None or time.time() > float(pending["created_at"]) + TOTP_ENROL_TTL:
            raise AuthError(404, "no authenticator enrolment in progress; start again",
                            "no_enrolment")
        secret = self._decrypt(pending["secret_enc"], user_id)
        step = totp.matching_step(secret, code.strip().replace(" ", ""),
                                  self.settings.totp_window)
        if step is None:
            await self._fail(subject, ip, user["login_number"], "totp", "bad_code", user_id)
            raise AuthError(401, "wrong code", "bad_code")
        if not await self.repo.confirm_totp(user_id, pending["secret_enc"], step):
            raise AuthError(409, "the enrolment changed meanwhile; start again", "no_enrolment")
        authlog.log.info("totp enrolled", extra={"user_id": user_id, "ip": ip})
        return {"status": "ok", "method": "totp"}

    async def totp_remove(self, claims: Claims, ip: str, code: str) -> dict[str, Any]:
        user = await self._token_user(claims)
        user_id = int(user["id"])
        subject = user_subject(user_id, "")
        await self._refuse_if_banned(subject, ip, user["login_number"], "totp")
        secret_row = await self.repo.totp_secret(user_id)
        if secret_row is None:
            raise AuthError(404, "no authenticator app is enrolled", "no_totp")
        secret = self._decrypt(secret_row["secret_enc"], user_id)
        step = totp.matching_step(secret, code.strip().replace(" ", ""),
                                  self.settings.totp_window)
        if step is None or step <= int(secret_row["last_totp_step"]) or (
                not await self.repo.claim_totp_step(user_id, step)):
            await self._fail(subject, ip, user["login_number"], "totp",
                             "bad_code" if step is None else "reused_code", user_id)
            raise AuthError(401, "wrong code", "bad_code")
        await self.repo.remove_totp(user_id)
        authlog.log.info("totp removed", extra={"user_id": user_id, "ip": ip})
        return {"status": "ok", "method": "email"}

    async def me(self, claims: Claims) -> dict[str, Any]:
        user = await self._token_user(claims)
        user_id = int(user["id"])
        has_totp = await self.repo.totp_secret(user_id) is not None
        email = str(user["email"] or "")
        method = ("totp" if has_totp and (user["second_factor"] == "totp" or not email)
                  else "email" if email else "none")
        return {"user": {**public_user(user), "username": user["username"],
                         "email": mask_email(email) if email else ""},
                "second_factor": {"method": method, "totp_enrolled": has_totp,
                                  "totp_pending": await self.repo.pending_totp(user_id)
                                  is not None},
                "session": {"sid": claims.extra.get("sid"), "amr": claims.extra.get("amr", []),
                            "expires_at": int(claims.expires_at)}}

    # --- helpers -------------------------------------------------------------------------
    async def _token_user(self, claims: Claims) -> Row:
        user = await self.repo.user(claims.user_id)
        if user is None or not user["enabled"]:
            raise AuthError(401, "account disabled or removed", "disabled")
        return user

    def _decrypt(self, secret_enc: str, user_id: int) -> str:
        try:
            return self.box.decrypt(secret_enc, _totp_context(user_id))
        except SecretBoxError:
            authlog.log.error("stored TOTP secret does not decrypt (wrong secrets key?)",
                              extra={"user_id": user_id})
            raise AuthError(500, "the authenticator secret cannot be read; ask your "
                                 "administrator", "secret_unreadable") from None

    async def _refuse_if_banned(self, subject: str, ip: str, login: str, factor: str) -> None:
        left = await self.regulator.banned_for(subject, ip)
        if left > 0:
            authlog.failure(ip, login, factor, "banned")
            raise AuthError(429, "too many failed attempts; try again later", "banned", left)

    async def _fail(self, subject: str, ip: str, login: str, factor: str, reason: str,
                    user_id: int | None = None) -> None:
        authlog.failure(ip, login, factor, reason)
        if await self.regulator.fail(subject, ip, factor):
            if user_id is not None:
                await self.repo.drop_user_challenges(user_id)
            raise AuthError(429, "too many failed attempts; try again later", "banned",
                            self.settings.ban_time)
