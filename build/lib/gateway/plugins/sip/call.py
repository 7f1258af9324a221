"""One SIP call of a handle: INVITE dialog (either direction), SDP on the SIP leg, RTP relay.

The browser side is negotiated through the handle's MediaBridge restricted to the G.711 codec
the SIP side settled on, so payloads are relayed untouched; RFC 4733 events use each leg's own
payload type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from gateway.media import sdp as sdpmod
from gateway.media.rtp_leg import RtpLeg
from gateway.media.transcode import OpusG711Transcoder
from gateway.plugins.sip import codes
from gateway.plugins.sip.codes import SipPluginError
from webfon.rtp.dtmf import DtmfReceiver
from webfon.rtp.packet import peek_header
from webfon.sip import (
    Address,
    Dialog,
    InviteServerTransaction,
    Request,
    Response,
    SipError,
    SipURI,
    new_call_id,
)
from webfon.sip.endpoint import Destination

if TYPE_CHECKING:
    from gateway.plugins.sip.account import Account
    from gateway.plugins.sip.plugin import SipPlugin
    from gateway.plugins.sip.session import SipSession

log = logging.getLogger("gateway.sip.call")

G711 = ("pcmu", "pcma")
STATIC = {"pcmu": 0, "pcma": 8}


def _reason(response: Response) -> str:
    return response.reason or ""


class Call:
    def __init__(self, plugin: SipPlugin, session: SipSession, account: Account,
                 outgoing: bool, call_id: str | None = None) -> None:
        self.plugin = plugin
        self.session = session
        self.account = account
        self.outgoing = outgoing
        self.call_id = call_id or new_call_id(plugin.endpoint.advertised_host)
        self.rtp = RtpLeg(plugin.allocator, plugin.settings.local_ip)
        self.dialog: Dialog | None = None
        self.invite: Request | None = None
        self.invite_tx: Any = None
        self.server_tx: InviteServerTransaction | None = None
        self.dest: Destination | None = None
        self.peer: str = ""
        self.peer_display: str | None = None
        self.state = "new"
        self.sip_codec: sdpmod.Codec | None = None
        self.sip_dtmf_pt: int | None = None
        self.browser_offer: str | None = None
        self.remote_offer: sdpmod.Sdp | None = None
        self.browser_answered = False
        self.transcode = False
        self.offerless = False
        self.local_direction = "sendrecv"
        self.remote_direction = "sendrecv"
        self.sdp_session = int(time.time() * 1000) % 10**12
        self.sdp_version = 1
        self.started = time.time()
        self.answered_at: float | None = None
        self.setup_ms: float | None = None
        self.autoaccept_reinvites = True
        self.remote_held = False
        self.refer_notify: tuple[Call, int] | None = None  # (transferor's call, refer id)
        self.dtmf = DtmfReceiver()
        self.ended = False
        self._cancel_requested = False
        self._media_wait: asyncio.TimerHandle | None = None

    # --- helpers ----------------------------------------------------------------------
    def event(self, result: dict[str, Any], transaction: str | None = None,
              jsep: dict[str, Any] | None = None) -> None:
        self.session.event(result, transaction, jsep, call_id=self.call_id)

    def _local_sdp(self, direction: str | None = None) -> bytes:
        assert self.sip_codec is not None
        codecs = [self.sip_codec]
        if self.sip_dtmf_pt is not None:
            codecs.append(sdpmod.Codec(self.sip_dtmf_pt, "telephone-event", 8000, 1, "0-16"))
        self.sdp_version += 1
        return sdpmod.build_audio_sdp(self.plugin.media_address, self.rtp.port, codecs,
                                      direction or self.local_direction, self.sdp_session,
                                      self.sdp_version).encode()

    def _apply_directions(self) -> None:
        mine = self.local_direction
        theirs = self.remote_direction
        self.rtp.send_enabled = mine in ("sendrecv", "sendonly") and theirs in ("sendrecv",
                                                                                 "recvonly")
        self.rtp.recv_enabled = mine in ("sendrecv", "recvonly") and theirs in ("sendrecv",
                                                                                 "sendonly")

    def _learn_remote(self, desc: sdpmod.Sdp) -> None:
        addr = desc.audio_address()
        audio = desc.audio()
        if audio is None:
            raise SipPluginError(codes.MISSING_SDP, "no audio in the SIP peer's SDP")
        self.remote_direction = sdpmod.audio_direction(desc)
        self.sip_dtmf_pt = sdpmod.telephone_event_pt(audio)
        remote = addr if addr and addr[0] != "0.0.0.0" else None
        self._wire(remote)

    def _wire(self, remote: tuple[str, int] | None) -> None:
        bridge = self.session.ctx.media
        fmt = bridge.audio
        if fmt is None or self.sip_codec is None:
            return
        mapping = {self.sip_codec.pt: fmt.pt}
        if self.transcode and self.rtp.transcoder is None:
            self.rtp.transcoder = OpusG711Transcoder(self.sip_codec.pt, fmt.pt)
        if self.transcode:
            mapping = {}
        if self.sip_dtmf_pt is not None and fmt.dtmf_pt is not None:
            mapping[self.sip_dtmf_pt] = fmt.dtmf_pt
        self.rtp.configure(remote, mapping, self.sip_dtmf_pt)
        self.rtp.dtmf_listener = self._dtmf_from_sip
        if self.rtp.bridge is not bridge:
            self.rtp.attach(bridge)
        self._apply_directions()

    def await_new_media(self, seconds: float) -> None:
        """The browser's connection broke: end the call unless new media arrives in time."""
        if self._media_wait is not None:
            return
        log.info("browser media lost, waiting for new media",
                 extra={"call_id": self.call_id, "timeout_s": seconds})

        def expire() -> None:
            self._media_wait = None
            if not self.ended:
                log.info("no new browser media: ending the call",
                         extra={"call_id": self.call_id})
                self.plugin.spawn(self.hangup(None))

        self._media_wait = asyncio.get_running_loop().call_later(seconds, expire)

    def _stop_waiting_for_media(self) -> None:
        if self._media_wait is not None:
            self._media_wait.cancel()
            self._media_wait = None

    async def renew_browser_media(self, offer_sdp: str) -> str:
        """Answer a new browser offer on a fresh WebRTC leg and bridge it to the unchanged SIP
        media; returns the answer SDP."""
        self._stop_waiting_for_media()
        current = self.rtp.bridge.audio if self.rtp.bridge is not None else None
        if self.transcode:
            codecs = ["opus"]
        elif current is not None:
            codecs = [current.name]
        else:
            assert self.sip_codec is not None
            codecs = [self.sip_codec.name]
        bridge = self.session.ctx.renew_media()
        try:
            answer = await bridge.answer(offer_sdp, codecs)
        except sdpmod.SdpError as exc:
            raise SipPluginError(codes.MISSING_SDP, f"Cannot use the new offer: {exc}") \
                from None
        if self.transcode:
            self.rtp.transcoder = None
        self._wire(self.rtp.remote)
        log.info("browser media renewed", extra={"call_id": self.call_id})
        return answer

    def _dtmf_from_sip(self, data: bytes) -> None:
        try:
            _, _, _, ts, _ = peek_header(data)
            payload = data[12 + 4 * (data[0] & 0x0F):]
            for ev in self.dtmf.feed(ts, payload):
                if ev.kind == "end":
                    self.event({"event": "dtmf", "signal": ev.digit,
                                "duration": ev.duration // 8})
        except ValueError:
            return

    def describe(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "direction": "out" if self.outgoing else "in",
                "peer": self.peer, "state": self.state,
                "codec": self.sip_codec.name if self.sip_codec else None,
                "started": self.started, "answered": self.answered_at,
                "setup_ms": self.setup_ms, "local_direction": self.local_direction,
                "rtp": self.rtp.describe(), "handle_id": self.session.ctx.handle_id,
                "user": self.account.username}

    # --- outgoing -----------------------------------------------------------------------
    async def start_outgoing(self, uri: SipURI, offer_sdp: str, transaction: str,
                             headers: list[tuple[str, str]], secret: dict[str, str]) -> None:
        offer = sdpmod.Sdp.parse(offer_sdp)
        audio = offer.audio()
        if audio is None:
            raise SipPluginError(codes.MISSING_SDP, "the offer has no audio")
        offered = [c for c in audio.codecs() if c.key in G711]
        if not offered:
            if not (self.plugin.settings.allow_transcoding
                    and any(c.key == "opus" for c in audio.codecs())):
                raise SipPluginError(codes.MISSING_SDP,
                                     "the browser offered no G.711 codec (PCMU/PCMA)")
            self.transcode = True  # Opus towards the browser, G.711 towards SIP
            offered = [sdpmod.Codec(0, "PCMU", 8000), sdpmod.Codec(8, "PCMA", 8000)]
        self.browser_offer = offer_sdp
        self.peer = str(uri)
        await self.rtp.open()
        sip_codecs = []
        for c in offered:
            if c.key not in [s.name.lower() for s in sip_codecs]:
                sip_codecs.append(sdpmod.Codec(STATIC[c.key], c.name.upper(), 8000))
        te = sdpmod.Codec(101, "telephone-event", 8000, 1, "0-16")
        body = sdpmod.build_audio_sdp(self.plugin.media_address, self.rtp.port,
                                      [*sip_codecs, te], "sendrecv", self.sdp_session,
                                      self.sdp_version).encode()
        ep = self.plugin.endpoint
        request = ep.create_request(
            "INVITE", uri, from_=self.account.identity(), to=Address(uri.copy()),
            call_id=self.call_id, cseq=1, contact=self.account.contact(),
            headers=[*headers, *([("User-Agent", self.plugin.settings.sip_user_agent)])],
            body=body, content_type="application/sdp")
        self.invite = request
        self.dest = self.account.next_hop(uri)
        self.state = "calling"
        log.info("outgoing call", extra={"call_id": self.call_id, "peer": self.peer,
                                         "user": self.account.username})
        self.event({"event": "calling", "call_id": self.call_id}, transaction)
        started = time.monotonic()
        response = await self._invite(request)
        if response.status in (401, 407) and not self._cancel_requested:
            digest = self.account.digest()
            if secret:
                from webfon.sip import DigestClient
                digest = DigestClient(secret.get("authuser") or self.account.authuser or
                                      uri.user or "", secret.get("secret"),
                                      ha1_md5=secret.get("ha1_secret"))
            retry = digest.authorize(request, response) if digest else None
            if retry is not None:
                self.invite = retry
                response = await self._invite(retry)
        if self.ended:
            return
        if response.is_success:
            self.setup_ms = round((time.monotonic() - started) * 1000, 1)
            await self._answered(response)
        else:
            code = response.status
            self._finish(code, _reason(response) or "Call failed")

    async def _invite(self, request: Request) -> Response:
        ep = self.plugin.endpoint
        tx = ep.send_request(request, self.dest, on_response=self._provisional)
        self.invite_tx = tx
        if self._cancel_requested:
            with contextlib.suppress(SipError):
                ep.send_cancel(tx)
        return await tx.wait()

    def _provisional(self, response: Response) -> None:
        if response.status >= 200 or response.status == 100 or self.ended:
            return
        if response.status == 180:
            self.state = "ringing"
            self.event({"event": "ringing"})
        elif response.status == 183 and response.body:
            self.plugin.spawn(self._early_media(response))
        else:
            self.event({"event": "proceeding", "code": response.status})

    async def _early_media(self, response: Response) -> None:
        try:
            jsep = await self._answer_browser(response)
        except (SipPluginError, sdpmod.SdpError) as exc:
            log.info("early media ignored: %s", exc, extra={"call_id": self.call_id})
            return
        self.state = "progress"
        self.event({"event": "progress", "username": self.peer}, None, jsep)

    async def _answer_browser(self, response: Response | Request) -> dict[str, Any] | None:
        desc = sdpmod.Sdp.parse(response.body.decode("utf-8", "replace"))
        audio = desc.audio()
        if audio is None:
            raise SipPluginError(codes.MISSING_SDP, "no audio in the answer")
        chosen = next((c for c in audio.codecs() if c.key in G711), None)
        if chosen is None:
            raise SipPluginError(codes.MISSING_SDP, "the SIP peer answered without G.711")
        self.sip_codec = sdpmod.Codec(chosen.pt, chosen.name.upper(), 8000)
        jsep = None
        if not self.browser_answered:
            assert self.browser_offer is not None
            sdp = await self.session.ctx.media.answer(
                self.browser_offer, ["opus"] if self.transcode else [chosen.name])
            self.browser_answered = True
            jsep = {"type": "answer", "sdp": sdp}
        self._learn_remote(desc)
        return jsep

    async def _answered(self, response: Response) -> None:
        assert self.invite is not None
        try:
            self.dialog = Dialog.from_uac(self.invite, response,
                                          local_contact=self.account.contact())
        except SipError as exc:
            log.warning("bad 2xx: %s", exc, extra={"call_id": self.call_id})
            self._finish(500, "Bad answer")
            return
        self.plugin.register_dialog(self)
        self._send_ack()
        try:
            jsep = await self._answer_browser(response)
        except (SipPluginError, sdpmod.SdpError, ValueError) as exc:
            log.warning("cannot use the answer: %s", exc, extra={"call_id": self.call_id})
            await self._send_bye()
            self._finish(488, "Not Acceptable Here")
            return
        self.state = "incall"
        self.answered_at = time.time()
        self.event({"event": "accepted", "username": self.peer}, None, jsep)
        self.plugin.metrics_setup(self.setup_ms)

    def _send_ack(self) -> None:
        if self.dialog is None:
            return
        ack = self.dialog.create_ack()
        dest = self.dest if self.account.outbound_proxy is not None else None
        with contextlib.suppress(SipError):
            self.plugin.endpoint.send_stateless(ack, dest)

    def stray_2xx(self, response: Response) -> None:
        """A retransmitted 2xx: our ACK was lost."""
        if self.dialog is not None and response.cseq.method == "INVITE":
            self._send_ack()

    # --- incoming -----------------------------------------------------------------------
    async def start_incoming(self, request: Request, tx: InviteServerTransaction) -> None:
        self.invite = request
        self.server_tx = tx
        frm = request.from_
        self.peer = str(frm.uri)
        self.peer_display = frm.display_name
        if not request.body:
            # offerless INVITE: the browser will make the offer (in ``accept``), our 200 OK
            # carries it to the caller and the caller's answer comes in the ACK
            self.offerless = True
            await self.rtp.open()
            self.dialog = Dialog.from_uas(request, tx.local_tag,
                                          local_contact=self.account.contact())
            self.plugin.register_dialog(self)
            tx.on_cancel = self._cancelled
            tx.respond(180, headers=[("Contact", str(self.account.contact()))])
            self.state = "incomingcall"
            log.info("incoming call (offerless)", extra={"call_id": self.call_id,
                                                         "peer": self.peer})
            self.event(self._incoming_result(request))
            return
        desc = sdpmod.Sdp.parse(request.body.decode("utf-8", "replace"))
        audio = desc.audio()
        chosen = next((c for c in audio.codecs() if c.key in G711), None) if audio else None
        if chosen is None:
            tx.respond(488)
            raise SipPluginError(codes.MISSING_SDP, "no G.711 in the offer")
        self.sip_codec = sdpmod.Codec(chosen.pt, chosen.name.upper(), 8000)
        self.remote_offer = desc
        await self.rtp.open()
        self.dialog = Dialog.from_uas(request, tx.local_tag, local_contact=self.account.contact())
        self.plugin.register_dialog(self)
        tx.on_cancel = self._cancelled
        tx.respond(180, headers=[("Contact", str(self.account.contact()))])
        sdp = await self.session.ctx.media.offer([chosen.name])
        self.state = "incomingcall"
        log.info("incoming call", extra={"call_id": self.call_id, "peer": self.peer,
                                         "user": self.account.username})
        self.event(self._incoming_result(request), None, {"type": "offer", "sdp": sdp})

    def _incoming_result(self, request: Request) -> dict[str, Any]:
        result: dict[str, Any] = {"event": "incomingcall", "username": self.peer,
                                  "callee": str(request.to.uri)}
        if self.peer_display:
            result["displayname"] = self.peer_display
        referred = request.headers.get("Referred-By")
        if referred:
            result["referred_by"] = referred
        replaces = request.headers.get("Replaces")
        if replaces:
            result["replaces"] = replaces.split(";", 1)[0].strip()
        return result

    def _cancelled(self, cancel: Request) -> None:
        if self.ended:
            return
        self._finish(487, "Request Terminated")

    async def accept(self, transaction: str, jsep: dict[str, Any] | None,
                     headers: list[tuple[str, str]]) -> None:
        tx = self.server_tx
        if tx is None or self.state != "incomingcall" or tx.final_sent:
            raise SipPluginError(codes.WRONG_STATE, "no incoming call to accept")
        if self.offerless:
            await self._accept_offerless(transaction, jsep, headers, tx)
            return
        if jsep is None or jsep.get("type") != "answer":
            raise SipPluginError(codes.MISSING_SDP, "accept needs a JSEP answer")
        self.event({"event": "accepting"}, transaction)
        await self.session.ctx.media.accept_answer(jsep["sdp"])
        assert self.remote_offer is not None
        self._learn_remote(self.remote_offer)
        self.local_direction = sdpmod.reverse_direction(self.remote_direction)
        if self.local_direction == "sendonly" and self.remote_direction == "sendonly":
            self.local_direction = "recvonly"
        body = self._local_sdp()
        tx.respond(200, headers=[("Contact", str(self.account.contact())), *headers],
                   body=body, content_type="application/sdp")
        assert self.dialog is not None
        self.dialog.confirm()
        self.state = "incall"
        self.answered_at = time.time()
        self._apply_directions()
        self.event({"event": "accepted", "username": self.peer})
        self.plugin.spawn(self._await_ack(tx))

    async def _accept_offerless(self, transaction: str, jsep: dict[str, Any] | None,
                                headers: list[tuple[str, str]],
                                tx: InviteServerTransaction) -> None:
        if jsep is None or jsep.get("type") != "offer":
            raise SipPluginError(codes.MISSING_SDP,
                                 "accept of an offerless INVITE needs a JSEP offer")
        offer = sdpmod.Sdp.parse(jsep["sdp"])
        audio = offer.audio()
        offered = [c for c in audio.codecs() if c.key in G711] if audio else []
        if not offered:
            raise SipPluginError(codes.MISSING_SDP, "the browser offered no G.711 codec")
        self.browser_offer = jsep["sdp"]
        self.event({"event": "accepting"}, transaction)
        codecs = []
        for c in offered:
            if c.key not in [x.name.lower() for x in codecs]:
                codecs.append(sdpmod.Codec(STATIC[c.key], c.name.upper(), 8000))
        codecs.append(sdpmod.Codec(101, "telephone-event", 8000, 1, "0-16"))
        self.sdp_version += 1
        body = sdpmod.build_audio_sdp(self.plugin.media_address, self.rtp.port, codecs,
                                      "sendrecv", self.sdp_session, self.sdp_version).encode()
        tx.respond(200, headers=[("Contact", str(self.account.contact())), *headers],
                   body=body, content_type="application/sdp")
        assert self.dialog is not None
        self.dialog.confirm()
        ack = await tx.ack
        if ack is None or not ack.body:
            await self._send_bye()
            self._finish(488 if ack is not None else 408,
                         "No answer in the ACK" if ack is not None else "No ACK")
            return
        try:
            jsep_answer = await self._answer_browser(ack)
        except (SipPluginError, sdpmod.SdpError, ValueError) as exc:
            log.warning("unusable answer in ACK: %s", exc, extra={"call_id": self.call_id})
            await self._send_bye()
            self._finish(488, "Not Acceptable Here")
            return
        self.state = "incall"
        self.answered_at = time.time()
        self.event({"event": "accepted", "username": self.peer}, None, jsep_answer)

    async def _await_ack(self, tx: InviteServerTransaction) -> None:
        ack = await tx.ack
        if ack is None and not self.ended:
            await self._send_bye()
            self._finish(408, "No ACK")

    def decline(self, code: int, transaction: str, headers: list[tuple[str, str]]) -> None:
        tx = self.server_tx
        if tx is None or tx.final_sent:
            raise SipPluginError(codes.WRONG_STATE, "no incoming call to decline")
        tx.respond(code, headers=headers)
        self.event({"event": "declining", "code": code}, transaction)
        self._finish(code, "Declined", notify=True)

    # --- in-dialog requests from us -----------------------------------------------------
    async def _send_in_dialog(self, method: str, body: bytes = b"",
                              content_type: str | None = None,
                              headers: list[tuple[str, str]] | None = None) -> Response:
        if self.dialog is None:
            raise SipPluginError(codes.WRONG_STATE, "no dialog")
        request = self.dialog.create_request(method, body=body, content_type=content_type,
                                             headers=headers or [])
        dest = self.dest if self.account.outbound_proxy is not None else None
        dest = dest or self.plugin.endpoint.destination_for(request)
        response = await self.account.send_authenticated(request, dest)
        return response

    def _build_bye(self) -> tuple[Request, Destination] | None:
        if self.dialog is None or self.dialog.state == "terminated":
            return None
        request = self.dialog.create_request("BYE")
        dest = self.dest if self.account.outbound_proxy is not None else None
        return request, dest or self.plugin.endpoint.destination_for(request)

    async def _send_bye(self, prepared: tuple[Request, Destination] | None = None) -> None:
        prepared = prepared or self._build_bye()
        if prepared is None:
            return
        with contextlib.suppress(SipError):
            await self.account.send_authenticated(*prepared)

    async def hangup(self, transaction: str | None,
                     headers: list[tuple[str, str]] | None = None) -> None:
        if self.ended:
            return
        if transaction is not None:
            self.event({"event": "hangingup"}, transaction)
        if self.outgoing and self.state in ("calling", "ringing", "progress", "new"):
            self._cancel_requested = True
            if self.invite_tx is not None:
                with contextlib.suppress(SipError):
                    self.plugin.endpoint.send_cancel(self.invite_tx)
            return  # the 487 ends the call
        if not self.outgoing and self.state == "incomingcall" and self.server_tx is not None \
                and not self.server_tx.final_sent:
            self.server_tx.respond(480)
            self._finish(480, "Temporarily Unavailable")
            return
        bye = self._build_bye()
        self._finish(200, "BYE", notify=True)
        self.plugin.spawn(self._send_bye(bye))  # the call is over for us; don't wait

    async def reinvite(self, direction: str) -> Response:
        body = self._local_sdp(direction)
        if self.dialog is None:
            raise SipPluginError(codes.WRONG_STATE, "no dialog")
        request = self.dialog.create_request(
            "INVITE", body=body, content_type="application/sdp",
            headers=[("Contact", str(self.account.contact()))])
        dest = self.dest if self.account.outbound_proxy is not None else None
        ep = self.plugin.endpoint
        response = await ep.request(request, dest or ep.destination_for(request))
        if response.status in (401, 407):
            digest = self.account.digest()
            retry = digest.authorize(request, response) if digest else None
            if retry is not None:
                self.dialog.local_seq = retry.cseq.seq
                self.dialog.invite_seq = retry.cseq.seq
                response = await ep.request(retry, dest or ep.destination_for(retry))
        if response.is_success:
            self._send_ack()
            self.local_direction = direction
            if response.body:
                with contextlib.suppress(sdpmod.SdpError, SipPluginError):
                    self._learn_remote(sdpmod.Sdp.parse(response.body.decode("utf-8",
                                                                             "replace")))
            self._apply_directions()
        return response

    # --- in-dialog requests from the peer ------------------------------------------------
    async def on_request(self, request: Request, tx: Any) -> None:
        method = request.method
        if self.dialog is not None and not self.dialog.receive_request(request):
            tx.respond(500, "CSeq out of order")
            return
        if method == "BYE":
            tx.respond(200)
            self._finish(200, "BYE", notify=True)
        elif method == "INVITE":
            await self._reinvited(request, tx)
        elif method == "INFO":
            tx.respond(200)
            ctype = request.content_type or ""
            content = request.body.decode("utf-8", "replace")
            self.event({"event": "info", "sender": self.peer, "type": ctype,
                        "content": content})
            if "dtmf-relay" in ctype:
                signal, duration = "", 0
                for line in content.splitlines():
                    key, _, value = line.partition("=")
                    if key.strip().lower() == "signal":
                        signal = value.strip()
                    elif key.strip().lower() == "duration":
                        with contextlib.suppress(ValueError):
                            duration = int(value.strip())
                self.event({"event": "dtmf", "signal": signal, "duration": duration})
        elif method == "REFER":
            await self.plugin.incoming_refer(self, request, tx)
        elif method == "NOTIFY":
            tx.respond(200)
            self.event({"event": "notify", "notify": request.headers.get("Event", ""),
                        "substate": request.headers.get("Subscription-State", ""),
                        "content-type": request.content_type or "",
                        "content": request.body.decode("utf-8", "replace")})
        elif method == "MESSAGE":
            tx.respond(200)
            self.event({"event": "message", "sender": self.peer,
                        "content_type": request.content_type or "text/plain",
                        "content": request.body.decode("utf-8", "replace")})
        elif method == "UPDATE":
            tx.respond(200, headers=[("Contact", str(self.account.contact()))])
        else:
            tx.respond(200)

    async def _reinvited(self, request: Request, tx: Any) -> None:
        if not request.body:
            tx.respond(200, headers=[("Contact", str(self.account.contact()))],
                       body=self._local_sdp(), content_type="application/sdp")
            return
        try:
            desc = sdpmod.Sdp.parse(request.body.decode("utf-8", "replace"))
            self._learn_remote(desc)
        except (sdpmod.SdpError, SipPluginError):
            tx.respond(488)
            return
        before = self.local_direction
        wanted = "sendrecv" if before in ("sendrecv", "recvonly") else "sendonly"
        if self.remote_direction in ("sendonly", "inactive"):
            wanted = "recvonly" if wanted == "sendrecv" else "inactive"
        answer_dir = wanted
        self._apply_directions_for(answer_dir)
        tx.respond(200, headers=[("Contact", str(self.account.contact()))],
                   body=self._local_sdp(answer_dir), content_type="application/sdp")
        # Janus answers re-INVITEs itself (autoaccept_reinvites) without an event; ours only
        # tells the application when the peer put the call on hold or resumed it.
        held = self.remote_direction in ("sendonly", "inactive")
        if held != self.remote_held:
            self.remote_held = held
            self.event({"event": "remote_hold" if held else "remote_resume",
                        "direction": self.remote_direction})

    def _apply_directions_for(self, local: str) -> None:
        saved = self.local_direction
        self.local_direction = local
        self._apply_directions()
        # our own hold state is what we asked for, not what we answered
        if saved in ("sendonly", "inactive"):
            self.local_direction = saved
            self._apply_directions()

    # --- ending -------------------------------------------------------------------------
    def _finish(self, code: int, reason: str, notify: bool = True) -> None:
        if self.ended:
            return
        self.ended = True
        self._stop_waiting_for_media()
        log.info("call ended", extra={
            "call_id": self.call_id, "code": code, "reason": reason, "state": self.state,
            "duration_s": round(time.time() - self.answered_at, 1) if self.answered_at else 0,
            "packets_to_sip": self.rtp.packets_to_sip,
            "packets_from_sip": self.rtp.packets_from_sip})
        self.state = "ended"
        if self.dialog is not None:
            self.dialog.terminate()
        self.plugin.unregister_call(self)
        self.rtp.close()
        if notify:
            self.event({"event": "hangup", "code": code, "reason": reason})
        if self.refer_notify is not None:
            transferor, refer_id = self.refer_notify
            self.plugin.spawn(transferor.notify_refer(refer_id, code, reason))
        self.session.call_ended(self)

    async def notify_refer(self, refer_id: int, code: int, reason: str) -> None:
        """Tell the transferor how the transfer call went (RFC 3515 NOTIFY, sipfrag)."""
        if self.dialog is None or self.dialog.state == "terminated":
            return
        final = code >= 200
        state = "terminated;reason=noresource" if final else "active;expires=60"
        with contextlib.suppress(SipError, SipPluginError):
            await self._send_in_dialog(
                "NOTIFY", body=f"SIP/2.0 {code} {reason}\r\n".encode(),
                content_type="message/sipfrag;version=2.0",
                headers=[("Event", f"refer;id={refer_id}"), ("Subscription-State", state),
                         ("Contact", str(self.account.contact()))])

    def on_transfer_answered(self) -> None:
        if self.refer_notify is not None:
            transferor, refer_id = self.refer_notify
            self.refer_notify = None
            self.plugin.spawn(transferor.notify_refer(refer_id, 200, "OK"))

