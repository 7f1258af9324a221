"""The WebRTC leg of a handle: one aiortc peer connection, audio relayed without decoding.

aiortc decodes received audio and encodes what it sends. The leg bypasses both: it takes the
decrypted RTP datagrams straight from the DTLS transport (before aiortc's parser, jitter buffer
and decoder) and hands them to the plugin, and it sends the plugin's packets through the same
transport's SRTP protection, under the SSRC aiortc announced in its SDP. RFC 4733
``telephone-event`` (which aiortc does not know) is added to the SDP aiortc produces and its
packets pass through the same path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aioice.ice import StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.sdp import candidate_from_sdp

from gateway.media import sdp as sdpmod
from gateway.media.bridge import AudioFormat, RtpHandler
from webfon.rtp.packet import rewrite_header
from webfon.rtp.rebase import StreamRebaser

log = logging.getLogger("gateway.webrtc")

EventCallback = Callable[..., Awaitable[None] | None]


class _SilentTrack(MediaStreamTrack):
    """A sending track that never produces frames: packets are injected below aiortc."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        return await self._never

    def stop(self) -> None:
        super().stop()
        if not self._never.done():
            self._never.cancel()


def drive(coro: Any) -> bool:
    """Run a coroutine that completes without suspending; False when it would have waited."""
    try:
        coro.send(None)
    except StopIteration:
        return True
    except (ConnectionError, OSError):
        return False
    coro.close()
    return False


class WebRtcLeg:
    """Implements :class:`gateway.media.bridge.MediaBridge` with aiortc."""

    def __init__(self, config: RTCConfiguration, nat_1_1: str = "",
                 host_addresses: list[str] | None = None,
                 on_up: Callable[[], None] | None = None,
                 on_media: Callable[[str, bool], None] | None = None,
                 on_down: Callable[[str], None] | None = None) -> None:
        self._config = config
        self._nat_1_1 = nat_1_1
        self._host_addresses = set(host_addresses or [])
        self._on_up = on_up
        self._on_media = on_media
        self._on_down = on_down
        self.pc: RTCPeerConnection | None = None
        self.audio: AudioFormat | None = None
        self._handler: RtpHandler | None = None
        self._pending: list[dict[str, Any]] = []
        self._remote_set = False
        self._dtls: RTCDtlsTransport | None = None
        self._ice: Any = None
        self._sender: RTCRtpSender | None = None
        # the SIP side's stream may change mid-call (transfer, hold music): keep ours continuous
        self._rebaser = StreamRebaser()
        self._audio_pts: set[int] = set()
        self._receiving = False
        self._up = False
        self._closed = False
        self.packets_in = 0
        self.packets_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.send_failures = 0
        self.rtcp_in = 0
        self.lost_in = 0
        self.last_in = 0.0
        self._next_seq: int | None = None
        self._lost_reported = 0

    # --- negotiation -------------------------------------------------------------------
    def _new_pc(self) -> RTCPeerConnection:
        if self.pc is not None:
            return self.pc
        pc = RTCPeerConnection(configuration=self._config)

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            if state == "connected" and not self._up:
                self._up = True
                self._install_fast_path()
                if self._on_up:
                    self._on_up()
            elif state in ("failed", "closed") and not self._closed:
                if self._on_down:
                    self._on_down("ICE failed" if state == "failed" else "Close PC")

        self.pc = pc
        return pc

    async def answer(self, offer_sdp: str, codecs: list[str] | None = None) -> str:
        offer = sdpmod.Sdp.parse(offer_sdp)
        audio = offer.audio()
        if audio is None:
            raise sdpmod.SdpError("the offer has no audio")
        dtmf_pt = sdpmod.telephone_event_pt(audio)
        if codecs is not None:
            wanted = [c.lower() for c in codecs]
            offered = audio.codecs()
            keep = [c.pt for w in wanted for c in offered if c.key == w]
            if not keep:
                raise sdpmod.SdpError(f"none of {', '.join(codecs)} offered by the browser")
            if dtmf_pt is not None:
                keep.append(dtmf_pt)
            sdpmod.keep_formats(audio, keep)
        pc = self._new_pc()
        await pc.setRemoteDescription(RTCSessionDescription(offer.render(), "offer"))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio" and self._sender is None:
                transceiver.sender.replaceTrack(_SilentTrack())
                transceiver.direction = "sendrecv"
                self._sender = transceiver.sender
        await pc.setLocalDescription(await pc.createAnswer())
        answer = sdpmod.Sdp.parse(pc.localDescription.sdp)
        self._learn(answer, dtmf_pt)
        await self._after_remote()
        return self._outgoing(answer)

    async def offer(self, codecs: list[str], direction: str = "sendrecv") -> str:
        pc = self._new_pc()
        transceiver = pc.addTransceiver(_SilentTrack(), direction=direction)
        self._sender = transceiver.sender
        caps = RTCRtpSender.getCapabilities("audio").codecs
        wanted = [c.lower() for c in codecs]
        prefs = [c for w in wanted for c in caps if c.name.lower() == w]
        if prefs:
            transceiver.setCodecPreferences(prefs)
        await pc.setLocalDescription(await pc.createOffer())
        local = sdpmod.Sdp.parse(pc.localDescription.sdp)
        audio = local.audio()
        assert audio is not None
        sdpmod.add_telephone_event(audio, sdpmod.free_dynamic_pt(audio))
        return self._outgoing(local)

    async def accept_answer(self, answer_sdp: str) -> None:
        if self.pc is None:
            raise sdpmod.SdpError("no offer was made")
        answer = sdpmod.Sdp.parse(answer_sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        audio = answer.audio()
        self._learn(answer, sdpmod.telephone_event_pt(audio) if audio else None)
        await self._after_remote()

    def _learn(self, desc: sdpmod.Sdp, dtmf_pt: int | None) -> None:
        audio = desc.audio()
        if audio is None:
            return
        codecs = [c for c in audio.codecs() if c.key not in ("telephone-event", "rtx", "red",
                                                             "cn")]
        if not codecs:
            return
        first = codecs[0]
        if dtmf_pt is not None and dtmf_pt not in audio.formats:
            sdpmod.add_telephone_event(audio, dtmf_pt)
        self.audio = AudioFormat(first.pt, first.name, first.rate, first.channels, dtmf_pt)
        self._audio_pts = {c.pt for c in audio.codecs()}

    async def _after_remote(self) -> None:
        self._remote_set = True
        assert self.pc is not None
        for transceiver in self.pc.getTransceivers():
            dtls = transceiver.receiver.transport
            if dtls is not None and dtls is not self._dtls:
                self._dtls = dtls
                dtls._handle_rtp_data = self._on_rtp_data  # type: ignore[method-assign]
        pending, self._pending = self._pending, []
        for cand in pending:
            await self.add_candidate(cand)

    def _outgoing(self, desc: sdpmod.Sdp) -> str:
        text = desc.render()
        if not self._nat_1_1:
            return text
        lines = []
        for line in text.split("\r\n"):
            if line.startswith("a=candidate:"):
                fields = line.split(" ")
                if len(fields) > 7 and fields[7] == "host" and (
                        not self._host_addresses or fields[4] in self._host_addresses):
                    fields[4] = self._nat_1_1
                    line = " ".join(fields)
            elif line.startswith("c=IN IP4 ") and not line.endswith("0.0.0.0"):
                line = f"c=IN IP4 {self._nat_1_1}"
            lines.append(line)
        return "\r\n".join(lines)

    async def add_candidate(self, cand: dict[str, Any] | None) -> None:
        """A trickled candidate (``{"candidate", "sdpMid", "sdpMLineIndex"}``) or end (None)."""
        if self.pc is None or not self._remote_set:
            if cand is not None:
                self._pending.append(cand)
            return
        if cand is None or cand.get("completed"):
            await self.pc.addIceCandidate(None)
            return
        text = cand.get("candidate")
        if not isinstance(text, str) or not text:
            await self.pc.addIceCandidate(None)
            return
        candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:")
                                       else text)
        candidate.sdpMid = cand.get("sdpMid")
        index = cand.get("sdpMLineIndex")
        candidate.sdpMLineIndex = index if isinstance(index, int) else None
        if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
            candidate.sdpMLineIndex = 0
        await self.pc.addIceCandidate(candidate)

    # --- RTP -------------------------------------------------------------------------
    def _install_fast_path(self) -> None:
        """Once connected, take SRTP datagrams straight from the ICE sockets (no STUN parse,
        no queue, no task switch) and send through the nominated pair's socket. The
        browser's SRTCP reports are counted and dropped: nothing here uses them (loss and
        the receiving state come from the RTP itself), and handing each to aiortc costs a
        task wake-up, a decryption and a Python parse."""
        dtls = self._dtls
        if dtls is None:
            return
        conn = getattr(dtls.transport, "_connection", None)
        if conn is None:
            return
        self._ice = conn
        for protocol in list(getattr(conn, "_protocols", [])):
            if type(protocol) is not StunProtocol:
                continue
            original = protocol.datagram_received

            def fast(data: bytes, addr: Any, original: Any = original) -> None:
                if len(data) > 12 and 127 < data[0] < 192:
                    if 191 < data[1] < 224:  # SRTCP
                        self.rtcp_in += 1
                        return
                    srtp = dtls._rx_srtp
                    if srtp is not None:
                        try:
                            plain = srtp.unprotect(data)
                        except Exception:
                            return
                        self._deliver(plain)
                        return
                original(data, addr)

            protocol.datagram_received = fast  # type: ignore[method-assign]

    def _deliver(self, data: bytes) -> None:
        if len(data) < 12 or (data[1] & 0x7F) not in self._audio_pts:
            return
        self.packets_in += 1
        self.bytes_in += len(data)
        seq = (data[2] << 8) | data[3]
        if self._next_seq is not None:
            gap = (seq - self._next_seq) & 0xFFFF
            if 0 < gap < 1000:
                self.lost_in += gap
        if self._next_seq is None or ((seq - self._next_seq) & 0xFFFF) < 0x8000:
            self._next_seq = (seq + 1) & 0xFFFF
        self.last_in = time.monotonic()
        if not self._receiving:
            self._receiving = True
            if self._on_media:
                self._on_media("audio", True)
        handler = self._handler
        if handler is not None:
            try:
                handler(data)
            except Exception:
                log.exception("RTP handler failed")

    async def _on_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self._deliver(data)

    def watchdog(self, now: float) -> tuple[bool | None, int]:
        """Called about once a second: (new receiving state or None, packets lost since the
        last call) for the core's ``media`` and ``slowlink`` events."""
        change = None
        if self._receiving and self.last_in and now - self.last_in > 1.0:
            self._receiving = False
            change = False
        lost, self._lost_reported = self.lost_in - self._lost_reported, self.lost_in
        return change, lost

    def on_rtp(self, handler: RtpHandler | None) -> None:
        self._handler = handler

    def send_rtp(self, packet: bytearray) -> None:
        dtls = self._dtls
        sender = self._sender
        if dtls is None or sender is None or not self._up:
            return
        self._rebaser.apply(packet)
        rewrite_header(packet, ssrc=sender._ssrc)
        ice = self._ice
        pair = ice._nominated.get(1) if ice is not None else None
        srtp = dtls._tx_srtp
        if pair is not None and srtp is not None and type(pair.protocol) is StunProtocol \
                and pair.protocol.transport is not None:
            try:
                pair.protocol.transport.sendto(srtp.protect(bytes(packet)), pair.remote_addr)
            except Exception:
                self.send_failures += 1
                return
            ok = True
        else:
            ok = drive(dtls._send_rtp(bytes(packet)))
        if ok:
            self.packets_out += 1
            self.bytes_out += len(packet)
        else:
            self.send_failures += 1

    def silence(self) -> None:
        """Stop reporting: a leg being replaced must not announce its own end."""
        self._on_up = self._on_media = self._on_down = None
        self._handler = None

    @property
    def connected(self) -> bool:
        return self._up and not self._closed

    def stats(self) -> dict[str, float]:
        return {"packets_in": self.packets_in, "packets_out": self.packets_out,
                "lost_in": self.lost_in, "rtcp_in": self.rtcp_in,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "send_failures": self.send_failures}

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._handler = None
        if self.pc is not None:
            try:
                await self.pc.close()
            except Exception:
                log.debug("error closing peer connection", exc_info=True)
