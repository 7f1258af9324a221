"""The browser-facing media of one SIP call: codec choice, the two legs, and their wiring.

The SIP side is offered and answered in G.711 (PCMU/PCMA, plus RFC 4733 ``telephone-event``)
from a plain RTP leg (:class:`gateway.media.rtp_leg.RtpLeg`); the browser side is negotiated
through the handle's WebRTC leg restricted to the G.711 codec the SIP side settled on, so
payloads are relayed untouched (RFC 4733 events use each leg's own payload type). A browser that
offers no G.711 gets Opus, transcoded to and from G.711 on the relay. Nothing here speaks SIP:
the session hands the SDP bodies to and from the user agent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from gateway.media.bridge import MediaBridge
from gateway.media.ports import PortAllocator
from gateway.media.rtp_leg import RtpLeg
from gateway.plugins.base import HandleContext
from gateway.plugins.sip import codes
from gateway.plugins.sip.codes import SipPluginError
from webfon.rtp.dtmf import DtmfReceiver
from webfon.rtp.packet import peek_header
from webfon.sip.errors import ParseError
from webfon.sip.sdp import Codec, Media, SessionDescription, answer_direction

log = logging.getLogger("gateway.sip.media")

G711 = {"pcmu": 0, "pcma": 8}
TELEPHONE_EVENT_PT = 101
DtmfCallback = Callable[[str, int], None]


def parse(sdp: bytes | str, what: str) -> SessionDescription:
    try:
        desc = SessionDescription.parse(sdp)
    except ParseError as exc:
        raise SipPluginError(codes.MISSING_SDP, f"Error parsing SDP: {exc}") from None
    if desc.audio is None or not desc.audio.port:
        raise SipPluginError(codes.MISSING_SDP, f"no audio in {what}")
    return desc


class CallMedia:
    """RTP leg, SIP-side SDP and WebRTC wiring of one call of a handle."""

    def __init__(self, ctx: HandleContext, allocator: PortAllocator, local_ip: str,
                 allow_transcoding: bool, on_dtmf: DtmfCallback) -> None:
        self.ctx = ctx
        self.local_ip = local_ip
        self.allow_transcoding = allow_transcoding
        self.on_dtmf = on_dtmf
        self.rtp = RtpLeg(allocator, local_ip)
        self.sip_codec: Codec | None = None
        self.sip_dtmf_pt: int | None = None
        self.browser_offer: str | None = None
        self.remote_offer: SessionDescription | None = None
        self.browser_answered = False
        self.transcode = False
        self.local_direction = "sendrecv"  # what we asked for (hold)
        self.remote_direction = "sendrecv"
        self.remote_held = False
        self.sdp_session = int(time.time() * 1000) % 10**12
        self.sdp_version = 1
        self.dtmf = DtmfReceiver()
        self.on_close: Callable[[], None] | None = None  # called once, when closed

    async def open(self) -> None:
        await self.rtp.open()

    # --- SIP-side SDP ---------------------------------------------------------------------
    def _sdp(self, codecs: list[Codec], direction: str) -> bytes:
        self.sdp_version += 1
        # RTCP on the RTP socket (RFC 3605): the leg has one socket
        media = Media(kind="audio", port=self.rtp.port, proto="RTP/AVP", direction=direction,
                      ptime=20, rtcp=(self.rtp.port, None))
        for c in codecs:
            media.add_codec(Codec(c.pt, c.name, c.rate, None, c.fmtp))
        desc = SessionDescription(origin_user="webfon", session_id=self.sdp_session,
                                  session_version=self.sdp_version,
                                  origin_address=self.local_ip, session_name="webfon",
                                  connection=self.local_ip, media=[media])
        return desc.encode()

    def local_sdp(self, direction: str | None = None) -> bytes:
        """Our SDP for the SIP side with the settled codec (re-INVITE, answers)."""
        assert self.sip_codec is not None
        codecs = [self.sip_codec]
        if self.sip_dtmf_pt is not None:
            codecs.append(Codec(self.sip_dtmf_pt, "telephone-event", 8000, None, "0-16"))
        return self._sdp(codecs, direction or self.local_direction)

    def _g711_offer(self, browser_sdp: str) -> list[Codec]:
        """The G.711 codecs of a browser offer, in its order (Opus-only: both, transcoded)."""
        audio = parse(browser_sdp, "the offer").audio
        assert audio is not None
        offered = [c for c in audio.codecs if c.key in G711]
        if not offered:
            if not (self.allow_transcoding and audio.codec("opus") is not None):
                raise SipPluginError(codes.MISSING_SDP,
                                     "the browser offered no G.711 codec (PCMU/PCMA)")
            self.transcode = True  # Opus towards the browser, G.711 towards SIP
            return [Codec(0, "PCMU"), Codec(8, "PCMA")]
        out: list[Codec] = []
        for c in offered:
            if c.key not in [o.key for o in out]:
                out.append(Codec(G711[c.key], c.name.upper()))
        return out

    async def sip_offer(self, browser_offer: str) -> bytes:
        """An outgoing call: the SIP offer made from the browser's offer."""
        codecs = self._g711_offer(browser_offer)
        self.browser_offer = browser_offer
        await self.open()
        return self._sdp([*codecs, Codec(TELEPHONE_EVENT_PT, "telephone-event", 8000, None,
                                         "0-16")], "sendrecv")

    async def sip_offer_for_offerless(self, browser_offer: str) -> bytes:
        """An offerless incoming INVITE: our 200's offer, made from the browser's offer."""
        self.transcode = False
        codecs = self._g711_offer(browser_offer)
        if self.transcode:
            self.transcode = False
            raise SipPluginError(codes.MISSING_SDP, "the browser offered no G.711 codec")
        self.browser_offer = browser_offer
        return self._sdp([*codecs, Codec(TELEPHONE_EVENT_PT, "telephone-event", 8000, None,
                                         "0-16")], "sendrecv")

    async def answer_browser(self, sip_sdp: bytes) -> dict[str, Any] | None:
        """The SIP side answered (200, or 183 with SDP, or the ACK of an offerless call):
        settle the codec, answer the browser's offer (once), point RTP at the peer. Returns
        the JSEP answer for the browser, or None if it was answered already."""
        desc = parse(sip_sdp, "the answer")
        audio = desc.audio
        assert audio is not None
        chosen = next((c for c in audio.codecs if c.key in G711), None)
        if chosen is None:
            raise SipPluginError(codes.MISSING_SDP, "the SIP peer answered without G.711")
        self.sip_codec = Codec(chosen.pt, chosen.name.upper())
        jsep = None
        if not self.browser_answered:
            assert self.browser_offer is not None
            sdp = await self.ctx.media.answer(self.browser_offer,
                                              ["opus"] if self.transcode else [chosen.name])
            self.browser_answered = True
            jsep = {"type": "answer", "sdp": sdp}
        self._learn_remote(desc)
        return jsep

    async def browser_offer_for(self, sip_offer: bytes) -> dict[str, Any]:
        """An incoming call: settle the codec from the SIP offer, open RTP, and make the
        browser's offer (JSEP) in that codec."""
        desc = parse(sip_offer, "the offer")
        audio = desc.audio
        assert audio is not None
        chosen = next((c for c in audio.codecs if c.key in G711), None)
        if chosen is None:
            raise SipPluginError(codes.MISSING_SDP, "no G.711 in the offer")
        self.sip_codec = Codec(chosen.pt, chosen.name.upper())
        self.remote_offer = desc
        await self.open()
        sdp = await self.ctx.media.offer([chosen.name])
        return {"type": "offer", "sdp": sdp}

    async def accept(self, browser_answer: str) -> bytes:
        """The browser answered an incoming call: our SIP answer."""
        await self.ctx.media.accept_answer(browser_answer)
        assert self.remote_offer is not None
        self._learn_remote(self.remote_offer)
        self.local_direction = answer_direction(self.remote_direction)
        return self.local_sdp()

    # --- changes during the call ------------------------------------------------------------
    def hold_sdp(self, direction: str) -> bytes:
        """A re-INVITE's offer that asks for ``direction`` (hold/resume/refresh)."""
        return self.local_sdp(direction)

    def held(self, direction: str, answer: bytes | None) -> None:
        """Our re-INVITE asking for ``direction`` was accepted with ``answer``."""
        self.local_direction = direction
        if answer:
            try:
                self._learn_remote(SessionDescription.parse(answer))
            except (ParseError, SipPluginError) as exc:
                log.info("unusable SDP in the re-INVITE's answer: %s", exc)
        self._apply_directions()

    def answer_reinvite(self, offer: bytes | None) -> tuple[bytes | None, bool | None]:
        """Answer the peer's re-INVITE/UPDATE: (our SDP or None for 488, held-state change
        or None when it did not change)."""
        if not offer:
            return self.local_sdp(), None
        try:
            desc = SessionDescription.parse(offer)
            self._learn_remote(desc)
        except (ParseError, SipPluginError):
            return None, None
        mine = self.local_direction
        wanted = "sendrecv" if mine in ("sendrecv", "recvonly") else "sendonly"
        direction = answer_direction(self.remote_direction, wanted)
        self._apply_directions(answered=direction)
        held = self.remote_direction in ("sendonly", "inactive")
        changed = held if held != self.remote_held else None
        self.remote_held = held
        return self.local_sdp(direction), changed

    async def renew_browser(self, offer_sdp: str) -> str:
        """A new browser offer (new peer connection, ICE restart) on a fresh WebRTC leg,
        bridged to the unchanged SIP media; returns the answer SDP."""
        current = self.rtp.bridge.audio if self.rtp.bridge is not None else None
        if self.transcode:
            wanted = ["opus"]
        elif current is not None:
            wanted = [current.name]
        else:
            assert self.sip_codec is not None
            wanted = [self.sip_codec.name]
        bridge = self.ctx.renew_media()
        try:
            answer = await bridge.answer(offer_sdp, wanted)
        except ParseError as exc:
            raise SipPluginError(codes.MISSING_SDP, f"Cannot use the new offer: {exc}") \
                from None
        if self.transcode:
            self.rtp.transcoder = None
        self._wire(self.rtp.remote, self.rtp.rtcp_port)
        return answer

    # --- wiring -----------------------------------------------------------------------------
    def _learn_remote(self, desc: SessionDescription) -> None:
        audio = desc.audio
        if audio is None:
            raise SipPluginError(codes.MISSING_SDP, "no audio in the SIP peer's SDP")
        self.remote_direction = desc.direction_of(audio)
        self.sip_dtmf_pt = audio.telephone_event
        address = desc.audio_address
        remote = address if address and address[0] != "0.0.0.0" else None
        self._wire(remote, audio.rtcp[0] if audio.rtcp else None)

    def _wire(self, remote: tuple[str, int] | None, rtcp_port: int | None = None) -> None:
        bridge: MediaBridge = self.ctx.media
        fmt = bridge.audio
        if fmt is None or self.sip_codec is None:
            return
        mapping = {self.sip_codec.pt: fmt.pt}
        if self.transcode and self.rtp.transcoder is None:
            # loaded on first use: codecs and numpy cost memory only where a call needs them
            from gateway.media.transcode import OpusG711Transcoder

            self.rtp.transcoder = OpusG711Transcoder(self.sip_codec.pt, fmt.pt)
        if self.transcode:
            mapping = {}
        if self.sip_dtmf_pt is not None and fmt.dtmf_pt is not None:
            mapping[self.sip_dtmf_pt] = fmt.dtmf_pt
        self.rtp.configure(remote, mapping, self.sip_dtmf_pt, rtcp_port)
        self.rtp.dtmf_listener = self._dtmf_from_sip
        if self.rtp.bridge is not bridge:
            self.rtp.attach(bridge)
        self._apply_directions()

    def _apply_directions(self, answered: str | None = None) -> None:
        mine = answered or self.local_direction
        theirs = self.remote_direction
        self.rtp.send_enabled = mine in ("sendrecv", "sendonly") and \
            theirs in ("sendrecv", "recvonly")
        self.rtp.recv_enabled = mine in ("sendrecv", "recvonly") and \
            theirs in ("sendrecv", "sendonly")

    def _dtmf_from_sip(self, data: bytes) -> None:
        try:
            _, _, _, ts, _ = peek_header(data)
            payload = data[12 + 4 * (data[0] & 0x0F):]
            for ev in self.dtmf.feed(ts, payload):
                if ev.kind == "end":
                    self.on_dtmf(ev.digit, ev.duration // 8)
        except ValueError:
            return

    def close(self) -> None:
        self.rtp.close()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    def describe(self) -> dict[str, Any]:
        return {"codec": self.sip_codec.name if self.sip_codec else None,
                "local_direction": self.local_direction, "rtp": self.rtp.describe()}
