"""HTTP API under ``/sercen/`` (JSON in, JSON out; errors as ``{"error": {...}}``).

Login and second-factor answers are padded to at least ``response_delay`` (plus random jitter)
whatever the outcome, so timing does not tell whether an account exists or a password was
right. Endpoints that act for a logged-in user take ``Authorization: Bearer <access token>``
(audience ``sercen``, revocation checked). The request/response shapes are listed in
sercen/README.md.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sercen.service import Authenticator, AuthError
from sercen.sessions import SessionError, Sessions
from sercen.settings import SercenSettings
from webfon.clientip import ClientAddress, client_address, note_unverified
from webfon.http import json_error, read_json
from webfon.tokens import Claims, TokenError, TokenVerifier, bearer_token

MAX_LOGIN = 128
MAX_PASSWORD = 1024
MAX_CODE = 16
MAX_TOKEN = 4096

log = logging.getLogger("sercen.api")


class SercenContext:
    """What the handlers need, kept on the application under ``SERCEN_KEY``."""

    def __init__(self, settings: SercenSettings, auth: Authenticator, sessions: Sessions,
                 verifier: TokenVerifier, public_pem: bytes) -> None:
        self.settings = settings
        self.auth = auth
        self.sessions = sessions
        self.verifier = verifier
        self.public_pem = public_pem
        self.trusted_networks = settings.trusted_network_list
        self.trusted_proxies = settings.trusted_proxy_list


SERCEN_KEY = web.AppKey("sercen", SercenContext)


def _ctx(request: web.Request) -> SercenContext:
    return request.app[SERCEN_KEY]


def _error(exc: AuthError) -> web.Response:
    extra: dict[str, Any] = {"reason": exc.reason}
    headers = {}
    if exc.retry_after is not None:
        extra["retry_after"] = max(1, int(exc.retry_after + 0.999))
        headers["Retry-After"] = str(extra["retry_after"])
    response = json_error(exc.status, exc.message, **extra)
    response.headers.update(headers)
    return response


def _field(body: Any, name: str, limit: int, required: bool = True) -> str:
    if not isinstance(body, dict):
        raise AuthError(400, "expected a JSON object", "bad_request")
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (not value.strip() and required):
        raise AuthError(400, f"'{name}' is required and must be a string", "bad_request")
    if len(value) > limit:
        raise AuthError(400, f"'{name}' is too long", "bad_request")
    return value


def _client(request: web.Request) -> ClientAddress:
    address = client_address(request, _ctx(request).trusted_proxies)
    if not address.verified and address.ip is not None:
        note_unverified(log, address, request.path)
    return address


def _ip(request: web.Request) -> str:
    return str(_client(request))


async def _padded(request: web.Request,
                  work: Callable[[], Awaitable[dict[str, Any]]]) -> web.Response:
    """Run ``work`` and answer no sooner than the configured delay, success or not."""
    settings = _ctx(request).settings
    started = time.monotonic()
    try:
        response = web.json_response(await work())
    except AuthError as exc:
        response = _error(exc)
    delay = settings.response_delay + (
        secrets.randbelow(1000) / 1000 * settings.response_jitter)
    left = started + delay - time.monotonic()
    if left > 0:
        await asyncio.sleep(left)
    return response


async def _claims(request: web.Request) -> Claims:
    try:
        token = bearer_token(request.headers.get("Authorization"))
    except TokenError:
        raise AuthError(401, "missing bearer token", "no_token") from None
    if len(token) > MAX_TOKEN:
        raise AuthError(401, "token too long", "bad_token")
    try:
        return await _ctx(request).verifier.verify(token)
    except TokenError as exc:
        raise AuthError(401, str(exc), "bad_token") from None


# --- handlers ----------------------------------------------------------------------------
async def login(request: web.Request) -> web.Response:
    ctx = _ctx(request)

    async def work() -> dict[str, Any]:
        body = await read_json(request)
        login_name = _field(body, "login", MAX_LOGIN).strip()
        password = _field(body, "password", MAX_PASSWORD)
        address = _client(request)
        # a trusted network skips the second factor only for an address known to be the
        # real client's (never for one behind a proxy that is not a configured one)
        trusted = address.in_networks(ctx.trusted_networks)
        return await ctx.auth.login(str(address), login_name, password, trusted)

    return await _padded(request, work)


async def second_factor(request: web.Request) -> web.Response:
    ctx = _ctx(request)

    async def work() -> dict[str, Any]:
        body = await read_json(request)
        challenge = _field(body, "challenge", 128)
        code = _field(body, "code", MAX_CODE)
        return await ctx.auth.second_factor(_ip(request), challenge, code)

    return await _padded(request, work)


async def resend(request: web.Request) -> web.Response:
    ctx = _ctx(request)

    async def work() -> dict[str, Any]:
        body = await read_json(request)
        return await ctx.auth.resend(_ip(request), _field(body, "challenge", 128))

    return await _padded(request, work)


async def refresh(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    try:
        body = await read_json(request)
        token = _field(body, "refresh_token", MAX_TOKEN)
        try:
            return web.json_response(await ctx.sessions.rotate(token.strip()))
        except SessionError as exc:
            raise AuthError(exc.status, str(exc), exc.reason) from None
    except AuthError as exc:
        return _error(exc)


async def logout(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    try:
        refresh_token = ""
        if request.can_read_body:
            body = await read_json(request)
            refresh_token = _field(body, "refresh_token", MAX_TOKEN, required=False).strip()
        claims: Claims | None = None
        if request.headers.get("Authorization"):
            claims = await _claims(request)
        if claims is None and not refresh_token:
            raise AuthError(401, "send the access token (Authorization: Bearer) or the "
                                 "refresh token", "no_token")
        ended = await ctx.sessions.end(claims, refresh_token or None)
        return web.json_response({"status": "ok", "sessions_ended": ended})
    except AuthError as exc:
        return _error(exc)


async def me(request: web.Request) -> web.Response:
    try:
        return web.json_response(await _ctx(request).auth.me(await _claims(request)))
    except AuthError as exc:
        return _error(exc)


async def totp_enroll(request: web.Request) -> web.Response:
    try:
        return web.json_response(await _ctx(request).auth.totp_enroll(await _claims(request)))
    except AuthError as exc:
        return _error(exc)


async def totp_confirm(request: web.Request) -> web.Response:
    ctx = _ctx(request)

    async def work() -> dict[str, Any]:
        claims = await _claims(request)
        body = await read_json(request)
        return await ctx.auth.totp_confirm(claims, _ip(request), _field(body, "code", MAX_CODE))

    return await _padded(request, work)


async def totp_remove(request: web.Request) -> web.Response:
    ctx = _ctx(request)

    async def work() -> dict[str, Any]:
        claims = await _claims(request)
        body = await read_json(request)
        return await ctx.auth.totp_remove(claims, _ip(request), _field(body, "code", MAX_CODE))

    return await _padded(request, work)


async def public_key(request: web.Request) -> web.Response:
    return web.Response(body=_ctx(request).public_pem, content_type="application/x-pem-file",
                        headers={"Cache-Control": "public, max-age=300"})


async def network(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    address = _client(request)
    return web.json_response({"ip": str(address.ip or ""), "verified": address.verified,
                              "trusted_network": address.in_networks(ctx.trusted_networks)})


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    """Token answers must never be cached by browsers or proxies (RFC 6749 §5.1)."""
    if request.path.startswith("/sercen/") and request.path != "/sercen/public-key":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"


def add_routes(app: web.Application) -> None:
    app.on_response_prepare.append(_no_store)
    r = app.router
    r.add_post("/sercen/login", login)
    r.add_post("/sercen/second-factor", second_factor)
    r.add_post("/sercen/second-factor/resend", resend)
    r.add_post("/sercen/refresh", refresh)
    r.add_post("/sercen/logout", logout)
    r.add_get("/sercen/me", me)
    r.add_post("/sercen/totp/enroll", totp_enroll)
    r.add_post("/sercen/totp/confirm", totp_confirm)
    r.add_post("/sercen/totp/remove", totp_remove)
    r.add_get("/sercen/public-key", public_key)
    r.add_get("/sercen/network", network)
