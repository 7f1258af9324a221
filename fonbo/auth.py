"""Who is calling: bearer tokens from sercen (audience ``fonbo``) and short media tickets.

Every operation declares its mode: ``none`` (public), ``user``, ``admin`` (role admin), or
``media`` (bearer token, or a ticket in the query string for ``<audio src>`` which cannot send
headers). The verifying key is sercen's public key; it is loaded when the app starts and again
on demand, so FONBO may start before sercen has created it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from webfon.tokens import Claims, TokenError, TokenVerifier, load_public_key

log = logging.getLogger("fonbo.auth")

AUDIENCE = "fonbo"
_BEARER = "bearer "


def _error(cls: type[web.HTTPException], status: int, message: str) -> web.HTTPException:
    headers = {"WWW-Authenticate": 'Bearer realm="fonbo"'} if status == 401 else None
    return cls(text=json.dumps({"error": {"status": status, "message": message}}),
               content_type="application/json", headers=headers)


def make_verifier(app: web.Application) -> TokenVerifier | None:
    from fonbo.keys import REALTIME_KEY, SETTINGS_KEY, STORE_KEY, VERIFIER_KEY
    from webfon.session_end import store_account_check
    from webfon.tokens import store_revocation_check

    if VERIFIER_KEY in app:
        return app[VERIFIER_KEY]
    settings = app[SETTINGS_KEY]
    try:
        key = load_public_key(settings.public_key_path)
    except (OSError, ValueError, TokenError) as exc:
        log.warning("token key not available", extra={"path": str(settings.public_key_path),
                                                       "error": str(exc)})
        return None
    realtime = app.get(REALTIME_KEY)
    verifier = TokenVerifier(key, AUDIENCE, issuer=settings.token_issuer,
                             is_revoked=store_revocation_check(app[STORE_KEY]),
                             refuse=store_account_check(app[STORE_KEY], getattr(
                                 realtime, "ended", None)))
    app[VERIFIER_KEY] = verifier
    return verifier


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:len(_BEARER)].lower() == _BEARER:
        return header[len(_BEARER):].strip() or None
    return None


async def verify_token(app: web.Application, token: str) -> Claims:
    verifier = make_verifier(app)
    if verifier is None:
        raise TokenError("token verification is not available yet")
    return await verifier.verify(token)


async def authenticate(request: web.Request, mode: str) -> Claims | None:
    if mode == "none":
        return None
    token = bearer_token(request)
    if token is None and mode == "media" and "ticket" in request.query:
        claims = check_media_ticket(request.app, request.query["ticket"])
        if claims is None:
            raise _error(web.HTTPUnauthorized, 401, "invalid or expired media ticket")
        return claims
    if token is None:
        raise _error(web.HTTPUnauthorized, 401, "missing bearer token")
    if make_verifier(request.app) is None:
        raise _error(web.HTTPServiceUnavailable, 503, "token verification key not available")
    try:
        claims = await verify_token(request.app, token)
    except TokenError as exc:
        raise _error(web.HTTPUnauthorized, 401, str(exc)) from None
    try:
        claims.user_id  # noqa: B018 - the subject must be a user id
    except ValueError:
        raise _error(web.HTTPUnauthorized, 401, "token subject is not a user") from None
    if mode == "admin" and not claims.has_role("admin"):
        raise _error(web.HTTPForbidden, 403, "this operation needs the admin role")
    return claims


# --- media tickets -------------------------------------------------------------------------
def ensure_media_key(data_dir: Path) -> bytes:
    """A per-installation HMAC key (shared by every FONBO node using the same data dir)."""
    path = data_dir / "keys" / "fonbo_media.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        os.replace(tmp, path)
    return path.read_bytes().strip()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_media_ticket(key: bytes, user_id: int, resource: str, ttl: float) -> tuple[str, float]:
    expires = time.time() + ttl
    body = _b64(json.dumps({"u": user_id, "r": resource, "e": round(expires)}).encode())
    sig = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}", expires


def check_media_ticket(app: web.Application, ticket: str) -> Claims | None:
    from fonbo.keys import MEDIA_KEY

    key = app.get(MEDIA_KEY)
    if not key or ticket.count(".") != 1 or len(ticket) > 512:
        return None
    body, sig = ticket.split(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, sig):
        return None
    try:
        data: dict[str, Any] = json.loads(_unb64(body))
        user_id, resource, expires = int(data["u"]), str(data["r"]), float(data["e"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < time.time():
        return None
    return Claims(sub=str(user_id), roles=("user",), audience=(AUDIENCE,), issuer="fonbo",
                  issued_at=0.0, expires_at=expires, jti="", extra={"media": resource})
