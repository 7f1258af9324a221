"""A small SIP user agent on top of the endpoint: registration and INVITE sessions.

Enough for the gateway's SIP plugin (one :class:`UserAgent` per registered handle) and for
tests: register with digest auth and automatic refresh, place calls (with auth retry), receive
calls, and inside a call send BYE, CANCEL, re-INVITE (hold/resume), REFER, INFO and NOTIFY.

Several user agents can share one endpoint through a :class:`UaHub` (installed as the
endpoint's handler): in-dialog requests go to their call, others to the UA whose contact
user matches the Request-URI (or to the only UA). Calls report what happens as events
``(name, data)``: through ``call.on_event`` and the ``call.events`` queue.

Call events: ``calling``, ``proceeding`` (100), ``ringing`` (180/181/182), ``progress``
(183; ``sdp`` if any), ``accepted`` (``sdp``), ``confirmed`` (the caller's ACK to our 2xx
arrived; ``sdp`` it carried, if any), ``hangup`` (``code``, ``reason``, ``by``:
``local``/``remote``), ``cancelled`` (incoming call cancelled by the caller), ``updating``
(incoming re-INVITE/UPDATE with ``sdp``), ``info`` (``content_type``, ``body``),
``message`` (``content_type``, ``body``), ``notify`` (``event``, ``body``,
``subscription_state``), ``refer`` (``refer_to``, ``target``, ``referred_by``, ``replaces``,
``cseq``).
UA events (``ua.on_event``): ``registering``, ``registered`` (``expires``),
``registration_failed`` (``code``, ``reason``), ``unregistered``, ``incoming`` (``call``),
``message`` / ``notify`` (out-of-dialog requests, with ``request``).

What the user agent does by the RFCs, for every application on it (the PBX, the gateway):

- registration: a 423 Interval Too Brief is retried once with the registrar's Min-Expires; the
  granted expiry is read from the registrar's Contact that matches ours (else Expires); the
  binding is refreshed at 80 % of it, and a refresh that fails (timeout, 5xx, transport) is
  retried after ``retry_after`` seconds instead of letting the registration lapse;
- every request answers up to two digest challenges (401/407), e.g. a proxy's and a
  registrar's;
- an outbound proxy is a pre-loaded loose Route (RFC 3261 §8.1.2): out-of-dialog requests go
  through it, and in a dialog the route set the proxy Record-Routed decides (a proxy that does
  not Record-Route is not on the path of in-dialog requests);
- dialogs are matched by their full id (Call-ID and both tags): a second 2xx from another
  fork of our INVITE is ACKed and ended with BYE;
- in-dialog requests of a method the UA does not handle are answered 405 with Allow.

The end of a call can carry headers both ways: ``call.end_headers`` (a function, called when
the call ends) adds headers to our BYE or to our 200 to theirs, and ``call.end_message`` keeps
the BYE that ended the call or the response to ours (the gateway reports its WebRTC leg's
quality to the PBX this way, see :mod:`webfon.rtp.quality`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .dialog import Dialog, DialogId, dialog_id_of
from .digest import DigestClient
from .dtmf_info import dtmf_relay_body
from .endpoint import SipEndpoint
from .errors import DialogError, ParseError, SipError, TransportError
from .headers import Address
from .ids import new_call_id, new_tag
from .message import REASONS, Request, Response
from .refer import refer_target, replaces_of
from .sdp import SessionDescription, answer_direction, with_direction
from .transaction import ClientTransaction, InviteServerTransaction, ServerTransaction
from .uri import SipURI

log = logging.getLogger("webfon.sip.ua")

EventCallback = Callable[[str, dict[str, Any]], Awaitable[None] | None]
SDP = "application/sdp"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, MESSAGE, UPDATE"


@dataclass
class Account:
    """Who a :class:`UserAgent` is and how it authenticates."""

    aor: str
    """Address of record, ``sip:user@domain``."""
    password: str | None = None
    username: str | None = None
    """Authentication user (defaults to the AoR user)."""
    ha1_md5: str | None = None
    ha1_sha256: str | None = None
    display_name: str | None = None
    registrar: str | None = None
    """Registrar URI (defaults to ``sip:<domain of the AoR>``)."""
    outbound_proxy: str | None = None
    """Every out-of-dialog request is sent through this proxy (a loose Route)."""
    expires: int = 3600
    transport: str = "udp"
    contact_user: str | None = None
    """User part of our Contact (default: the AoR user); must be unique on a shared endpoint."""
    user_agent: str | None = None
    """User-Agent header of this identity's requests (default: the endpoint's)."""
    register_headers: tuple[tuple[str, str], ...] = ()
    """Extra headers of every REGISTER."""

    @property
    def aor_uri(self) -> SipURI:
        return SipURI.parse(self.aor)

    def digest(self) -> DigestClient | None:
        if self.password is None and self.ha1_md5 is None and self.ha1_sha256 is None:
            return None
        return DigestClient(self.username or self.aor_uri.user or "", self.password,
                            ha1_md5=self.ha1_md5, ha1_sha256=self.ha1_sha256)


class UaHub:
    """Routes the requests of one endpoint to its user agents and their calls."""

    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint
        self.agents: dict[str, UserAgent] = {}
        self.calls: dict[DialogId, Call] = {}
        self.only_agent_takes_all = True
        """With one UA on the endpoint, it also gets requests for users it does not know
        (a phone); an endpoint of many accounts (the gateway) answers those 404."""
        endpoint.handler = self.handle
        endpoint.on_stray_response = self._stray_response

    @classmethod
    def of(cls, endpoint: SipEndpoint) -> UaHub:
        """The hub installed on ``endpoint`` (created on first use)."""
        hub = getattr(endpoint, "_ua_hub", None)
        if hub is None:
            hub = cls(endpoint)
            endpoint._ua_hub = hub  # type: ignore[attr-defined]
        return hub

    async def handle(self, request: Request, tx: ServerTransaction | None) -> None:
        if request.to_tag:
            call = self.calls.get(dialog_id_of(request, incoming=True))
            if call is not None:
                await call.receive(request, tx)
                return
            if tx is not None:
                tx.respond(481)
            return
        if tx is None:
            return
        ua = self.agent_for(request.uri.user or "")
        if ua is None:
            tx.respond(404)
            return
        await ua.receive(request, tx)

    def agent_for(self, user: str) -> UserAgent | None:
        """The UA a request for ``user`` belongs to: by Contact user, else by AoR user, else
        the only UA of the endpoint."""
        ua = self.agents.get(user)
        if ua is not None:
            return ua
        if user:
            for agent in self.agents.values():
                if agent.account.aor_uri.user == user:
                    return agent
        if self.only_agent_takes_all and len(self.agents) == 1:
            return next(iter(self.agents.values()))
        return None

    def _stray_response(self, response: Response) -> None:
        # a 2xx retransmitted after the INVITE transaction ended: ACK it again
        with contextlib.suppress(ParseError):
            if response.cseq.method == "INVITE" and response.is_success:
                call = self.calls.get(dialog_id_of(response, incoming=False))
                if call is not None and call.dialog is not None:
                    call._send_ack(response.cseq.seq)


class UserAgent:
    """One SIP identity on an endpoint: registration, outgoing and incoming calls."""

    def __init__(self, endpoint: SipEndpoint, account: Account, *,
                 on_event: EventCallback | None = None,
                 refresh_margin: float = 0.8, retry_after: float = 30.0,
                 queue_incoming: bool = True) -> None:
        self.endpoint = endpoint
        self.account = account
        self.on_event = on_event
        self.queue_incoming = queue_incoming
        """Put incoming calls in :attr:`incoming` too (off when ``on_event`` takes them)."""
        self.admit_request: Callable[[Request], Awaitable[bool]] | None = None
        """Asked about every out-of-dialog request (INVITE, MESSAGE, NOTIFY, OPTIONS…) before
        it is handled; False answers 403 (e.g. not from one of the account's SIP servers)."""
        self.refresh_margin = refresh_margin
        self.retry_after = retry_after
        self.hub = UaHub.of(endpoint)
        self.contact_user = account.contact_user or account.aor_uri.user or new_tag()
        self.hub.agents[self.contact_user] = self
        self.digest = account.digest()
        self.registered = False
        self.registration_expires = 0
        self.calls: set[Call] = set()
        self.incoming: asyncio.Queue[Call] = asyncio.Queue()
        self._reg_call_id = new_call_id(endpoint.advertised_host)
        self._reg_from_tag = new_tag()
        self._reg_cseq = 0
        self._refresh_task: asyncio.Task[None] | None = None
        self._closed = False
        self._contact_text: tuple[tuple[Any, ...], str] | None = None

    # ------------------------------------------------------------------ identity
    @property
    def contact(self) -> Address:
        return Address(self.endpoint.contact_uri(self.contact_user, self.account.transport))

    @property
    def contact_text(self) -> str:
        """``str(self.contact)``, kept while the user, transport and address stay the same
        (it goes into every dialog-creating response and target-refresh request)."""
        ep = self.endpoint
        key = (self.contact_user, self.account.transport, ep.advertised_host, ep.port)
        cached = self._contact_text
        if cached is None or cached[0] != key:
            cached = self._contact_text = (key, str(self.contact))
        return cached[1]

    @property
    def from_address(self) -> Address:
        return Address(self.account.aor_uri, self.account.display_name)

    def _route_headers(self) -> list[tuple[str, str]]:
        """Headers of every out-of-dialog request: the outbound proxy as a pre-loaded loose
        Route (RFC 3261 §8.1.2) and our User-Agent."""
        out = [("User-Agent", self.account.user_agent)] if self.account.user_agent else []
        proxy = self.account.outbound_proxy
        if not proxy:
            return out
        uri = SipURI.parse(proxy)
        uri.params.setdefault("lr", None)
        return [("Route", f"<{uri}>"), *out]

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        _call_back(self.on_event, name, data)

    # ------------------------------------------------------------------ sending with auth
    async def send(self, request: Request, *, on_response: Callable[[Response], None] | None
                   = None, tx_holder: list[ClientTransaction] | None = None,
                   digest: DigestClient | None = None) -> Response:
        """Send a request, answering up to two 401/407 challenges; the final response.

        ``tx_holder`` (a list) receives each client transaction as it is created; ``digest``
        replaces the account's credentials for this request.
        """
        digest = digest or self.digest
        response: Response | None = None
        for _ in range(3):
            tx = self.endpoint.send_request(request, on_response=on_response)
            if tx_holder is not None:
                tx_holder.append(tx)
            response = await tx.wait()
            if response.status not in (401, 407) or digest is None:
                return response
            retry = digest.authorize(request, response)
            if retry is None:
                return response
            request = retry
        assert response is not None
        return response

    # ------------------------------------------------------------------ registration
    async def register(self, expires: int | None = None, *, refresh: bool = True) -> Response:
        """REGISTER our contact; keeps it refreshed when ``refresh``. Returns the final
        response (a 2xx means registered)."""
        expires = self.account.expires if expires is None else expires
        self._emit("registering", {})
        response = await self._register_once(expires)
        if response.status == 423:
            min_expires = response.headers.get("Min-Expires")
            if min_expires and min_expires.strip().isdigit():
                expires = int(min_expires)
                response = await self._register_once(expires)
        if response.is_success:
            granted = _granted_expires(response, self.contact, expires)
            self.registered = granted > 0
            self.registration_expires = granted
            log.info("registered", extra={"aor": self.account.aor, "expires": granted})
            self._emit("registered", {"expires": granted})
            if refresh and granted > 0:
                self._schedule_refresh(granted)
        else:
            self.registered = False
            log.info("registration failed", extra={"aor": self.account.aor,
                                                    "status": response.status})
            self._emit("registration_failed", {"code": response.status,
                                               "reason": response.reason})
            if refresh and not self._closed and response.status in (408, 500, 503, 504):
                self._schedule_refresh(0, retry=True)
        return response

    async def unregister(self) -> Response:
        """Remove our contact (Expires 0) and stop refreshing."""
        self._cancel_refresh()
        response = await self._register_once(0)
        self.registered = False
        self._emit("unregistered", {"code": response.status})
        return response

    async def _register_once(self, expires: int) -> Response:
        aor = self.account.aor_uri
        registrar = SipURI.parse(self.account.registrar) if self.account.registrar else \
            SipURI("sip", None, aor.host, aor.port)
        self._reg_cseq += 1
        from_ = self.from_address
        from_.tag = self._reg_from_tag
        contact = self.contact
        req = self.endpoint.create_request(
            "REGISTER", registrar, from_=from_, to=Address(aor.copy()),
            call_id=self._reg_call_id, cseq=self._reg_cseq, contact=contact,
            headers=[*self._route_headers(), ("Expires", str(expires)), ("Allow", ALLOW),
                     *self.account.register_headers])
        response = await self.send(req)
        self._reg_cseq = max(self._reg_cseq, _cseq_of(response))
        return response

    def _schedule_refresh(self, expires: int, retry: bool = False) -> None:
        self._cancel_refresh()
        delay = self.retry_after if retry else max(1.0, expires * self.refresh_margin)
        self._refresh_task = asyncio.ensure_future(self._refresh_later(delay))

    async def _refresh_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self._closed:
            try:
                await self.register(refresh=True)
            except (SipError, OSError) as exc:
                log.info("registration refresh failed: %s", exc)
                self._schedule_refresh(0, retry=True)

    def _cancel_refresh(self) -> None:
        task = self._refresh_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._refresh_task = None

    # ------------------------------------------------------------------ calls
    def invite(self, target: str | SipURI, sdp: bytes | str | SessionDescription | None = None,
               *, headers: Iterable[tuple[str, str]] = (),
               on_event: EventCallback | None = None, call_id: str | None = None,
               credentials: DigestClient | None = None) -> Call:
        """Start an outgoing call; returns at once (``await call.wait_answer()``).

        ``credentials`` answer the call's challenges instead of the account's (a guest that
        must authenticate its INVITEs)."""
        uri = SipURI.parse(target) if isinstance(target, str) else target
        body = _sdp_bytes(sdp)
        req = self.endpoint.create_request(
            "INVITE", uri, from_=self.from_address, to=Address(uri.copy()), call_id=call_id,
            contact=self.contact,
            headers=[*self._route_headers(), ("Allow", ALLOW), *headers],
            body=body, content_type=SDP if body else None)
        call = Call(self, "out", req, on_event=on_event)
        call.local_sdp = body or None
        if credentials is not None:
            call.digest = credentials
        call.start()
        return call

    async def options(self, target: str | SipURI) -> Response:
        """Send an OPTIONS (e.g. a keepalive) and return the final response."""
        uri = SipURI.parse(target) if isinstance(target, str) else target
        req = self.endpoint.create_request("OPTIONS", uri, from_=self.from_address,
                                           to=Address(uri.copy()),
                                           headers=self._route_headers())
        return await self.send(req)

    async def message(self, target: str | SipURI, text: str,
                      content_type: str = "text/plain") -> Response:
        """Send a MESSAGE (RFC 3428)."""
        uri = SipURI.parse(target) if isinstance(target, str) else target
        req = self.endpoint.create_request("MESSAGE", uri, from_=self.from_address,
                                           to=Address(uri.copy()),
                                           headers=self._route_headers(), body=text.encode(),
                                           content_type=content_type)
        return await self.send(req)

    async def receive(self, request: Request, tx: ServerTransaction) -> None:
        """An out-of-dialog request for this UA (from its :class:`UaHub`)."""
        await self._out_of_dialog(request, tx)

    async def _out_of_dialog(self, request: Request, tx: ServerTransaction) -> None:
        method = request.method
        if self.admit_request is not None and not await self.admit_request(request):
            tx.respond(403, "Forbidden")
            return
        if method == "INVITE":
            assert isinstance(tx, InviteServerTransaction)
            call = Call(self, "in", request, server_tx=tx)
            call.remote_sdp = request.body or None
            try:
                call.dialog = Dialog.from_uas(request, tx.local_tag, self.contact)
            except (DialogError, ParseError):
                tx.respond(400, "Missing Contact")
                return
            self.hub.calls[call.dialog.id] = call
            tx.on_cancel = call._cancelled
            call.state = "incoming"
            if self.queue_incoming:
                self.incoming.put_nowait(call)
            self._emit("incoming", {"call": call})
        elif method == "OPTIONS":
            tx.respond(200, headers=[("Allow", ALLOW), ("Accept", SDP)])
        elif method in ("MESSAGE", "NOTIFY"):
            tx.respond(200)
            self._emit(method.lower(), {"request": request})
        else:
            tx.respond(405, headers=[("Allow", ALLOW)])

    async def close(self, unregister: bool = True) -> None:
        """Hang up every call, unregister if registered (and ``unregister``), stop
        refreshing, and detach from the hub."""
        self._closed = True
        for call in list(self.calls):
            with contextlib.suppress(SipError, OSError, asyncio.TimeoutError):
                await asyncio.wait_for(call.hangup(), 2 * self.endpoint.timers.t1 * 64)
        if self.registered and unregister:
            with contextlib.suppress(SipError, OSError, asyncio.TimeoutError):
                await asyncio.wait_for(self.unregister(), 64 * self.endpoint.timers.t1)
        self._cancel_refresh()
        if self.hub.agents.get(self.contact_user) is self:
            del self.hub.agents[self.contact_user]


class Call:
    """One INVITE session (and its dialog) of a :class:`UserAgent`."""

    def __init__(self, ua: UserAgent, direction: str, invite: Request, *,
                 server_tx: InviteServerTransaction | None = None,
                 on_event: EventCallback | None = None) -> None:
        self.ua = ua
        self.direction = direction
        self.invite = invite
        self.call_id = invite.call_id
        self.server_tx = server_tx
        self.on_event = on_event
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.state = "calling" if direction == "out" else "incoming"
        self.dialog: Dialog | None = None
        self.local_sdp: bytes | None = None
        self.remote_sdp: bytes | None = None
        self.answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.ended: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.on_reinvite: Callable[[Request, ServerTransaction], Awaitable[None] | None] \
            | None = None
        """Set to answer incoming re-INVITEs yourself (``call.answer_update``); otherwise they
        are answered automatically with our SDP and a matching direction."""
        self._client_txs: list[ClientTransaction] = []
        self._cancel_requested = False
        self._task: asyncio.Future[Any] | None = None
        self._2xx_acked: set[tuple[str, int]] = set()
        self._last_ack: Request | None = None
        self.remote_party = invite.to if direction == "out" else invite.from_
        self.end_headers: Callable[[], list[tuple[str, str]]] | None = None
        """Headers for our BYE, or for our 200 to the peer's BYE."""
        self.end_message: Request | Response | None = None
        """The peer's BYE that ended the call, or its response to ours."""
        self.digest: DigestClient | None = ua.digest
        """Credentials for this call's challenges (the account's unless given)."""
        ua.calls.add(self)

    # ------------------------------------------------------------------ events
    def _emit(self, name: str, **data: Any) -> None:
        log.info("call %s", name, extra={"call_id": self.call_id})
        self.events.put_nowait((name, data))
        _call_back(self.on_event, name, data)

    async def next_event(self, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        """The next event from :attr:`events` (raises TimeoutError after ``timeout``)."""
        return await asyncio.wait_for(self.events.get(), timeout)

    async def wait_event(self, *names: str, timeout: float = 10.0) -> dict[str, Any]:
        """Skip events until one named in ``names`` arrives; return its data (skipped events
        are consumed)."""
        async with asyncio.timeout(timeout):
            while True:
                name, data = await self.events.get()
                if name in names:
                    return data

    async def wait_answer(self, timeout: float | None = None) -> Response:
        """The final response to our INVITE (after auth retries)."""
        return await asyncio.wait_for(asyncio.shield(self.answer), timeout)

    # ------------------------------------------------------------------ outgoing
    def start(self) -> None:
        """Send the INVITE of an outgoing call (made with ``Call(ua, "out", invite)``)."""
        self._task = asyncio.ensure_future(self._run_outgoing())

    async def _run_outgoing(self) -> None:
        self._emit("calling")
        try:
            response = await self.ua.send(self.invite, on_response=self._on_invite_response,
                                          tx_holder=self._client_txs, digest=self.digest)
        except (SipError, OSError) as exc:
            log.info("call failed: %s", exc, extra={"call_id": self.call_id})
            response = self.invite.create_response(503)
            response.local = True
        if not self.answer.done():
            self.answer.set_result(response)
        if not response.is_success and self.state != "terminated":
            self._end(response.status, response.reason, "remote")

    def _on_invite_response(self, response: Response) -> None:
        status = response.status
        tx = self._client_txs[-1] if self._client_txs else None
        if tx is not None:
            self.invite = tx.request
        if status < 200:
            if self._cancel_requested and tx is not None:
                self._send_cancel()
            if response.to_tag and self.dialog is None and status > 100:
                with contextlib.suppress(DialogError, ParseError):
                    self.dialog = Dialog.from_uac(self.invite, response, self.ua.contact)
                    self.ua.hub.calls[self.dialog.id] = self
            if status == 100:
                self._emit("proceeding")
            elif status == 183 or (response.body and self.state != "ringing"):
                self.state = "early"
                if response.body:
                    self.remote_sdp = response.body
                self._emit("progress", code=status, sdp=response.body or None)
            else:
                self.state = "ringing"
                self._emit("ringing", code=status)
            return
        if 200 <= status < 300:
            key = (response.to_tag or "", response.cseq.seq)
            if self.dialog is None or self.dialog.remote_tag != response.to_tag:
                if self.dialog is not None and self.state == "confirmed":
                    # a second fork answered: acknowledge and end it
                    self._ack_and_bye_fork(response)
                    return
                if self.dialog is not None:
                    self.ua.hub.calls.pop(self.dialog.id, None)
                self.dialog = Dialog.from_uac(self.invite, response, self.ua.contact)
                self.ua.hub.calls[self.dialog.id] = self
            self.dialog.receive_response(response)
            self._send_ack(response.cseq.seq)
            if key in self._2xx_acked:
                return  # retransmission
            self._2xx_acked.add(key)
            if self._cancel_requested or self.state == "terminated":
                _spawn(self._bye_quietly())
                return
            self.state = "confirmed"
            if response.body:
                self.remote_sdp = response.body
            if not self.answer.done():
                self.answer.set_result(response)
            self._emit("accepted", sdp=response.body or None)

    def _send_ack(self, seq: int) -> None:
        if self.dialog is None:
            return
        ack = self.dialog.create_ack(seq)
        self._last_ack = ack
        try:
            self.ua.endpoint.send_stateless(ack)
        except (TransportError, ParseError) as exc:
            log.info("cannot send ACK: %s", exc, extra={"call_id": self.call_id})

    def _ack_and_bye_fork(self, response: Response) -> None:
        fork = Dialog.from_uac(self.invite, response, self.ua.contact)
        with contextlib.suppress(TransportError, ParseError):
            self.ua.endpoint.send_stateless(fork.create_ack(response.cseq.seq))
            self.ua.endpoint.send_request(fork.create_request("BYE"))

    async def _bye_quietly(self) -> None:
        with contextlib.suppress(SipError, OSError):
            await self.bye()

    def _send_cancel(self) -> None:
        tx = self._client_txs[-1] if self._client_txs else None
        if tx is None or tx.final.done() or getattr(tx, "_cancel_sent", False):
            return
        tx._cancel_sent = True  # type: ignore[attr-defined]
        try:
            self.ua.endpoint.send_cancel(tx)
        except (TransportError, ParseError) as exc:
            log.info("cannot send CANCEL: %s", exc, extra={"call_id": self.call_id})

    async def cancel(self) -> None:
        """CANCEL our pending INVITE (sent once a provisional response arrived)."""
        self._cancel_requested = True
        tx = self._client_txs[-1] if self._client_txs else None
        if tx is not None and tx.provisional:  # RFC 3261 §9.1: only after a provisional
            self._send_cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.answer), 64 * self.ua.endpoint.timers.t1)
        if self.state != "confirmed":
            self._end(487, "Request Terminated", "local")

    # ------------------------------------------------------------------ incoming
    def ringing(self, sdp: bytes | str | SessionDescription | None = None) -> None:
        """Send 180 Ringing (or 183 Session Progress with early media ``sdp``)."""
        tx = self._require_server_tx()
        body = _sdp_bytes(sdp)
        if body:
            self.local_sdp = body
            tx.respond(183, body=body, content_type=SDP,
                       headers=[("Contact", self.ua.contact_text)])
        else:
            tx.respond(180, headers=[("Contact", self.ua.contact_text)])
        self.state = "ringing"

    def accept(self, sdp: bytes | str | SessionDescription | None = None,
               headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer with 200 OK (and our ``sdp``); the dialog is confirmed when the ACK comes."""
        tx = self._require_server_tx()
        body = _sdp_bytes(sdp)
        if body:
            self.local_sdp = body
        tx.respond(200, body=body, content_type=SDP if body else None,
                   headers=[("Contact", self.ua.contact_text), ("Allow", ALLOW), *headers])
        self.state = "confirmed"
        tx.ack.add_done_callback(self._ack_result)
        self._emit("accepted", sdp=self.remote_sdp)

    def _ack_result(self, fut: asyncio.Future[Request | None]) -> None:
        if fut.cancelled() or self.state == "terminated":
            return
        ack = fut.result()
        if ack is None:
            log.info("no ACK: hanging up", extra={"call_id": self.call_id})
            _spawn(self._bye_quietly())
        elif self.dialog is not None:
            self.dialog.confirm()
            if ack.body and self.remote_sdp is None:
                self.remote_sdp = ack.body
            self._emit("confirmed", sdp=ack.body or None)

    def reject(self, code: int = 486, reason: str | None = None,
               headers: Iterable[tuple[str, str]] = ()) -> None:
        """Decline an incoming call with ``code`` (486 busy, 603 decline…)."""
        tx = self._require_server_tx()
        tx.respond(code, reason, headers=headers)
        self._end(code, reason or "", "local")

    def _require_server_tx(self) -> InviteServerTransaction:
        if self.server_tx is None or self.server_tx.final_sent:
            raise DialogError("no pending incoming INVITE")
        return self.server_tx

    def _cancelled(self, _cancel: Request) -> None:
        self._emit("cancelled")
        self._end(487, "Request Terminated", "remote")

    def cancelled(self, cancel: Request) -> None:
        """The caller cancelled our pending INVITE (set as the transaction's ``on_cancel``)."""
        self._cancelled(cancel)

    # ------------------------------------------------------------------ in-dialog
    async def request(self, method: str, *, body: bytes = b"", content_type: str | None = None,
                      headers: Iterable[tuple[str, str]] = ()) -> Response:
        """Send an in-dialog request (with auth retry) and return the final response."""
        if self.dialog is None:
            raise DialogError("call has no dialog yet")
        req = self.dialog.create_request(method, body=body, content_type=content_type,
                                         headers=headers)
        response = await self._send_in_dialog(req)
        with contextlib.suppress(ParseError):
            self.dialog.receive_response(response)
        if response.status in (408, 481) and method != "INVITE":
            self._end(response.status, response.reason, "remote")
        return response

    async def _send_in_dialog(self, req: Request) -> Response:
        assert self.dialog is not None
        ep = self.ua.endpoint
        response: Response | None = None
        for _ in range(3):
            response = await ep.send_request(req).wait()
            if response.status not in (401, 407) or self.digest is None:
                break
            retry = self.digest.authorize(req, response)
            if retry is None:
                break
            self.dialog.local_seq = retry.cseq.seq
            if req.method == "INVITE":
                self.dialog.invite_seq = retry.cseq.seq
            req = retry
        assert response is not None
        if req.method == "INVITE" and response.is_success:
            self._send_ack(response.cseq.seq)
        return response

    async def bye(self, headers: Iterable[tuple[str, str]] = ()) -> Response | None:
        """End a confirmed call with BYE (once: a call already ending is left alone);
        ``headers`` go in the BYE (e.g. an RFC 3326 ``Reason``)."""
        if self.dialog is None or self.state in ("terminating", "terminated"):
            return None
        self.state = "terminating"
        try:
            response = await self.request("BYE", headers=[*headers, *self._end_headers()])
            self.end_message = response
        finally:
            self._end(200, "BYE", "local")
        return response

    def _end_headers(self) -> list[tuple[str, str]]:
        if self.end_headers is None:
            return []
        try:
            return self.end_headers()
        except Exception:
            log.exception("end-of-call headers failed", extra={"call_id": self.call_id})
            return []

    async def hangup(self, code: int = 486) -> None:
        """End the call whatever its state: BYE, CANCEL, or reject an incoming INVITE."""
        if self.state == "terminated":
            return
        if self.direction == "in" and self.server_tx is not None \
                and not self.server_tx.final_sent:
            self.reject(code)
        elif self.direction == "out" and not self.answer.done():
            await self.cancel()
            if self.state == "confirmed":
                await self.bye()
        else:
            await self.bye()

    async def reinvite(self, sdp: bytes | str | SessionDescription | None) -> Response:
        """Send a re-INVITE with a new offer; on 2xx it is ACKed and the answer stored."""
        body = _sdp_bytes(sdp)
        response = await self.request("INVITE", body=body,
                                      content_type=SDP if body else None)
        if response.is_success:
            self.local_sdp = body or self.local_sdp
            if response.body:
                self.remote_sdp = response.body
        return response

    async def hold(self, direction: str = "sendonly") -> Response:
        """Put the remote party on hold by re-INVITE with our SDP set to ``direction``."""
        return await self.reinvite(self._sdp_with_direction(direction))

    async def unhold(self) -> Response:
        return await self.reinvite(self._sdp_with_direction("sendrecv"))

    def _sdp_with_direction(self, direction: str) -> bytes:
        if not self.local_sdp:
            raise DialogError("no local SDP to modify")
        return with_direction(SessionDescription.parse(self.local_sdp), direction).encode()

    async def refer(self, target: str | SipURI, *, replaces: Call | None = None,
                    headers: Iterable[tuple[str, str]] = ()) -> Response:
        """Transfer: REFER the remote party to ``target`` (attended with ``replaces``)."""
        uri = SipURI.parse(target) if isinstance(target, str) else target.copy()
        if replaces is not None:
            if replaces.dialog is None:
                raise DialogError("call to replace has no dialog")
            d = replaces.dialog
            value = f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}"
            uri.headers["Replaces"] = _escape_header_value(value)
        refer_to = f"<{uri}>"
        return await self.request("REFER", headers=[
            ("Refer-To", refer_to), ("Referred-By", f"<{self.ua.account.aor_uri}>"), *headers])

    async def info(self, body: bytes | str, content_type: str = "application/dtmf-relay"
                   ) -> Response:
        """Send INFO (e.g. DTMF as ``Signal=5\\r\\nDuration=160``)."""
        data = body.encode() if isinstance(body, str) else body
        return await self.request("INFO", body=data, content_type=content_type)

    async def send_dtmf_info(self, digit: str, duration_ms: int = 160,
                             headers: Iterable[tuple[str, str]] = ()) -> Response:
        """Send a key press as INFO ``application/dtmf-relay``."""
        return await self.request("INFO", body=dtmf_relay_body(digit, duration_ms),
                                  content_type="application/dtmf-relay", headers=headers)

    async def notify(self, event: str, body: bytes | str = b"", *,
                     content_type: str | None = None,
                     subscription_state: str = "active") -> Response:
        """Send NOTIFY in this dialog (e.g. ``refer`` progress with ``message/sipfrag``)."""
        data = body.encode() if isinstance(body, str) else body
        return await self.request("NOTIFY", body=data, content_type=content_type, headers=[
            ("Event", event), ("Subscription-State", subscription_state)])

    async def notify_refer(self, status: int, reason: str | None = None, *,
                           refer_cseq: int | None = None) -> Response:
        """Report a transfer's progress to the referrer (RFC 3515 NOTIFY with sipfrag);
        ``refer_cseq`` (the REFER's CSeq, from the ``refer`` event) names the subscription
        when a dialog carries more than one REFER."""
        text = f"SIP/2.0 {status} {reason or REASONS.get(status, '')}\r\n"
        state = "active;expires=60" if status < 200 else "terminated;reason=noresource"
        event = "refer" if refer_cseq is None else f"refer;id={refer_cseq}"
        return await self.notify(event, text, content_type="message/sipfrag;version=2.0",
                                 subscription_state=state)

    def answer_update(self, tx: ServerTransaction, sdp: bytes | str | SessionDescription |
                      None, code: int = 200) -> None:
        """Answer an incoming re-INVITE/UPDATE reported by ``on_reinvite``/``updating``."""
        body = _sdp_bytes(sdp) if code < 300 else b""
        if body:
            self.local_sdp = body
        tx.respond(code, body=body, content_type=SDP if body else None,
                   headers=[("Contact", self.ua.contact_text)] if code < 300 else [])

    async def receive(self, request: Request, tx: ServerTransaction | None) -> None:
        """An in-dialog request for this call (from its :class:`UaHub`)."""
        await self._in_dialog(request, tx)

    async def _in_dialog(self, request: Request, tx: ServerTransaction | None) -> None:
        dialog = self.dialog
        assert dialog is not None
        method = request.method
        if method == "ACK":
            if request.body and self.remote_sdp is None:
                self.remote_sdp = request.body
            dialog.confirm()
            return
        assert tx is not None
        if not dialog.receive_request(request):
            tx.respond(500, "CSeq Out of Order")
            return
        if method == "BYE":
            self.end_message = request
            tx.respond(200, headers=self._end_headers())
            self._end(200, "BYE", "remote")
        elif method in ("INVITE", "UPDATE"):
            if request.body:
                self.remote_sdp = request.body
            self._emit("updating", sdp=request.body or None, method=method)
            if self.on_reinvite is not None:
                result = self.on_reinvite(request, tx)
                if inspect.isawaitable(result):
                    await result
            else:
                tx.respond(self._auto_update(request))
        elif method == "INFO":
            tx.respond(200)
            self._emit("info", content_type=request.content_type, body=request.body,
                       request=request)
        elif method == "MESSAGE":
            tx.respond(200)
            self._emit("message", content_type=request.content_type, body=request.body,
                       request=request)
        elif method == "NOTIFY":
            tx.respond(200)
            self._emit("notify", event=request.headers.get("Event"), body=request.body,
                       subscription_state=request.headers.get("Subscription-State"),
                       content_type=request.content_type, request=request)
        elif method == "REFER":
            target = refer_target(request, tx)
            if target is None:
                return
            tx.respond(202)
            self._emit("refer", refer_to=str(target.uri), target=target,
                       referred_by=request.headers.get("Referred-By"),
                       replaces=replaces_of(target), cseq=request.cseq.seq)
        elif method == "OPTIONS":
            tx.respond(200, headers=[("Allow", ALLOW)])
        else:
            tx.respond(405, headers=[("Allow", ALLOW)])

    def _auto_update(self, request: Request) -> Response:
        """Answer a re-INVITE/UPDATE with our SDP in the direction matching the offer."""
        assert self.server_tx is not None or self.dialog is not None
        headers = [("Contact", self.ua.contact_text)]
        if not request.body:
            if request.method == "UPDATE" or not self.local_sdp:
                return request.create_response(200, headers=headers)
            return request.create_response(200, headers=headers, body=self.local_sdp,
                                           content_type=SDP)
        if not self.local_sdp:
            return request.create_response(488)
        try:
            offer = SessionDescription.parse(request.body)
            ours = SessionDescription.parse(self.local_sdp)
        except ParseError:
            return request.create_response(488, "Bad SDP")
        audio = offer.audio
        direction = answer_direction(offer.direction_of(audio)) if audio else "sendrecv"
        answer = with_direction(ours, direction)
        self.local_sdp = answer.encode()
        return request.create_response(200, headers=headers, body=self.local_sdp,
                                       content_type=SDP)

    # ------------------------------------------------------------------ end
    def abandon(self, reason: str) -> None:
        """End the call here without a word to the peer, known to be gone (the node that
        carried it died): no BYE that could only time out. ``hangup`` events follow as for
        any end, with ``by="local"``."""
        self._end(408, reason, "local")

    def _end(self, code: int, reason: str, by: str) -> None:
        if self.state == "terminated":
            return
        self.state = "terminated"
        if self.dialog is not None:
            self.dialog.terminate()
            self.ua.hub.calls.pop(self.dialog.id, None)
        self.ua.calls.discard(self)
        if not self.answer.done():
            resp = self.invite.create_response(code if code >= 300 else 487, reason or None)
            resp.local = True
            self.answer.set_result(resp)
        if not self.ended.done():
            self.ended.set_result((code, reason))
        self._emit("hangup", code=code, reason=reason, by=by)
        self._release_transactions()

    def _release_transactions(self) -> None:
        """Let the ended call go: its transactions linger for up to 64*T1 to absorb
        retransmissions, and must not keep the call (and whatever its callbacks reach) alive.

        An INVITE transaction still waiting for its final response keeps the call, which
        must ACK (and BYE) a late 2xx. One that was answered keeps only what re-sends the ACK
        for a retransmitted 2xx.
        """
        tx = self.server_tx
        if tx is not None:
            tx.on_cancel = None
            tx.on_ack_timeout = None
        ack = self._last_ack
        for client_tx in self._client_txs:
            if client_tx.final.done():
                client_tx.on_response = None if ack is None or client_tx.method != "INVITE" \
                    else _AckResender(self.ua.endpoint, ack)

    def __repr__(self) -> str:
        return f"<Call {self.direction} {self.call_id} {self.state}>"


class _AckResender:
    """What an ended call leaves to its answered INVITE transaction: the ACK, sent again for
    each retransmitted 2xx (RFC 6026 §7.1 passes those to the TU, which is gone)."""

    __slots__ = ("ack", "endpoint")

    def __init__(self, endpoint: SipEndpoint, ack: Request) -> None:
        self.endpoint = endpoint
        self.ack = ack

    def __call__(self, response: Response) -> None:
        if 200 <= response.status < 300:
            with contextlib.suppress(TransportError, ParseError):
                self.endpoint.send_stateless(self.ack)


_background: set[asyncio.Future[Any]] = set()


def _spawn(coro: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


def _call_back(callback: EventCallback | None, name: str, data: dict[str, Any]) -> None:
    if callback is None:
        return
    try:
        result = callback(name, data)
        if inspect.isawaitable(result):
            _spawn(result)
    except Exception:
        log.exception("event callback failed")


def _sdp_bytes(sdp: bytes | str | SessionDescription | None) -> bytes:
    if sdp is None:
        return b""
    if isinstance(sdp, SessionDescription):
        return sdp.encode()
    return sdp.encode() if isinstance(sdp, str) else sdp


def _cseq_of(response: Response) -> int:
    try:
        return response.cseq.seq
    except ParseError:
        return 0


def _granted_expires(response: Response, contact: Address, asked: int) -> int:
    """Expiry the registrar granted for our contact (its Contact param, else Expires)."""
    try:
        for c in response.contacts:
            if c.uri == contact.uri and c.expires is not None:
                return c.expires
        if response.expires is not None:
            return response.expires
    except ParseError:
        pass
    return asked


def _escape_header_value(value: str) -> str:
    out = []
    for ch in value:
        if ch.isalnum() or ch in "-_.!~*'()[]/?:+$":
            out.append(ch)
        else:
            out.append(f"%{ord(ch):02X}")
    return "".join(out)


