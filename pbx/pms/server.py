"""The PMS interface's listener: where CHAR / hmobile connect sends its requests.

``POST /char`` with a request in CHAR's format (:mod:`.protocol`) as the body, over HTTPS only
(with ``pms_client_ca_file``, CHAR must also present a client certificate signed by that CA),
from the networks of ``pms_allowed_networks``. Every reply is an action_result document; the
HTTP status says the same for clients and proxies that only look at it:

======  ====================================================================================
200     carried out (code 0), or refused for what it asks (unknown site, room or action,
        bad JSON or data, the room's state): the code says which
400     not a request in CHAR's format (code 1)
401     wrong user or password (code 2; counts as a failed login)
403     not from an allowed network (code 10)
413     larger than 64 KiB
429     locked out after too many failed logins (code 3, ``Retry-After``)
500     the PBX could not do it now (code 99; nothing was changed, ask again)
======  ====================================================================================

The password is checked against its argon2id hash (in a worker thread, at most two at a
time); failed logins are logged with the user and the address (a fail2ban filter can match
``pms login failed``) and limited per address and per user (:class:`~.limiter.LoginLimiter`).
Passwords and the request body are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import math
import ssl
from typing import Any

from aiohttp import web

from webfon.passwords import verify_password

from .actions import PmsActions
from .limiter import LoginLimiter
from .model import HotelConfig
from .protocol import MAX_REQUEST_BYTES, CharError, ResultCode, parse_request, reply
from .repo import HotelRepo

log = logging.getLogger("pbx.pms")

_STATUS = {ResultCode.MALFORMED: 400, ResultCode.BAD_CREDENTIALS: 401,
           ResultCode.LOCKED: 429, ResultCode.NOT_ALLOWED: 403, ResultCode.INTERNAL: 500}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str | None
                       ) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=client_ca_file)
    return ctx


class CharServer:
    def __init__(self, repo: HotelRepo, actions: PmsActions, limiter: LoginLimiter,
                 allowed: list[Network]) -> None:
        self.repo = repo
        self.actions = actions
        self.limiter = limiter
        self.allowed = allowed
        self._checks = asyncio.Semaphore(2)
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/char", self.handle)
        return app

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, ssl_context=ssl_context).start()
        self.port = int(self._runner.addresses[0][1])  # the bound port when asked for 0
        log.info("pms interface listening", extra={"host": host, "port": self.port})

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ requests
    async def handle(self, request: web.Request) -> web.Response:
        ip = request.remote or ""
        if not self._allowed(ip):
            log.warning("pms request from a network not allowed", extra={"ip": ip})
            return _answer(403, reply(ResultCode.NOT_ALLOWED, "Not allowed from this address"))
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, reply(ResultCode.MALFORMED, "Request larger than 64 KiB"))
        try:
            return await self._handle(ip, raw)
        except CharError as exc:
            return _answer(_STATUS.get(exc.code, 200), reply(exc.code, exc.description))
        except Exception:
            log.exception("pms request failed", extra={"ip": ip})
            return _answer(500, reply(ResultCode.INTERNAL, "Internal error: nothing was "
                                                           "changed, try again"))

    async def _handle(self, ip: str, raw: bytes) -> web.Response:
        left = self.limiter.locked_for(f"ip:{ip}")
        if left:
            return _locked(left)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        req = parse_request(text)
        user_key = f"user:{req.user.lower()[:64]}"
        left = self.limiter.locked_for(user_key)
        if left:
            return _locked(left)
        config = await self.repo.config()
        if not await self._credentials_ok(config, req.user, req.password):
            locked = self.limiter.fail(f"ip:{ip}", user_key)
            log.warning("pms login failed user=%s ip=%s", req.user[:64], ip,
                        extra={"user": req.user[:64], "ip": ip, "locked": locked})
            raise CharError(ResultCode.BAD_CREDENTIALS, "Invalid credentials")
        self.limiter.succeed(user_key)
        if not config.site or req.site != config.site:
            raise CharError(ResultCode.UNKNOWN_SITE, f"Unknown site {req.site!r}")
        async with self._lock:
            document = await self.actions.handle(req, config)
        return _answer(200, document)

    async def _credentials_ok(self, config: HotelConfig, user: str, password: str) -> bool:
        user_ok = bool(config.char_user) and hmac.compare_digest(
            user.encode(), config.char_user.encode())
        async with self._checks:
            password_ok = await asyncio.to_thread(
                verify_password, config.char_password_hash or None, password)
        return user_ok and password_ok

    def _allowed(self, ip: str) -> bool:
        if not self.allowed:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.allowed)


def _answer(status: int, document: dict[str, Any],
            headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(document, status=status, headers=headers)


def _locked(left: float) -> web.Response:
    seconds = max(1, math.ceil(left))
    return _answer(429, reply(ResultCode.LOCKED,
                              f"Too many failed logins: try again in {seconds} s"),
                   headers={"Retry-After": str(seconds)})
