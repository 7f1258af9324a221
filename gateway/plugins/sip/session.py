"""One handle of the SIP plugin: Janus's SIP plugin requests and events on webfon's user agent.

Requests, events, error codes and texts are those of Janus 1.1.2's ``janus.plugin.sip`` (the
conformance suite compares them frame by frame); where ours differs on purpose, the difference
is listed in gateway/README.md. SIP itself (registration, dialogs, authentication, transfers)
is :mod:`webfon.sip.ua`'s; the media of a call is :class:`gateway.plugins.sip.media.CallMedia`'s.

As in Janus, a request's immediate result (``registering``, ``calling``, ``holding`` …) carries
the request's transaction, and the later events of a call carry the transaction of the request
that started it (the ``call``, or the ``accept`` of an offerless INVITE) until it ends.

Where requests may go: a user registers, calls, sends messages and transfers only to the SIP
servers allowed by the settings (:mod:`gateway.plugins.sip.policy`; plugin error 403 otherwise),
and an incoming call is taken only when our in-dialog requests would go to one of them. The ids
a request names (``replace``, ``refer_id``) must be of the handle's own account (its master and
helper lines); a ``call_id`` must not be in use. Per token user, SIP accounts and media legs are
limited (``max_sip_accounts_per_user``, ``max_media_legs_per_user``; error 429).

Ours: ``{"request": "register", "type": "webfon"}`` logs the handle's token user in as a
webphone: the PBX control API picks the user's web extension and returns its SIP credentials,
which are registered like any account. ``unregister``, detaching the handle, the session timing
out and the gateway restarting all log the extension out again. The ``registered`` event then
also carries ``extension``, ``lines`` and ``mode``.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import secrets
import string
import time
from typing import Any

from gateway.limits import UNLIMITED_ROLES, Limits
from gateway.plugins.base import HandleContext, MessageResult, PluginSession
from gateway.plugins.sip import codes, params
from gateway.plugins.sip.account import AccountKind, SipAccount, new_master_id
from gateway.plugins.sip.codes import SipPluginError
from gateway.plugins.sip.context import SipContext, Transfer
from gateway.plugins.sip.media import CallMedia
from gateway.plugins.sip.pbx import PbxError
from gateway.plugins.sip.policy import DEFAULT_PORTS, DestinationRefused, Server, canonical_host
from gateway.plugins.sip.rtp_watchdog import Expired, RtpTimer, WatchMode, watch_mode
from webfon.rtp.quality import HEADER as QUALITY_HEADER
from webfon.sip import REASONS, DigestClient, ParseError, Request, SipError, SipURI
from webfon.sip.dtmf_info import parse_dtmf_info
from webfon.sip.transaction import ServerTransaction
from webfon.sip.ua import Call

log = logging.getLogger("gateway.sip")

HOLD_DIRECTIONS = ("sendonly", "recvonly", "inactive")
RTP_TIMEOUT = (408, "RTP timeout")  # the hangup event of a call whose SIP side went silent
ALNUM = string.ascii_letters + string.digits


class Registration(enum.IntEnum):
    """Janus's registration states (their order matters: comparisons as in Janus)."""

    DISABLED = -2  # guest, or helper of a master
    FAILED = -1
    UNREGISTERED = 0
    REGISTERING = 1
    REGISTERED = 2
    UNREGISTERING = 3


class CallStatus(enum.IntEnum):
    """Janus's call states; their names appear in error texts (``status=incall``)."""

    IDLE = 0
    INVITING = 1
    INVITED = 2
    INCALL = 3
    INCALL_REINVITING = 4
    INCALL_REINVITED = 5
    CLOSING = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def established(self) -> bool:
        return self in (CallStatus.INCALL, CallStatus.INCALL_REINVITING,
                        CallStatus.INCALL_REINVITED)


def parse_address(text: str, what: str = "user") -> SipURI:
    """A ``sip:``/``sips:`` URI with a host, or error 446 with Janus's text."""
    try:
        uri = SipURI.parse(text)
    except (ParseError, ValueError):
        uri = None
    if uri is None or uri.scheme not in ("sip", "sips") or not uri.host:
        label = "user address" if what == "user" else f"{what} address"
        raise SipPluginError(codes.INVALID_ADDRESS, f"Invalid {label} {text}\n")
    return uri


def display_of(header: str | None) -> str | None:
    """The display name of a From/To header as written (quotes included, as Janus gives it)."""
    if not header or "<" not in header:
        return None
    name = header.split("<", 1)[0].strip()
    return name or None


def random_call_id() -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(24))


class SipSession(PluginSession):
    def __init__(self, sip: SipContext, ctx: HandleContext) -> None:
        super().__init__(ctx)
        self.sip = sip
        self.settings = sip.settings
        self.account: SipAccount | None = None
        self.registration = Registration.UNREGISTERED
        self.has_stack = False  # Janus: a register request got this far once
        self.helper = False
        self.master_id = 0
        self.status = CallStatus.IDLE
        self.transaction: str | None = None  # carried by the events of the current call
        self.callid: str | None = None
        self.callee: str | None = None  # the other party's URI
        self.call: Call | None = None
        self.media: CallMedia | None = None
        self.on_hold = False
        self.autoaccept_reinvites = True
        self.refer_id: int | None = None  # the transfer this call follows
        self.offerless = False
        self.started = 0.0
        self.answered_at: float | None = None
        self.setup_ms: float | None = None
        self._started_monotonic = 0.0
        self._media_wait: asyncio.TimerHandle | None = None
        self._rtp_timer: RtpTimer | None = None
        self._events: asyncio.Queue[tuple[Call, str, dict[str, Any]]] = asyncio.Queue()
        self._event_worker: asyncio.Task[None] | None = None

    # --- what the registries see ----------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.status != CallStatus.IDLE

    @property
    def sip_call(self) -> Call | None:
        return self.call

    def describe_call(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "call_id": self.callid, "direction": self.call.direction if self.call else None,
            "peer": self.callee, "state": self.status.label, "started": self.started,
            "answered": self.answered_at, "setup_ms": self.setup_ms,
            "handle_id": self.ctx.handle_id,
            "user": str(self.account.identity) if self.account else None}
        if self.media is not None:
            info.update(self.media.describe())
        return info

    def call_metrics(self) -> tuple[int, int, int, float, bool]:
        rtp = self.media.rtp if self.media is not None else None
        if rtp is None:
            return 0, 0, 0, 0.0, False
        return (rtp.packets_from_sip, rtp.packets_to_sip, rtp.lost_from_sip,
                rtp.jitter_ms(), self.status.established)

    # --- events ---------------------------------------------------------------------------
    def _push(self, result: dict[str, Any], transaction: str | None,
              jsep: dict[str, Any] | None = None, call_id: str | None = None) -> None:
        data: dict[str, Any] = {"sip": "event", "result": result}
        if call_id:
            data["call_id"] = call_id
        self.ctx.push_event(transaction, data, jsep)

    def event(self, result: dict[str, Any], jsep: dict[str, Any] | None = None,
              call_id: str | None = None) -> None:
        """An asynchronous event: it carries the current call's transaction, if any."""
        self._push(result, self.transaction, jsep, call_id or self.callid)

    def _done(self, transaction: str, result: dict[str, Any]) -> None:
        """A request's result (Janus adds the current Call-ID, if any)."""
        self._push(result, transaction, None, self.callid)

    def _error(self, transaction: str, code: int, message: str) -> None:
        data: dict[str, Any] = {"sip": "event", "error_code": code, "error": message}
        if self.callid:
            data["call_id"] = self.callid
        self.ctx.push_event(transaction, data)

    # --- dispatch -------------------------------------------------------------------------
    async def handle_message(self, transaction: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> MessageResult | None:
        async def job() -> None:
            try:
                params.check(body, params.REQUEST)
                request = body["request"]
                handler = getattr(self, f"_req_{request.lower()}", None)
                if handler is None:
                    raise SipPluginError(codes.INVALID_REQUEST, f"Unknown request ({request})")
                result = await handler(transaction, body, jsep)
                if result is not None:
                    self._done(transaction, result)
            except SipPluginError as exc:
                self._error(transaction, exc.code, exc.message)
            except SipError as exc:
                self._error(transaction, codes.LIBSOFIA_ERROR, f"SIP error: {exc}")

        self.enqueue(job)
        return None

    def _need_callee(self) -> None:
        if self.callee is None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (no callee?)")

    def _in_call(self, allow_inviting: bool = False) -> None:
        """Janus's check before in-call requests (its error code is 0 here, as in Janus)."""
        ok = self.status.established or (allow_inviting and
                                          self.status == CallStatus.INVITING)
        if not ok:
            raise SipPluginError(codes.UNSET, "Wrong state (not in a call?)")
        self._need_callee()

    # --- who may do what ------------------------------------------------------------------
    @property
    def limited_user(self) -> str | None:
        """The handle's token user, when per-user limits apply (not to role ``test``)."""
        claims = self.ctx.claims
        if claims is None or claims.has_role(*UNLIMITED_ROLES):
            return None
        return claims.sub

    def _allow(self, uri: SipURI, what: str, account: SipAccount | None = None) -> None:
        """Plugin error 403 unless ``uri`` names one of the SIP servers this handle may reach
        (the gateway's, plus what the PBX gave a webphone login)."""
        allowed = self.sip.servers_of(account) if account is not None else self.sip.destinations
        try:
            allowed.check(uri, what)
        except DestinationRefused as exc:
            self.sip.refused_destinations += 1
            log.warning("SIP destination refused", extra={
                "what": what, "where": exc.where, "handle": self.ctx.handle_id,
                "user": self.ctx.claims.sub if self.ctx.claims else None})
            raise SipPluginError(codes.UNAUTHORIZED, str(exc)) from None

    def _over_limit(self, limit: int, held: int, what: str, remedy: str) -> None:
        """Plugin error 429 when the user already holds ``limit`` of ``what``."""
        if Limits.over(limit, held):
            self.sip.limit_refusals += 1
            log.warning("limit reached", extra={"limit": what, "at_most": limit,
                                                "user": self.limited_user,
                                                "handle": self.ctx.handle_id})
            raise SipPluginError(codes.LIMIT_REACHED, f"Too many {what} for this user (at "
                                 f"most {limit}); {remedy}")

    def _check_accounts(self) -> None:
        user = self.limited_user
        if user is not None:
            self._over_limit(self.settings.max_sip_accounts_per_user,
                             self.sip.accounts_of(user, besides=self.account),
                             "SIP accounts", "unregister another one first")

    def _check_legs(self) -> None:
        user = self.limited_user
        if user is not None:
            self._over_limit(self.settings.max_media_legs_per_user,
                             self.sip.media_legs.get(user, 0), "calls with media",
                             "hang up another one first")

    def _new_media(self) -> CallMedia:
        """The media of a new call, counted against its user until it is closed."""
        media = CallMedia(self.ctx, self.sip.allocator, self.settings.local_ip,
                          self.settings.allow_transcoding, self._dtmf_from_rtp)
        user = self.limited_user
        if user is not None:
            self.sip.take_leg(user)
            media.on_close = lambda: self.sip.give_leg(user)
        return media

    def _own_line(self, line: object) -> bool:
        """``line`` (a handle with a call) belongs to this handle's account: the master or a
        helper line of it (as Janus looks up ``replace``)."""
        return self.account is not None and getattr(line, "account", None) is self.account

    # --- register -------------------------------------------------------------------------
    async def _req_register(self, tx: str, body: dict[str, Any],
                            jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        kind = body.get("type")
        if kind == "webfon":
            params.check(body, params.WEBFON_REGISTER)
        else:
            params.check(body, params.REGISTER)
        refresh = body.get("refresh") is True
        if self.registration > Registration.UNREGISTERED and not refresh:
            name = self.account.username if self.account else ""
            raise SipPluginError(codes.ALREADY_REGISTERED, f"Already registered ({name})")
        if kind == "helper":
            return self._register_helper(body)
        if self.helper:
            raise SipPluginError(codes.HELPER_ERROR, "Can't register on a helper session")
        if kind == "webfon":
            await self._register_webfon(tx, body)
            return None
        guest = kind == "guest"
        send_register = True
        if "send_register" in body:
            if guest:
                raise SipPluginError(codes.INVALID_ELEMENT, "Conflicting elements: "
                                     "send_register cannot be true if guest is true")
            send_register = body["send_register"] is True
        if body.get("force_udp") is True and body.get("force_tcp") is True:
            raise SipPluginError(codes.INVALID_ELEMENT, "Conflicting elements: force_udp and "
                                 "force_tcp cannot both be true")
        proxy = outbound = None
        if body.get("proxy") is not None:
            params.check(body, params.PROXY)
            proxy = parse_address(body["proxy"], "proxy")
        if body.get("outbound_proxy") is not None:
            params.check(body, params.PROXY)
            outbound = parse_address(body["outbound_proxy"], "outbound_proxy")
        ttl = body.get("register_ttl")
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            ttl = self.settings.register_ttl
        if ttl <= 0:
            ttl = 3600
        identity = parse_address(body["username"])
        secret = body.get("secret")
        ha1_secret = body.get("ha1_secret")
        if guest:
            send_register = False
        else:
            if secret is None and ha1_secret is None:
                raise SipPluginError(codes.MISSING_ELEMENT,
                                     "Missing element (secret or ha1_secret)")
            if secret is not None and ha1_secret is not None:
                raise SipPluginError(codes.INVALID_ELEMENT,
                                     "Conflicting elements specified (secret and ha1_secret)")
        if not send_register:
            claims = self.ctx.claims
            if not (self.settings.allow_guest or (claims is not None and
                                                  claims.has_role("admin", "test"))):
                raise SipPluginError(codes.UNAUTHORIZED, "Guest registrations are not allowed")
        params.header_safe(body, "display_name", "user_agent", "authuser")
        headers = params.headers(body)
        if proxy is not None:
            self._allow(proxy, "Registrar")
        elif send_register:  # the REGISTER goes to the identity's host
            self._allow(identity, "Registrar")
        if outbound is not None:
            self._allow(outbound, "Outbound proxy")
        self._check_accounts()
        if self.master_id == 0:
            self.master_id = new_master_id(lambda i: i in self.sip.accounts)
        if self.account is not None:  # a refresh with new values
            self._drop_account(unregister=False)
        account = SipAccount(
            self.sip.endpoint, identity, master_id=self.master_id,
            kind=AccountKind.REGULAR if send_register else AccountKind.GUEST,
            display_name=body.get("display_name"), authuser=body.get("authuser"),
            secret=secret, ha1_secret=ha1_secret, proxy=proxy, outbound_proxy=outbound,
            user_agent=body.get("user_agent") or self.settings.sip_user_agent,
            register_ttl=ttl, headers=headers, on_event=self._account_event,
            owner=self.limited_user)
        self._adopt_account(account)
        if not send_register:
            self.registration = Registration.DISABLED
            return {"event": "registered", "username": account.username,
                    "register_sent": False, "master_id": account.master_id}
        self.registration = Registration.REGISTERING
        self._done(tx, {"event": "registering"})
        self.sip.spawn(self._send_register(account))
        return None

    def _adopt_account(self, account: SipAccount) -> None:
        account.ua.admit_request = functools.partial(self.sip.from_allowed_server, account)
        self.account = account
        self.has_stack = True
        account.lines.insert(0, self)
        self.sip.accounts[account.master_id] = account

    async def _send_register(self, account: SipAccount) -> None:
        try:
            await account.register()
        except (SipError, OSError) as exc:
            if self.account is account:
                self._registration_failed(503, f"SIP error: {exc}")

    def _register_helper(self, body: dict[str, Any]) -> dict[str, Any]:
        master_id = body.get("master_id")
        if master_id is None:
            raise SipPluginError(codes.MISSING_ELEMENT,
                                 "Missing mandatory element for helper (master_id)")
        if self.helper:
            raise SipPluginError(codes.HELPER_ERROR, f"Session already a helper ({master_id})")
        master = self.sip.accounts.get(master_id)
        if master is None:
            raise SipPluginError(codes.HELPER_ERROR, f"No such master session ({master_id})")
        owner = getattr(master.lines[0], "ctx", None) if master.lines else None
        owner_claims = owner.claims if owner is not None else None
        mine = self.ctx.claims
        if owner_claims is not None and (mine is None or mine.sub != owner_claims.sub):
            raise SipPluginError(codes.UNAUTHORIZED, "Master belongs to another user")
        self.account = master
        self.helper = True
        self.has_stack = True
        self.master_id = master_id
        self.registration = Registration.DISABLED
        master.lines.append(self)
        return {"event": "registered", "username": master.username, "register_sent": False,
                "helper": True, "master_id": master_id}

    async def _register_webfon(self, tx: str, body: dict[str, Any]) -> None:
        claims = self.ctx.claims
        if claims is None:
            raise SipPluginError(codes.UNAUTHORIZED, "A webfon token is needed to log in")
        try:
            user_id = claims.user_id
        except ValueError:
            raise SipPluginError(codes.UNAUTHORIZED, "Token without a user") from None
        params.header_safe(body, "display_name")
        self._check_accounts()
        self.registration = Registration.REGISTERING
        self._done(tx, {"event": "registering"})
        async with self.sip.webphone_order.turn(user_id):
            account = await self._webfon_login(user_id, body)
        if account is not None:
            self.sip.spawn(self._send_register(account))

    async def _webfon_login(self, user_id: int, body: dict[str, Any]) -> SipAccount | None:
        """The PBX's web phone login, and its account listed here (in the user's turn, see
        ``webphone_order``); None when it failed (the client was told)."""
        settings = self.settings
        user = self.limited_user
        if user is not None:  # counted while the PBX answers (other handles may log in)
            self.sip.logins_pending[user] = self.sip.logins_pending.get(user, 0) + 1
        try:
            login = await self.sip.pbx.login(user_id, settings.local_nodo_id)
        except PbxError as exc:
            self.registration = Registration.FAILED
            self.event({"event": "registration_failed", "code": exc.status,
                        "reason": exc.message})
            return None
        finally:
            if user is not None:
                left = self.sip.logins_pending.get(user, 1) - 1
                if left > 0:
                    self.sip.logins_pending[user] = left
                else:
                    self.sip.logins_pending.pop(user, None)
        registrar = login.registrar or settings.sip_registrar
        if registrar and not registrar.startswith(("sip:", "sips:")):
            registrar = f"sip:{registrar}"
        try:
            identity = parse_address(f"sip:{login.sip_username}@{login.domain}")
            proxy = parse_address(registrar, "registrar") if registrar else None
            outbound = parse_address(settings.sip_outbound_proxy, "outbound_proxy") \
                if settings.sip_outbound_proxy else proxy
        except SipPluginError as exc:
            await self._logout_unless_used(user_id)
            self.registration = Registration.FAILED
            self.event({"event": "registration_failed", "code": 500, "reason": exc.message})
            return None
        if self.master_id == 0:
            self.master_id = new_master_id(lambda i: i in self.sip.accounts)
        if self.account is not None:  # a refresh: the new login's account replaces it
            self._drop_account(unregister=False)
        account = SipAccount(
            self.sip.endpoint, identity, master_id=self.master_id, kind=AccountKind.WEBFON,
            display_name=body.get("display_name"), authuser=login.sip_username,
            secret=login.sip_password, proxy=proxy, outbound_proxy=outbound,
            user_agent=settings.sip_user_agent, register_ttl=settings.register_ttl,
            on_event=self._account_event, owner=user)
        # what the PBX gave this login may be reached by it: its registrar, outbound proxy
        # and SIP domain (the web client calls sip:<number>@<domain> through the registrar)
        host, port = identity.host_port
        account.own_servers = tuple(
            [Server.of_uri(u) for u in (proxy, outbound) if u is not None] +
            [Server(canonical_host(host), DEFAULT_PORTS if identity.port is None
                    else frozenset({port}))])
        account.max_lines = login.lines or settings.webphone_lines_default
        account.webfon = {"user_id": user_id, "extension": login.extension,
                          "lines": account.max_lines, "mode": login.mode}
        self._adopt_account(account)
        return account

    async def _logout_in_turn(self, user_id: int) -> None:
        async with self.sip.webphone_order.turn(user_id):
            await self._logout_unless_used(user_id)

    async def _logout_unless_used(self, user_id: int) -> None:
        """Log the user's web phone out at the PBX, unless another account of theirs here
        still uses it: another tab, or a reloaded page whose old session still waits to be
        claimed. Called in the user's turn (``webphone_order``)."""
        if any(other.kind == AccountKind.WEBFON and other.webfon.get("user_id") == user_id
               for other in self.sip.accounts.values()):
            return
        await self._pbx_logout(user_id)

    async def _pbx_logout(self, user_id: int) -> None:
        try:
            await self.sip.pbx.logout(user_id)
        except PbxError as exc:
            log.warning("webphone logout failed", extra={"user_id": user_id,
                                                          "error": exc.message})

    def _registration_failed(self, code: int, reason: str) -> None:
        account = self.account
        initial = self.registration == Registration.REGISTERING
        self.registration = Registration.FAILED
        self.event({"event": "registration_failed", "code": code, "reason": reason})
        if initial and account is not None:
            # the first REGISTER failed: the account goes, the client may register again
            self._drop_account(unregister=False)
            if account.kind == AccountKind.WEBFON:
                self.sip.spawn(self._logout_in_turn(int(account.webfon["user_id"])))

    async def _account_event(self, name: str, data: dict[str, Any]) -> None:
        """What the account's user agent reports (registration, incoming requests)."""
        account = self.account
        if name == "incoming":
            await self._route_incoming(data["call"])
            return
        if account is None:
            return
        if name == "registered":
            if self.registration < Registration.REGISTERED:
                self.registration = Registration.REGISTERED
            result: dict[str, Any] = {"event": "registered", "username": account.username,
                                      "register_sent": True, "master_id": account.master_id}
            if account.kind == AccountKind.WEBFON:  # ours: the login's extension and lines
                result.update({k: account.webfon[k] for k in ("extension", "lines", "mode")})
                result["identity"] = str(account.identity)
            self.event(result)
        elif name == "registration_failed":
            self._registration_failed(data["code"], data.get("reason") or "")
        elif name == "message":
            self._incoming_message(data["request"])

    # --- unregister -------------------------------------------------------------------------
    async def _req_unregister(self, tx: str, body: dict[str, Any],
                              jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        if not self.has_stack:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (register first)")
        if self.helper:
            self._leave_master()
            self.registration = Registration.UNREGISTERED
            return {"event": "unregistering"}
        if self.registration < Registration.REGISTERED:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not registered)")
        self.registration = Registration.UNREGISTERING
        self._done(tx, {"event": "unregistering"})
        account = self.account
        assert account is not None
        self.sip.spawn(self._unregister(account))
        return None

    async def _unregister(self, account: SipAccount) -> None:
        await self._release_account(account)
        self.registration = Registration.UNREGISTERED
        self.event({"event": "unregistered", "username": account.username})

    async def _release_account(self, account: SipAccount) -> None:
        """Unregister the account, end its helper lines, log a webphone out."""
        for line in account.lines[1:]:
            if isinstance(line, SipSession):
                line.master_gone()
        del account.lines[1:]
        await account.unregister()
        self._drop_account(unregister=False)
        if account.kind == AccountKind.WEBFON and account.webfon.get("user_id") is not None:
            await self._logout_in_turn(int(account.webfon["user_id"]))

    def _drop_account(self, unregister: bool) -> None:
        account, self.account = self.account, None
        if account is None:
            return
        if self in account.lines:
            account.lines.remove(self)
        if self.sip.accounts.get(account.master_id) is account:
            del self.sip.accounts[account.master_id]
        self.sip.spawn(account.close(unregister=unregister))

    def master_gone(self) -> None:
        """This helper's master unregistered: the helper's handle ends, as in Janus."""
        self.account = None
        self.ctx.end("master unregistered")

    def _leave_master(self) -> None:
        account = self.account
        if account is not None and self in account.lines:
            account.lines.remove(self)
        self.account = None
        self.helper = False
        self.master_id = 0

    # --- outgoing calls ---------------------------------------------------------------------
    async def _req_call(self, tx: str, body: dict[str, Any],
                        jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        if not self.has_stack:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (register first)")
        if self.registration not in (Registration.REGISTERED, Registration.DISABLED):
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not registered)")
        if self.status >= CallStatus.INVITING:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (already in a call? "
                                 f"status={self.status.label})")
        params.check(body, params.CALL)
        if "secret" in body and "ha1_secret" in body:
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 "Conflicting elements specified (secret and ha1_secret)")
        srtp = body.get("srtp")
        if srtp is not None and srtp.lower() not in ("sdes_optional", "sdes_mandatory"):
            raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (srtp can only be "
                                 "sdes_optional or sdes_mandatory)")
        account = self.account
        assert account is not None
        uri = parse_address(body["uri"])
        sdp = jsep.get("sdp") if jsep else None
        if not sdp:
            raise SipPluginError(codes.MISSING_SDP, "Missing SDP")
        if "m=application" in sdp:
            raise SipPluginError(codes.MISSING_SDP,
                                 "The SIP plugin does not support DataChannels")
        if srtp is not None and srtp.lower() == "sdes_mandatory":
            raise SipPluginError(codes.TOO_STRICT, "SDES-SRTP is not available towards SIP "
                                 "on this gateway")
        self._allow(uri, "Destination", account)
        callid = body.get("call_id")
        if callid is not None:
            params.call_id(callid)
            if callid in self.sip.calls:
                raise SipPluginError(codes.INVALID_ELEMENT,
                                     "Invalid element (call_id already in use)")
        headers = params.headers(body)
        params.header_safe(body, "authuser")
        limit = self.settings.max_digi_llam_sal
        if limit > 0 and uri.user and len(uri.user) > limit:
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 f"Dial string longer than {limit} digits")
        if account.max_lines and account.active_calls() >= account.max_lines:
            raise SipPluginError(codes.WRONG_STATE, f"All {account.max_lines} lines are busy")
        self._check_legs()
        media = self._new_media()
        try:
            offer = await media.sip_offer(sdp)
            if callid is not None and callid in self.sip.calls:  # taken meanwhile
                raise SipPluginError(codes.INVALID_ELEMENT,
                                     "Invalid element (call_id already in use)")
        except BaseException:
            media.close()
            raise
        transfer = None
        refer_id = body.get("refer_id")
        if isinstance(refer_id, int) and refer_id > 0:
            transfer = self.sip.transfers.get(refer_id)
            if transfer is not None and transfer.account is not account:
                # a transfer received by another account: not this user's to follow (its
                # NOTIFYs and Replaces would reach into someone else's call)
                log.warning("refer_id of another account ignored",
                            extra={"refer_id": refer_id, "handle": self.ctx.handle_id})
                transfer = None
            if transfer is not None:
                self.refer_id = refer_id
                if transfer.referred_by:
                    headers.append(("Referred-By", transfer.referred_by))
                if transfer.replaces:
                    headers.append(("Replaces", transfer.replaces))
        if isinstance(body.get("authuser"), str) or "secret" in body or "ha1_secret" in body:
            # Janus keeps credentials given with a call for the account's later requests
            account.ua.digest = DigestClient(
                body.get("authuser") or account.ua.account.username or uri.user or "",
                body.get("secret"), ha1_md5=body.get("ha1_secret"))
        self.autoaccept_reinvites = body.get("autoaccept_reinvites", True) is not False
        self.callid = callid or random_call_id()
        self.callee = body["uri"]
        self.status = CallStatus.INVITING
        self.transaction = tx
        self.media = media
        self.started = time.time()
        self.sip.calls[self.callid] = self
        log.info("outgoing call", extra={"call_id": self.callid, "peer": self.callee,
                                         "user": str(account.identity)})
        self._done(tx, {"event": "calling", "call_id": self.callid})
        call = account.ua.invite(uri, offer, headers=headers, call_id=self.callid,
                                 on_event=self._sip_event)
        call.on_reinvite = self._reinvited
        call.end_headers = self._quality_headers
        self.call = call
        self._started_monotonic = time.monotonic()
        return None

    # --- incoming calls ---------------------------------------------------------------------
    async def _route_incoming(self, call: Call) -> None:
        """An INVITE for this (master) account: the first free line takes it; with none,
        486 and ``missed_call``."""
        account = self.account
        invite = call.invite
        dialog = call.dialog
        if account is not None and dialog is not None:
            # our ACK, BYE and re-INVITEs will go to the route set's first hop or the caller's
            # Contact: only to an allowed SIP server (the PBX), never where a stranger says
            hop = dialog.route_set[0].uri if dialog.route_set else dialog.remote_target
            try:
                self._allow(hop, "Incoming call from", account)
            except SipPluginError:
                call.reject(403)
                return
        line = account.free_line() if account is not None else None
        if account is not None and account.max_lines and \
                account.active_calls() >= account.max_lines:
            line = None
        if account is not None and account.owner is not None and Limits.over(
                self.settings.max_media_legs_per_user,
                self.sip.media_legs.get(account.owner, 0)):
            log.info("incoming call refused: the user's calls with media are at the limit",
                     extra={"call_id": invite.call_id, "user": account.owner})
            line = None
        if not isinstance(line, SipSession):
            call.reject(486)
            result: dict[str, Any] = {"event": "missed_call",
                                      "caller": str(invite.from_.uri)}
            display = display_of(invite.headers.get("From"))
            if display:
                result["displayname"] = display
            result["callee"] = str(invite.to.uri)
            self.event(result, call_id=invite.call_id)
            return
        await line.take_incoming(call)

    async def take_incoming(self, call: Call) -> None:
        """Ring this line with an incoming call of its account."""
        invite = call.invite
        media = self._new_media()
        jsep = None
        try:
            if invite.body:
                jsep = await media.browser_offer_for(invite.body)
            else:
                self.offerless = True
                await media.open()
        except SipPluginError as exc:
            log.info("incoming call refused: %s", exc.message,
                     extra={"call_id": invite.call_id})
            media.close()
            call.reject(488)
            return
        except (SipError, OSError, ValueError) as exc:
            log.warning("incoming call failed: %s", exc, extra={"call_id": invite.call_id})
            media.close()
            call.reject(500)
            return
        self.call = call
        self.media = media
        call.on_event = self._sip_event
        call.on_reinvite = self._reinvited
        call.end_headers = self._quality_headers
        self.callid = invite.call_id
        self.callee = str(invite.from_.uri)
        self.status = CallStatus.INVITED
        self.started = time.time()
        self.sip.calls[self.callid] = self
        call.ringing()
        result: dict[str, Any] = {"event": "incomingcall", "username": self.callee,
                                  "call_id": self.callid}
        display = display_of(invite.headers.get("From"))
        if display:
            result["displayname"] = display
        result["callee"] = str(invite.to.uri)
        referred_by = invite.headers.get("Referred-By")
        if referred_by:
            result["referred_by"] = referred_by
        replaces = invite.headers.get("Replaces")
        if replaces:
            result["replaces"] = replaces.split(";", 1)[0].strip()
        log.info("incoming call", extra={"call_id": self.callid, "peer": self.callee})
        self.event(result, jsep)

    def _quality_headers(self) -> list[tuple[str, str]]:
        """The browser leg's quality, for the end of the SIP call (see ``quality_header``)."""
        quality = getattr(self.ctx.media, "quality", None)
        if not self.settings.quality_header or quality is None:
            return []
        leg = quality(self.settings.node_name or f"gateway-{self.settings.local_nodo_id}")
        return [(QUALITY_HEADER, leg.header())] if leg is not None and leg.measured else []

    async def _req_accept(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.status != CallStatus.INVITED:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not invited? "
                                 f"status={self.status.label})")
        if self.callee is None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (no caller?)")
        params.check(body, params.ACCEPT)
        srtp = body.get("srtp")
        if srtp is not None:
            if srtp.lower() not in ("sdes_optional", "sdes_mandatory"):
                raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (srtp can only "
                                     "be sdes_optional or sdes_mandatory)")
            if srtp.lower() == "sdes_mandatory":
                raise SipPluginError(codes.TOO_STRICT, "Can't accept the call: SDES-SRTP "
                                     "required, but caller didn't offer it")
        sdp = jsep.get("sdp") if jsep else None
        if not sdp:
            raise SipPluginError(codes.MISSING_SDP, "Missing SDP")
        call, media = self.call, self.media
        assert call is not None and media is not None
        answer = jsep is not None and jsep.get("type") == "answer"
        headers = params.headers(body)
        if not answer:
            body_sdp = await media.sip_offer_for_offerless(sdp)
            self.transaction = tx
        else:
            body_sdp = await media.accept(sdp)
        self.autoaccept_reinvites = body.get("autoaccept_reinvites", True) is not False
        self.status = CallStatus.INCALL
        self.answered_at = time.time()
        call.accept(body_sdp, headers=headers)
        self._watch_rtp()
        return {"event": "accepted" if answer else "accepting"}

    async def _req_decline(self, tx: str, body: dict[str, Any],
                           jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        params.check(body, params.DECLINE)
        refer_id = body.get("refer_id")
        if isinstance(refer_id, int) and refer_id > 0:
            transfer = self.sip.transfers.get(refer_id)
            if transfer is None or transfer.account is not self.account:
                raise SipPluginError(codes.WRONG_STATE, "Wrong state (no transfer?)")
            del self.sip.transfers[refer_id]
            code = body.get("code", 603)
            code = code if code > 399 else 603
            self.sip.spawn(self._notify_transferor(transfer, code, REASONS.get(code, "")))
            return {"event": "declining", "refer_id": refer_id, "code": code}
        if self.status != CallStatus.INVITED:
            return None  # as Janus: ignored
        self._need_callee()
        self.status = CallStatus.CLOSING
        code = body.get("code", 486)
        code = code if code > 399 else 486
        callid = self.callid
        assert self.call is not None
        self.call.reject(code, headers=params.headers(body))
        return {"event": "declining", "code": code, "call_id": callid}

    async def _req_hangup(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        if not self.status.established and self.status != CallStatus.INVITING:
            return None  # as Janus: ignored
        self._need_callee()
        self.status = CallStatus.CLOSING
        self.on_hold = False
        call = self.call
        assert call is not None
        self.sip.spawn(self._end_call(call))
        return {"event": "hangingup"}

    @staticmethod
    async def _end_call(call: Call) -> None:
        try:
            await call.hangup()
        except (SipError, OSError) as exc:
            log.info("hangup failed: %s", exc, extra={"call_id": call.call_id})

    # --- in-call requests -------------------------------------------------------------------
    async def _req_hold(self, tx: str, body: dict[str, Any],
                        jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        return await self._hold(tx, body, hold=True)

    async def _req_unhold(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        return await self._hold(tx, body, hold=False)

    async def _hold(self, tx: str, body: dict[str, Any], hold: bool) -> dict[str, Any] | None:
        if self.status != CallStatus.INCALL:
            return None  # as Janus: ignored (also while a re-INVITE is under way)
        self._need_callee()
        if self.media is None or self.media.sip_codec is None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (no SDP?)")
        direction = "sendrecv"
        if hold:
            params.check(body, params.HOLD)
            direction = body.get("direction") or "sendonly"
            if direction not in HOLD_DIRECTIONS:
                raise SipPluginError(codes.INVALID_ELEMENT, "Invalid direction (can only be "
                                     "sendonly, recvonly or inactive)")
        if hold != self.on_hold:
            self.on_hold = hold
            self.status = CallStatus.INCALL_REINVITING
            self.sip.spawn(self._reinvite(direction))
        return {"event": "holding" if hold else "resuming"}

    async def _reinvite(self, direction: str) -> bool:
        call, media = self.call, self.media
        assert call is not None and media is not None
        try:
            response = await call.reinvite(media.hold_sdp(direction))
        except (SipError, OSError) as exc:
            log.info("re-INVITE failed: %s", exc, extra={"call_id": self.callid})
            response = None
        if self.status == CallStatus.INCALL_REINVITING:
            self.status = CallStatus.INCALL
        if response is not None and response.is_success:
            media.held(direction, response.body or None)
            return True
        return False

    async def _req_update(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.status not in (CallStatus.INCALL, CallStatus.INCALL_REINVITED):
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not in a call?)")
        self._need_callee()
        media = self.media
        if media is None or media.sip_codec is None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (no local SDP?)")
        if jsep is not None:
            # ours: a new peer connection or an ICE restart after a network change renews
            # the browser's leg; the SIP side keeps its media as it is
            if jsep.get("type") != "offer":
                raise SipPluginError(codes.INVALID_ELEMENT, "An update takes a JSEP offer")
            self._stop_waiting_for_media()
            answer = await media.renew_browser(jsep["sdp"])
            log.info("browser media renewed", extra={"call_id": self.callid})
            self._push({"event": "updated"}, tx, {"type": "answer", "sdp": answer},
                       self.callid)
            return None
        # ours: without a new offer the SIP session is refreshed with the same media
        if not await self._reinvite(media.local_direction):
            raise SipPluginError(codes.LIBSOFIA_ERROR, "Update refused by the SIP peer")
        return {"event": "updated"}

    async def _req_transfer(self, tx: str, body: dict[str, Any],
                            jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        params.check(body, params.TRANSFER)
        self._in_call()
        if self.media is None or self.media.sip_codec is None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (no local SDP?)")
        target = parse_address(body["uri"])
        self._allow(target, "Transfer target", self.account)
        replace = body.get("replace")
        other: Call | None = None
        if isinstance(replace, str):
            # only a call of this account (as Janus): another user's call does not exist here
            line = self.sip.calls.get(replace)
            other = line.sip_call if line is not None and self._own_line(line) else None
            if other is None or other.dialog is None:
                raise SipPluginError(codes.NO_SUCH_CALLID, f"No such call-ID {replace}")
        call = self.call
        assert call is not None
        self.sip.spawn(self._refer(call, target, other))
        return {"event": "transferring"}

    @staticmethod
    async def _refer(call: Call, target: SipURI, other: Call | None) -> None:
        try:
            response = await call.refer(target, replaces=other)
            if not response.is_success:
                log.info("transfer refused: %s %s", response.status, response.reason,
                         extra={"call_id": call.call_id})
        except (SipError, OSError) as exc:
            log.info("transfer failed: %s", exc, extra={"call_id": call.call_id})

    async def _req_dtmf_info(self, tx: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        self._in_call()
        params.check(body, params.DTMF_INFO)
        digit = body["digit"]
        if len(digit) != 1:
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 "Invalid element (digit should be one character)")
        if parse_dtmf_info("application/dtmf", digit) is None:
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 "Invalid element (digit should be a DTMF key)")
        duration = body.get("duration", 0)
        if duration <= 0 or duration > 5000:
            duration = 160
        call = self.call
        assert call is not None
        self.sip.spawn(self._send(call.send_dtmf_info(digit, duration, params.headers(body))))
        return {"event": "dtmfsent"}

    async def _req_info(self, tx: str, body: dict[str, Any],
                        jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        self._in_call()
        params.check(body, params.INFO)
        params.header_safe(body, "type")
        call = self.call
        assert call is not None
        self.sip.spawn(self._send(call.info(body["content"], body["type"])))
        return {"event": "infosent"}

    async def _req_message(self, tx: str, body: dict[str, Any],
                           jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        params.check(body, params.MESSAGE)
        params.header_safe(body, "content_type")
        content_type = body.get("content_type") or "text/plain"
        content = body["content"]
        if body.get("uri") is None:
            self._in_call(allow_inviting=True)
            call = self.call
            assert call is not None
            message_id = self.callid
            sending = call.request("MESSAGE", body=content.encode(),
                                   content_type=content_type, headers=params.headers(body))
        else:
            if self.registration not in (Registration.REGISTERED, Registration.DISABLED):
                raise SipPluginError(codes.WRONG_STATE, "Wrong state (not registered)")
            target = parse_address(body["uri"])
            assert self.account is not None
            self._allow(target, "Message destination", self.account)
            message_id = body.get("call_id") or random_call_id()
            sending = self.account.ua.message(target, content, content_type)
        self._done(tx, {"event": "messagesent", "call_id": message_id})
        self.sip.spawn(self._message_delivery(sending, message_id))
        return None

    async def _message_delivery(self, sending: Any, message_id: str | None) -> None:
        try:
            response = await sending
            code, reason = response.status, response.reason or REASONS.get(response.status, "")
        except (SipError, OSError) as exc:
            code, reason = 503, f"SIP error: {exc}"
        self.event({"event": "messagedelivery", "code": code, "reason": reason},
                   call_id=message_id)

    @staticmethod
    async def _send(sending: Any) -> None:
        try:
            response = await sending
            if not response.is_success:
                log.info("in-dialog request refused: %s %s", response.status, response.reason)
        except (SipError, OSError) as exc:
            log.info("in-dialog request failed: %s", exc)

    async def _req_recording(self, tx: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        self._in_call(allow_inviting=True)
        params.check(body, params.RECORDING)
        action = body["action"].lower()
        if action not in ("start", "stop", "pause", "resume"):
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 "Invalid action (should be start|stop|pause|resume)")
        if action == "start" and not any(body.get(k) is True for k in
                                         ("audio", "video", "peer_audio", "peer_video")):
            raise SipPluginError(codes.RECORDING_ERROR, "Invalid request (at least one of "
                                 "audio, video, peer_audio and peer_video should be true)")
        # ours: calls are not recorded on the gateway (see gateway/README.md)
        raise SipPluginError(codes.RECORDING_ERROR, "Recording is not available on this "
                             "gateway")

    async def _req_reset(self, tx: str, body: dict[str, Any],
                         jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        return {"event": "reset"}

    async def _unsupported(self, tx: str, body: dict[str, Any],
                           jsep: dict[str, Any] | None) -> dict[str, Any] | None:
        raise SipPluginError(codes.INVALID_REQUEST,
                             f"Unsupported request ({body.get('request')})")

    _req_subscribe = _unsupported
    _req_unsubscribe = _unsupported

    # --- what the SIP side of a call reports -------------------------------------------------
    def _sip_event(self, name: str, data: dict[str, Any]) -> None:
        """Events of our call from the user agent, handled in order."""
        call = self.call
        if call is None:
            return
        self._events.put_nowait((call, name, data))
        if self._event_worker is None or self._event_worker.done():
            self._event_worker = asyncio.ensure_future(self._run_events())

    async def _run_events(self) -> None:
        while not self._events.empty():
            call, name, data = self._events.get_nowait()
            if call is not self.call:
                continue
            try:
                await self._on_sip_event(call, name, data)
            except Exception:
                log.exception("SIP event failed", extra={"call_id": self.callid,
                                                         "event": name})

    async def _on_sip_event(self, call: Call, name: str, data: dict[str, Any]) -> None:
        media = self.media
        assert media is not None
        if name == "ringing":
            code = data.get("code", 180)
            if code == 180:
                self.event({"event": "ringing"})
            self.event({"event": "proceeding", "code": code})
            self._transfer_progress(code, REASONS.get(code, ""))
        elif name == "progress":
            code = data.get("code", 183)
            sdp = data.get("sdp")
            if sdp:
                try:
                    jsep = await media.answer_browser(sdp)
                except SipPluginError as exc:
                    log.info("early media ignored: %s", exc.message,
                             extra={"call_id": self.callid})
                else:
                    self.event({"event": "progress", "username": self.callee}, jsep)
            else:
                self.event({"event": "ringing"})
            self.event({"event": "proceeding", "code": code})
            self._transfer_progress(code, REASONS.get(code, ""))
        elif name == "accepted" and call.direction == "out":
            await self._answered(call, data.get("sdp"))
        elif name == "confirmed" and self.offerless:
            sdp = data.get("sdp")
            if not sdp:
                self.sip.spawn(self._end_call(call))
                return
            try:
                jsep = await media.answer_browser(sdp)
            except SipPluginError as exc:
                log.warning("unusable answer in the ACK: %s", exc.message,
                            extra={"call_id": self.callid})
                self.sip.spawn(self._end_call(call))
                return
            self.event({"event": "accepted", "username": self.callee}, jsep)
        elif name == "hangup":
            self._ended(call, data)
        elif name == "info":
            self._incoming_info(data)
        elif name == "message":
            self._incoming_message(data["request"])
        elif name == "notify":
            body = data.get("body") or b""
            if body:
                event = (data.get("event") or "").split(";", 1)[0].strip()
                substate = (data.get("subscription_state") or "").split(";", 1)[0].strip()
                ctype = data.get("content_type")
                self.event({"event": "notify", "notify": event, "substate": substate,
                            "content-type": (ctype or "").split(";", 1)[0],
                            "content": body.decode("utf-8", "replace")},
                           call_id=call.call_id)
        elif name == "refer":
            self._incoming_refer(call, data)

    async def _answered(self, call: Call, sdp: bytes | None) -> None:
        media = self.media
        assert media is not None
        if not sdp and not media.browser_answered:
            log.warning("2xx without SDP", extra={"call_id": self.callid})
            self.sip.spawn(self._end_call(call))
            return
        jsep = None
        if sdp:
            try:
                jsep = await media.answer_browser(sdp)
            except SipPluginError as exc:
                log.warning("cannot use the answer: %s", exc.message,
                            extra={"call_id": self.callid})
                self.sip.spawn(self._end_call(call))
                return
        if self.status == CallStatus.INVITING:
            self.status = CallStatus.INCALL
        self._watch_rtp()
        self.answered_at = time.time()
        self.setup_ms = round((time.monotonic() - self._started_monotonic) * 1000, 1)
        self.sip.call_set_up(self.setup_ms)
        self.event({"event": "accepted", "username": self.callee}, jsep)
        self._transfer_progress(200, "OK")

    def _ended(self, call: Call, data: dict[str, Any]) -> None:
        code = int(data.get("code") or 0)
        reason = data.get("reason") or ""
        if data.get("by") == "local" and code == 200:
            reason = "to BYE"
        elif data.get("by") == "remote" and code == 200:
            reason = "Session Terminated"
        elif code >= 300:
            reason = reason or REASONS.get(code, "")
        log.info("call ended", extra={
            "call_id": self.callid, "code": code, "reason": reason,
            "duration_s": round(time.time() - self.answered_at, 1) if self.answered_at else 0,
            "packets_to_sip": self.media.rtp.packets_to_sip if self.media else 0,
            "packets_from_sip": self.media.rtp.packets_from_sip if self.media else 0})
        self.event({"event": "hangup", "code": code, "reason": reason})
        self._transfer_progress(code, reason)  # a transfer call that never got answered
        self._reset_call()

    def _reset_call(self) -> None:
        self._stop_waiting_for_media()
        if self._rtp_timer is not None:
            self._rtp_timer.stop()
            self._rtp_timer = None
        if self.callid is not None and self.sip.calls.get(self.callid) is self:
            del self.sip.calls[self.callid]
        # transfers this call received and nobody followed or declined go with it
        for refer_id in [r for r, t in self.sip.transfers.items() if t.call is self.call]:
            del self.sip.transfers[refer_id]
        if self.media is not None:
            self.media.close()
        had_media = self.media is not None
        self.call = None
        self.media = None
        self.callid = None
        self.callee = None
        self.transaction = None
        self.status = CallStatus.IDLE
        self.on_hold = False
        self.offerless = False
        self.refer_id = None
        self.autoaccept_reinvites = True
        self.answered_at = None
        if had_media:
            self.sip.spawn(self.ctx.close_media())

    def _incoming_info(self, data: dict[str, Any]) -> None:
        request = data.get("request")
        body = data.get("body") or b""
        ctype = data.get("content_type")
        if not ctype or not body or not isinstance(request, Request):
            return
        result: dict[str, Any] = {"event": "info", "sender": str(request.from_.uri)}
        display = display_of(request.headers.get("From"))
        if display:
            result["displayname"] = display
        result["type"] = ctype.split(";", 1)[0]
        result["content"] = body.decode("utf-8", "replace")
        self.event(result)
        dtmf = parse_dtmf_info(ctype, body)
        if dtmf is not None:  # ours: see gateway/README.md
            self.event({"event": "dtmf", "signal": dtmf.digit,
                        "duration": dtmf.duration_ms or 0})

    def _incoming_message(self, request: Request) -> None:
        if not request.body or not request.content_type:
            return
        result: dict[str, Any] = {"event": "message", "sender": str(request.from_.uri)}
        display = display_of(request.headers.get("From"))
        if display:
            result["displayname"] = display
        result["content"] = request.body.decode("utf-8", "replace")
        result["content_type"] = request.content_type.split(";", 1)[0]
        self.event(result)

    def _incoming_refer(self, call: Call, data: dict[str, Any]) -> None:
        refer_id = new_master_id(lambda i: i in self.sip.transfers)
        target = data.get("target")
        replaces = data.get("replaces")
        referred_by = data.get("referred_by")
        if referred_by is None:
            referred_by = str(call.invite.to.uri if call.direction == "out"
                              else call.invite.from_.uri)
        self.sip.transfers[refer_id] = Transfer(call, self.account, int(data.get("cseq") or 0),
                                                referred_by, replaces)
        refer_to = target.uri.copy(headers={}) if target is not None else data["refer_to"]
        result: dict[str, Any] = {"event": "transfer", "refer_id": refer_id,
                                  "refer_to": str(refer_to), "referred_by": referred_by}
        if replaces:
            result["replaces"] = replaces.split(";", 1)[0]
        self._push(result, self.transaction)  # as Janus: without a call_id
        # RFC 3515: the implicit subscription starts with a NOTIFY of the initial state
        self.sip.spawn(self._notify_transferor(self.sip.transfers[refer_id], 100, "Trying"))

    def _transfer_progress(self, code: int, reason: str) -> None:
        """Tell the transferor how the call that follows its REFER is going."""
        if self.refer_id is None:
            return
        transfer = self.sip.transfers.get(self.refer_id)
        if transfer is None:
            return
        if code >= 200:
            del self.sip.transfers[self.refer_id]
        self.sip.spawn(self._notify_transferor(transfer, code, reason))

    @staticmethod
    async def _notify_transferor(transfer: Transfer, code: int, reason: str) -> None:
        call = transfer.call
        if call.state == "terminated":
            return
        try:
            await call.notify_refer(code, reason, refer_cseq=transfer.refer_cseq or None)
        except (SipError, OSError) as exc:
            log.info("transfer NOTIFY failed: %s", exc, extra={"call_id": call.call_id})

    async def _reinvited(self, request: Request, tx: ServerTransaction) -> None:
        """The peer re-INVITEs (or UPDATEs): answered at once, as Janus does with
        ``autoaccept_reinvites`` (``false`` is accepted and treated the same)."""
        call, media = self.call, self.media
        if call is None or media is None or media.sip_codec is None:
            tx.respond(488 if request.body else 200)
            return
        answer, held = media.answer_reinvite(request.body or None)
        if answer is None:
            call.answer_update(tx, None, 488)
            return
        if request.method == "UPDATE" and not request.body:
            call.answer_update(tx, None, 200)
        else:
            call.answer_update(tx, answer)
        if held is not None:  # ours: see gateway/README.md
            self.event({"event": "remote_hold" if held else "remote_resume",
                        "direction": media.remote_direction})

    def _dtmf_from_rtp(self, digit: str, duration_ms: int) -> None:
        self.event({"event": "dtmf", "signal": digit, "duration": duration_ms})

    # --- RTP timeout ---------------------------------------------------------------------------
    def _watch_rtp(self) -> None:
        """The call is established: end it if the SIP side's RTP stops (rtp_watchdog)."""
        timeouts = self.settings.rtp_timeouts()
        if self._rtp_timer is None and timeouts.enabled:
            self._rtp_timer = RtpTimer(timeouts, self._rtp_seen, self._rtp_timed_out)

    def _rtp_seen(self) -> tuple[int, WatchMode] | None:
        media = self.media
        if media is None or not self.status.established:
            return None
        return (media.rtp.packets_from_sip,
                watch_mode(media.local_direction, media.remote_direction))

    def _rtp_timed_out(self, expired: Expired) -> None:
        """No RTP from the SIP side for the timeout: BYE (with an RFC 3326 Reason) and the
        browser's hangup at once, without waiting for a peer that is probably gone."""
        self._rtp_timer = None
        call = self.call
        if call is None or not self.status.established:
            return
        code, reason = RTP_TIMEOUT
        log.warning("RTP timeout: ending the call", extra={
            "session": self.ctx.session_id, "handle": self.ctx.handle_id,
            "call_id": self.callid, "peer": self.callee, "mode": expired.mode.value,
            "silent_s": round(expired.silent_s, 1), "timeout_s": expired.timeout_s,
            "packets_from_sip": expired.packets})
        call.on_event = None  # its own end (after the BYE's transaction) is not news any more
        self.sip.spawn(self._bye(call, [("Reason", f'SIP;cause={code};text="{reason}"')]))
        self._ended(call, {"code": code, "reason": reason, "by": "local"})

    @staticmethod
    async def _bye(call: Call, headers: list[tuple[str, str]]) -> None:
        try:
            await call.bye(headers=headers)
        except (SipError, OSError) as exc:
            log.info("BYE failed: %s", exc, extra={"call_id": call.call_id})

    # --- lifecycle ----------------------------------------------------------------------------
    def await_new_media(self, seconds: float) -> None:
        """The browser's connection broke: end the call unless new media arrives in time."""
        if self._media_wait is not None:
            return
        log.info("browser media lost, waiting for new media",
                 extra={"call_id": self.callid, "timeout_s": seconds})
        call = self.call

        def expire() -> None:
            self._media_wait = None
            if call is not None and self.call is call:
                log.info("no new browser media: ending the call",
                         extra={"call_id": self.callid})
                self.sip.spawn(self._end_call(call))

        self._media_wait = asyncio.get_running_loop().call_later(seconds, expire)

    def _stop_waiting_for_media(self) -> None:
        if self._media_wait is not None:
            self._media_wait.cancel()
            self._media_wait = None

    async def media_down(self, reason: str = "") -> None:
        call = self.call
        if call is None:
            return
        grace = self.settings.media_reclaim_timeout
        if reason and grace > 0 and self.status.established:
            # the browser's connection broke, not a hangup: it may come back with a new offer
            # in an ``update`` (after a network change); the call ends if it does not
            self.await_new_media(grace)
            return
        if self.status == CallStatus.INVITED:
            call.reject(480)  # as Janus: the browser went before answering
            return
        await self._end_call(call)

    async def destroy(self) -> None:
        self.stop_jobs()
        if self.call is not None:  # the call is over for the handle: don't wait for the BYE
            self.sip.spawn(self._end_call(self.call))
        account = self.account
        if account is None:
            return
        if self.helper:
            self._leave_master()
            return
        await self._release_account(account)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"helper": self.helper, "registration": self.registration.name
                                .lower(), "status": self.status.label}
        account = self.account
        if account is not None:
            info.update({"username": str(account.identity), "registered": account.registered,
                         "master_id": account.master_id, "kind": account.kind.value})
            if account.webfon:
                info["webphone"] = dict(account.webfon)
        if self.call is not None:
            info["call"] = self.describe_call()
        return info
