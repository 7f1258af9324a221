"""Requests of one SIP plugin handle, with Janus's SIP plugin names and fields.

Our addition: ``{"request": "register", "type": "webfon"}`` logs the handle's token user in as
a webphone: the PBX control API picks the user's web extension and returns its SIP
credentials, which are registered like any account. ``unregister``, detaching the handle, the
session timing out and the gateway restarting all log the extension out again. The
``registered`` event then also carries ``extension``, ``lines`` and ``mode``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gateway.media.sdp import SdpError
from gateway.plugins.base import HandleContext, MessageResult, PluginSession
from gateway.plugins.sip import codes
from gateway.plugins.sip.account import Account
from gateway.plugins.sip.call import Call
from gateway.plugins.sip.codes import SipPluginError
from gateway.plugins.sip.pbx import PbxError
from webfon.sip import ParseError, SipError, SipURI

if TYPE_CHECKING:
    from gateway.plugins.sip.plugin import SipPlugin

log = logging.getLogger("gateway.sip")

DIRECTIONS = ("sendonly", "recvonly", "inactive")


def _str(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise SipPluginError(codes.MISSING_ELEMENT, f"Missing element ({key})")
        return None
    if not isinstance(value, str):
        raise SipPluginError(codes.INVALID_ELEMENT,
                             f"Invalid element type ({key} should be a string)")
    return value


def _uri(text: str, key: str) -> SipURI:
    try:
        uri = SipURI.parse(text)
    except (ParseError, ValueError):
        raise SipPluginError(codes.INVALID_ADDRESS, f"Invalid address ({key})") from None
    if uri.scheme not in ("sip", "sips") or not uri.host:
        raise SipPluginError(codes.INVALID_ADDRESS, f"Invalid address ({key})")
    return uri


def _headers(body: dict[str, Any]) -> list[tuple[str, str]]:
    raw = body.get("headers")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element type (headers)")
    out = []
    for name, value in raw.items():
        if not isinstance(value, str) or not name.replace("-", "").isalnum() or \
                "\r" in value or "\n" in value:
            raise SipPluginError(codes.INVALID_ELEMENT, f"Invalid header {name!r}")
        out.append((str(name), value))
    return out


class SipSession(PluginSession):
    def __init__(self, plugin: SipPlugin, ctx: HandleContext) -> None:
        super().__init__(ctx)
        self.plugin = plugin
        self.account: Account | None = None
        self.helper = False
        self.call: Call | None = None

    # --- events -------------------------------------------------------------------------
    def event(self, result: dict[str, Any], transaction: str | None = None,
              jsep: dict[str, Any] | None = None, call_id: str | None = None) -> None:
        data: dict[str, Any] = {"sip": "event"}
        if call_id:
            data["call_id"] = call_id
        data["result"] = result
        self.ctx.push_event(transaction, data, jsep)

    def error(self, transaction: str | None, code: int, message: str) -> None:
        self.ctx.push_event(transaction, {"sip": "event", "error_code": code,
                                          "error": message})

    # --- dispatch -----------------------------------------------------------------------
    async def handle_message(self, transaction: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> MessageResult | None:
        request = body.get("request")

        async def job() -> None:
            try:
                if not isinstance(request, str):
                    raise SipPluginError(codes.MISSING_ELEMENT, "Missing element (request)")
                handler = getattr(self, f"_req_{request}", None)
                if handler is None:
                    raise SipPluginError(codes.INVALID_REQUEST,
                                         f"Unknown request ({request})")
                await handler(transaction, body, jsep)
            except SipPluginError as exc:
                self.error(transaction, exc.code, exc.message)
            except (SdpError, ValueError) as exc:
                self.error(transaction, codes.MISSING_SDP, f"Invalid SDP: {exc}")
            except SipError as exc:
                self.error(transaction, codes.LIBSOFIA_ERROR, f"SIP error: {exc}")

        self.enqueue(job)
        return None

    def _need_account(self) -> Account:
        if self.account is None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not registered)")
        return self.account

    def _need_call(self) -> Call:
        if self.call is None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not in a call)")
        return self.call

    # --- register -----------------------------------------------------------------------
    async def _req_register(self, tx: str, body: dict[str, Any],
                            jsep: dict[str, Any] | None) -> None:
        kind = _str(body, "type") or "regular"
        if self.account is not None and not body.get("refresh"):
            raise SipPluginError(codes.ALREADY_REGISTERED, "Already registered")
        if kind == "webfon":
            await self._register_webfon(tx, body)
            return
        username = _uri(_str(body, "username", required=True) or "", "username")
        if kind == "helper":
            self._register_helper(tx, body, username)
            return
        send_register = body.get("send_register", True)
        if kind == "guest" or send_register is False:
            claims = self.ctx.claims
            allowed = self.plugin.settings.allow_guest or (
                claims is not None and claims.has_role("admin", "test"))
            if not allowed:
                raise SipPluginError(codes.UNAUTHORIZED,
                                     "Guest registrations are not allowed")
        elif kind != "regular":
            raise SipPluginError(codes.INVALID_ELEMENT, f"Invalid element (type {kind})")
        proxy = _str(body, "proxy")
        outbound = _str(body, "outbound_proxy")
        ttl = body.get("register_ttl", self.plugin.settings.register_ttl)
        if not isinstance(ttl, int) or ttl < 0:
            raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (register_ttl)")
        account = Account(
            endpoint=self.plugin.endpoint, aor=username,
            display_name=_str(body, "display_name"), authuser=_str(body, "authuser"),
            secret=_str(body, "secret"), ha1_secret=_str(body, "ha1_secret"),
            proxy=_uri(proxy, "proxy") if proxy else None,
            outbound_proxy=_uri(outbound, "outbound_proxy") if outbound else None,
            user_agent=_str(body, "user_agent") or self.plugin.settings.sip_user_agent,
            register_ttl=ttl or 3600, kind="guest" if kind == "guest" or
            send_register is False else "regular")
        await self._do_register(tx, account)

    async def _do_register(self, tx: str, account: Account,
                           extra: dict[str, Any] | None = None) -> None:
        self.account = account
        account.sessions.insert(0, self)
        self.plugin.add_account(account)
        if account.kind == "guest":
            self.event({"event": "registered", "username": account.username,
                        "register_sent": False, "master_id": account.master_id}, tx)
            return
        self.event({"event": "registering"}, tx)
        try:
            response = await account.register()
        except SipError as exc:
            self._drop_account()
            self.event({"event": "registration_failed", "code": 503,
                        "reason": f"SIP error: {exc}"})
            return
        if response.status >= 300:
            self._drop_account()
            self.event({"event": "registration_failed", "code": response.status,
                        "reason": response.reason or ""})
            return
        result = {"event": "registered", "username": account.username,
                  "register_sent": True, "master_id": account.master_id}
        result.update(extra or {})
        self.event(result)

    def _drop_account(self) -> None:
        account, self.account = self.account, None
        if account is not None:
            account.stop()
            if self in account.sessions:
                account.sessions.remove(self)
            if not account.sessions:
                self.plugin.remove_account(account)

    def _register_helper(self, tx: str, body: dict[str, Any], username: SipURI) -> None:
        master_id = body.get("master_id")
        if not isinstance(master_id, int):
            raise SipPluginError(codes.MISSING_ELEMENT, "Missing element (master_id)")
        master = self.plugin.accounts.get(master_id)
        if master is None:
            raise SipPluginError(codes.INVALID_ELEMENT, f"No such master {master_id}")
        if str(username) != master.username:
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 "Username doesn't match the master's")
        owner = master.sessions[0].ctx.claims if master.sessions else None
        mine = self.ctx.claims
        if owner is not None and (mine is None or mine.sub != owner.sub):
            raise SipPluginError(codes.UNAUTHORIZED, "Master belongs to another user")
        self.account = master
        self.helper = True
        master.sessions.append(self)
        self.event({"event": "registered", "username": master.username,
                    "register_sent": False, "helper": True, "master_id": master_id}, tx)

    async def _register_webfon(self, tx: str, body: dict[str, Any]) -> None:
        claims = self.ctx.claims
        if claims is None:
            raise SipPluginError(codes.UNAUTHORIZED, "A webfon token is needed to log in")
        try:
            user_id = claims.user_id
        except ValueError:
            raise SipPluginError(codes.UNAUTHORIZED, "Token without a user") from None
        self.event({"event": "registering"}, tx)
        settings = self.plugin.settings
        try:
            login = await self.plugin.pbx.login(user_id, settings.local_nodo_id)
        except PbxError as exc:
            self.event({"event": "registration_failed", "code": exc.status,
                        "reason": exc.message})
            return
        registrar = login.registrar or settings.sip_registrar
        if registrar and not registrar.startswith(("sip:", "sips:")):
            registrar = f"sip:{registrar}"
        try:
            aor = _uri(f"sip:{login.sip_username}@{login.domain}", "username")
            proxy = _uri(registrar, "registrar") if registrar else None
            outbound = _uri(settings.sip_outbound_proxy, "outbound_proxy") \
                if settings.sip_outbound_proxy else proxy
        except SipPluginError as exc:
            await self._pbx_logout(user_id)
            self.event({"event": "registration_failed", "code": 500, "reason": exc.message})
            return
        account = Account(endpoint=self.plugin.endpoint, aor=aor,
                          display_name=_str(body, "display_name"),
                          authuser=login.sip_username, secret=login.sip_password,
                          proxy=proxy, outbound_proxy=outbound,
                          user_agent=settings.sip_user_agent,
                          register_ttl=settings.register_ttl, kind="webfon",
                          max_lines=login.lines or settings.webphone_lines_default)
        account.webfon = {"user_id": user_id, "extension": login.extension,
                          "lines": account.max_lines, "mode": login.mode}
        # no "registering" twice: _do_register sends it; drop ours by sending directly
        self.account = account
        account.sessions.insert(0, self)
        self.plugin.add_account(account)
        try:
            response = await account.register()
        except SipError as exc:
            response = None
            reason = f"SIP error: {exc}"
        if response is None or response.status >= 300:
            code = response.status if response is not None else 503
            reason = response.reason if response is not None else reason
            self._drop_account()
            await self._pbx_logout(user_id)
            self.event({"event": "registration_failed", "code": code, "reason": reason or ""})
            return
        self.event({"event": "registered", "username": account.username,
                    "register_sent": True, "master_id": account.master_id,
                    "extension": login.extension, "lines": account.max_lines,
                    "mode": login.mode})

    async def _pbx_logout(self, user_id: int) -> None:
        try:
            await self.plugin.pbx.logout(user_id)
        except PbxError as exc:
            log.warning("webphone logout failed", extra={"user_id": user_id,
                                                          "error": exc.message})

    async def _req_unregister(self, tx: str, body: dict[str, Any],
                              jsep: dict[str, Any] | None) -> None:
        account = self._need_account()
        if self.helper:
            raise SipPluginError(codes.WRONG_STATE, "Helpers cannot unregister")
        self.event({"event": "unregistering"}, tx)
        await self._release_account(account)
        self.event({"event": "unregistered", "username": account.username,
                    "register_sent": account.register_sent})

    async def _release_account(self, account: Account) -> None:
        for helper in [s for s in account.sessions if s is not self]:
            helper.account = None
            helper.ctx.end("master unregistered")
        account.sessions = [self]
        if self.call is not None:
            await self.call.hangup(None)
        await account.unregister()
        self._drop_account()
        if account.kind == "webfon" and account.webfon.get("user_id") is not None:
            user_id = int(account.webfon["user_id"])
            # the same user may be logged in from another tab (or a reloaded page whose old
            # session still waits to be claimed): the web phone stays logged in for that one
            if not any(other.kind == "webfon" and other.webfon.get("user_id") == user_id
                       for other in self.plugin.accounts.values()):
                await self._pbx_logout(user_id)

    # --- calls --------------------------------------------------------------------------
    async def _req_call(self, tx: str, body: dict[str, Any],
                        jsep: dict[str, Any] | None) -> None:
        account = self._need_account()
        if self.call is not None:
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (already in a call)")
        uri = _uri(_str(body, "uri", required=True) or "", "uri")
        if jsep is None or jsep.get("type") != "offer":
            raise SipPluginError(codes.MISSING_SDP, "Missing SDP (a JSEP offer is needed)")
        limit = self.plugin.settings.max_digi_llam_sal
        if limit > 0 and uri.user and len(uri.user) > limit:
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 f"Dial string longer than {limit} digits")
        if account.max_lines and account.active_calls() >= account.max_lines:
            raise SipPluginError(codes.WRONG_STATE,
                                 f"All {account.max_lines} lines are busy")
        headers = _headers(body)
        call_id = _str(body, "call_id")
        call = Call(self.plugin, self, account, outgoing=True, call_id=call_id)
        ab = body.get("autoaccept_reinvites")
        if isinstance(ab, bool):
            call.autoaccept_reinvites = ab
        refer_id = body.get("refer_id")
        if isinstance(refer_id, int):
            transferor = self.plugin.refers.pop(refer_id, None)
            if transferor is not None:
                call.refer_notify = (transferor, refer_id)
        secret = {k: v for k in ("secret", "ha1_secret", "authuser")
                  if isinstance(v := body.get(k), str)}
        self.call = call
        self.plugin.calls[call.call_id] = call

        async def run() -> None:
            try:
                await call.start_outgoing(uri, jsep["sdp"], tx, headers, secret)
            except SipPluginError as exc:
                self.error(tx, exc.code, exc.message)
                call._finish(500, exc.message, notify=False)
            except (SdpError, ValueError) as exc:
                self.error(tx, codes.MISSING_SDP, f"Invalid SDP: {exc}")
                call._finish(500, "Invalid SDP", notify=False)
            except (SipError, OSError) as exc:
                call._finish(503, f"SIP error: {exc}")

        self.plugin.spawn(run())

    async def _req_accept(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        await call.accept(tx, jsep, _headers(body))
        if call.refer_notify is not None:
            call.on_transfer_answered()

    async def _req_decline(self, tx: str, body: dict[str, Any],
                           jsep: dict[str, Any] | None) -> None:
        refer_id = body.get("refer_id")
        if isinstance(refer_id, int):
            transferor = self.plugin.refers.pop(refer_id, None)
            if transferor is None:
                raise SipPluginError(codes.INVALID_ELEMENT, f"No such refer {refer_id}")
            await transferor.notify_refer(refer_id, 603, "Decline")
            self.event({"event": "declining", "refer_id": refer_id}, tx)
            return
        code = body.get("code", 486)
        if not isinstance(code, int) or not 400 <= code <= 699:
            raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (code)")
        self._need_call().decline(code, tx, _headers(body))

    async def _req_hangup(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> None:
        await self._need_call().hangup(tx, _headers(body))

    async def _req_hold(self, tx: str, body: dict[str, Any],
                        jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        direction = _str(body, "direction") or "sendonly"
        if direction not in DIRECTIONS:
            raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (direction)")
        if call.state != "incall":
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not in a call)")
        response = await call.reinvite(direction)
        if not response.is_success:
            raise SipPluginError(codes.LIBSOFIA_ERROR,
                                 f"Hold refused: {response.status} {response.reason}")
        self.event({"event": "holding", "direction": direction}, tx)

    async def _req_unhold(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        if call.state != "incall":
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not in a call)")
        response = await call.reinvite("sendrecv")
        if not response.is_success:
            raise SipPluginError(codes.LIBSOFIA_ERROR,
                                 f"Resume refused: {response.status} {response.reason}")
        self.event({"event": "resuming"}, tx)

    async def _req_update(self, tx: str, body: dict[str, Any],
                          jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        if call.state != "incall":
            raise SipPluginError(codes.WRONG_STATE, "Wrong state (not in a call)")
        if jsep is not None:
            # The browser brings a new peer connection or restarts ICE (after a network
            # change): the WebRTC leg is renewed; the SIP side keeps its media as it is.
            if jsep.get("type") != "offer":
                raise SipPluginError(codes.INVALID_ELEMENT, "An update takes a JSEP offer")
            answer = await call.renew_browser_media(jsep["sdp"])
            self.event({"event": "updated"}, tx, {"type": "answer", "sdp": answer})
            return
        # Without a new offer the SIP session is refreshed with the same media.
        response = await call.reinvite(call.local_direction)
        if not response.is_success:
            raise SipPluginError(codes.LIBSOFIA_ERROR,
                                 f"Update refused: {response.status} {response.reason}")
        self.event({"event": "updated"}, tx)

    async def _req_transfer(self, tx: str, body: dict[str, Any],
                            jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        uri = _uri(_str(body, "uri", required=True) or "", "uri")
        replace = _str(body, "replace")
        refer_to = f"<{uri}>"
        if replace:
            other = self.plugin.calls.get(replace)
            if other is None or other.dialog is None:
                raise SipPluginError(codes.INVALID_ELEMENT, f"No such call {replace}")
            d = other.dialog
            # Replaces names the dialog as seen by the transfer target (RFC 3891)
            params = quote(f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}",
                           safe="")
            refer_to = f"<{uri}?Replaces={params}>"
        self.event({"event": "transferring"}, tx)
        response = await call._send_in_dialog(
            "REFER", headers=[("Refer-To", refer_to),
                              ("Referred-By", f"<{call.account.username}>"),
                              ("Contact", str(call.account.contact()))])
        if response.status >= 300:
            self.error(None, codes.LIBSOFIA_ERROR,
                       f"Transfer refused: {response.status} {response.reason}")

    async def _req_dtmf_info(self, tx: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        digit = _str(body, "digit", required=True) or ""
        if len(digit) != 1 or digit.upper() not in "0123456789*#ABCD":
            raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (digit)")
        duration = body.get("duration", 160)
        if not isinstance(duration, int) or not 40 <= duration <= 5000:
            raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (duration)")
        response = await call._send_in_dialog(
            "INFO", body=f"Signal={digit}\r\nDuration={duration}\r\n".encode(),
            content_type="application/dtmf-relay")
        if response.status >= 300:
            raise SipPluginError(codes.LIBSOFIA_ERROR,
                                 f"INFO refused: {response.status} {response.reason}")
        self.event({"event": "dtmfsent"}, tx)

    async def _req_info(self, tx: str, body: dict[str, Any],
                        jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        ctype = _str(body, "type", required=True) or ""
        content = _str(body, "content", required=True) or ""
        response = await call._send_in_dialog("INFO", body=content.encode(),
                                              content_type=ctype, headers=_headers(body))
        if response.status >= 300:
            raise SipPluginError(codes.LIBSOFIA_ERROR,
                                 f"INFO refused: {response.status} {response.reason}")
        self.event({"event": "infosent"}, tx)

    async def _req_message(self, tx: str, body: dict[str, Any],
                           jsep: dict[str, Any] | None) -> None:
        call = self._need_call()
        content = _str(body, "content", required=True) or ""
        ctype = _str(body, "content_type") or "text/plain"
        self.event({"event": "messagesent"}, tx)
        response = await call._send_in_dialog("MESSAGE", body=content.encode(),
                                              content_type=ctype, headers=_headers(body))
        self.event({"event": "messagedelivery", "code": response.status,
                    "reason": response.reason or ""})

    async def _unsupported(self, tx: str, body: dict[str, Any],
                           jsep: dict[str, Any] | None) -> None:
        raise SipPluginError(codes.INVALID_REQUEST,
                             f"Unsupported request ({body.get('request')})")

    _req_recording = _unsupported
    _req_subscribe = _unsupported
    _req_unsubscribe = _unsupported

    # --- lifecycle ----------------------------------------------------------------------
    def call_ended(self, call: Call) -> None:
        if self.call is call:
            self.call = None
            self.plugin.spawn(self.ctx.close_media())

    async def media_down(self, reason: str = "") -> None:
        call = self.call
        if call is None or call.ended:
            return
        grace = self.plugin.settings.media_reclaim_timeout
        if reason and grace > 0 and call.state == "incall":
            # the browser's connection broke, not a hangup: it may come back with a new offer
            # in an ``update`` (after a network change); the call ends if it does not
            call.await_new_media(grace)
            return
        await call.hangup(None)

    async def destroy(self) -> None:
        self.stop_jobs()
        if self.call is not None:
            await self.call.hangup(None)
        account = self.account
        if account is None:
            return
        if self.helper:
            if self in account.sessions:
                account.sessions.remove(self)
            self.account = None
            return
        await self._release_account(account)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"helper": self.helper}
        if self.account is not None:
            info.update({"username": self.account.username,
                         "registered": self.account.registered,
                         "master_id": self.account.master_id, "kind": self.account.kind})
            if self.account.webfon:
                info["webphone"] = dict(self.account.webfon)
        if self.call is not None:
            info["call"] = self.call.describe()
        return info
