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
from typing import TYPE_CHECKING, Any

from aioice.ice import StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket
from aiortc.sdp import candidate_from_sdp

from gateway.media.bridge import AudioFormat, RtpHandler
from gateway.media.srtp_stream import SrtpStream
from webfon.rtp.quality import LegQuality, loss_percent
from webfon.rtp.rtcp import ntp_timestamp
from webfon.sip.errors import ParseError
from webfon.sip.sdp import SessionDescription

if TYPE_CHECKING:
    from gateway.media.rtp_leg import RtpLeg
    from gateway.media.workers import MediaWorkers

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


def srtp_keys(dtls: RTCDtlsTransport) -> tuple[int, bytes, bytes]:
    """The libsrtp profile and the (receive, send) master keys with salts of a DTLS
    transport whose handshake completed, derived again from its TLS session (RFC 5764)."""
    selected = dtls._ssl.get_selected_srtp_profile()
    for profile in dtls._srtp_profiles:
        if profile.openssl_profile == selected:
            break
    else:
        raise ValueError("no SRTP profile negotiated")
    material = dtls._ssl.export_keying_material(
        b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length))
    client_key = profile.get_key_and_salt(material, 0)
    server_key = profile.get_key_and_salt(material, 1)
    if dtls._role == "server":
        return profile.libsrtp_profile, client_key, server_key
    return profile.libsrtp_profile, server_key, client_key


class _WorkerTransport:
    """Stands in for the datagram transport of an ICE socket a media worker took over:
    aiortc's STUN, DTLS and RTCP go out through the worker."""

    def __init__(self, worker: Any, endpoint: int, real: Any, protocol: Any) -> None:
        self._worker = worker
        self._endpoint = endpoint
        self._protocol = protocol
        self._extra = {"sockname": real.get_extra_info("sockname")}
        self._closing = False

    def sendto(self, data: bytes, addr: Any = None) -> None:
        if not self._closing:
            self._worker.send(("send", self._endpoint, bytes(data), addr))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class WebRtcLeg:
    """Implements :class:`gateway.media.bridge.MediaBridge` with aiortc."""

    def __init__(self, config: RTCConfiguration, nat_1_1: str = "",
                 host_addresses: list[str] | None = None,
                 on_up: Callable[[], None] | None = None,
                 on_media: Callable[[str, bool], None] | None = None,
                 on_down: Callable[[str], None] | None = None,
                 workers: MediaWorkers | None = None) -> None:
        self._config = config
        self._nat_1_1 = nat_1_1
        self._host_addresses = set(host_addresses or [])
        self._on_up = on_up
        self._on_media = on_media
        self._on_down = on_down
        self.pc: RTCPeerConnection | None = None
        self.audio: AudioFormat | None = None
        self._pending: list[dict[str, Any]] = []
        self._remote_set = False
        self._dtls: RTCDtlsTransport | None = None
        self._ice: Any = None
        self._sender: RTCRtpSender | None = None
        # per packet; its rebaser keeps our stream continuous when the SIP side's changes
        # mid-call (transfer, hold music)
        self.stream = SrtpStream(set())
        self.stream.on_resume = self._resumed
        self._aiortc_receivers: dict[int, Callable[[bytes, Any], None]] = {}
        self._receiving = False
        self._up = False
        self._closed = False
        self._lost_reported = 0
        self._linked: RtpLeg | None = None
        self._workers = workers
        self.worker: Any = None  # the media worker relaying this leg, if any
        self.endpoint = 0
        self._offloaded_protocol: Any = None
        self._remote: dict[str, Any] = {}  # the worker's counters
        self.remote_candidate: tuple[str, int, str] | None = None  # host, port, ICE type

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
        offer = SessionDescription.parse(offer_sdp)
        audio = offer.audio
        if audio is None or not audio.port:
            raise ParseError("the offer has no audio")
        dtmf_pt = audio.telephone_event
        if codecs is not None:
            wanted = [c.lower() for c in codecs]
            offered = audio.codecs
            keep = [c.pt for w in wanted for c in offered if c.key == w]
            if not keep:
                raise ParseError(f"none of {', '.join(codecs)} offered by the browser")
            if dtmf_pt is not None:
                keep.append(dtmf_pt)
            audio.keep_formats(keep)
        pc = self._new_pc()
        await pc.setRemoteDescription(RTCSessionDescription(str(offer), "offer"))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio" and self._sender is None:
                transceiver.sender.replaceTrack(_SilentTrack())
                transceiver.direction = "sendrecv"
                self._sender = transceiver.sender
        await pc.setLocalDescription(await pc.createAnswer())
        answer = SessionDescription.parse(pc.localDescription.sdp)
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
        local = SessionDescription.parse(pc.localDescription.sdp)
        audio = local.audio
        assert audio is not None
        audio.add_telephone_event(audio.free_dynamic_pt())
        return self._outgoing(local)

    async def accept_answer(self, answer_sdp: str) -> None:
        if self.pc is None:
            raise ParseError("no offer was made")
        answer = SessionDescription.parse(answer_sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        audio = answer.audio
        self._learn(answer, audio.telephone_event if audio else None)
        await self._after_remote()

    def _learn(self, desc: SessionDescription, dtmf_pt: int | None) -> None:
        audio = desc.audio
        if audio is None:
            return
        codecs = [c for c in audio.codecs if c.key not in ("telephone-event", "rtx", "red",
                                                           "cn")]
        if not codecs:
            return
        first = codecs[0]
        if dtmf_pt is not None and dtmf_pt not in audio.formats:
            audio.add_telephone_event(dtmf_pt)
        self.audio = AudioFormat(first.pt, first.name, first.rate, first.channels or 1,
                                 dtmf_pt)
        self.stream.audio_pts = {c.pt for c in audio.codecs}
        self.stream.watch.clock_rate = first.rate

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

    def _outgoing(self, desc: SessionDescription) -> str:
        text = str(desc)
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
        browser's SRTCP reports are read by the stream for the call's quality (aiortc would
        cost a task wake-up each), and aiortc's own sender reports are rewritten with what
        the relay sent (:meth:`_report_what_we_send`); loss on arrival and the receiving
        state come from the RTP itself."""
        dtls = self._dtls
        if dtls is None:
            return
        stream = self.stream
        stream.rx, stream.tx = dtls._rx_srtp, dtls._tx_srtp
        if self._sender is not None:
            stream.ssrc = self._sender._ssrc
            self._report_what_we_send(self._sender)
        conn = getattr(dtls.transport, "_connection", None)
        if conn is None:
            return
        self._ice = conn
        pair = conn._nominated.get(1)
        if pair is not None:
            cand = pair.remote_candidate
            self.remote_candidate = (str(cand.host), int(cand.port), str(cand.type))
        if pair is not None and type(pair.protocol) is StunProtocol \
                and pair.protocol.transport is not None:
            protocol, remote = pair.protocol, pair.remote_addr
            stream.send_datagram = lambda data: protocol.transport.sendto(data, remote)
        for protocol in list(getattr(conn, "_protocols", [])):
            if type(protocol) is not StunProtocol:
                continue
            original = protocol.datagram_received
            self._aiortc_receivers[id(protocol)] = original

            def fast(data: bytes, addr: Any, original: Any = original) -> None:
                if not stream.receive(data):
                    original(data, addr)

            protocol.datagram_received = fast  # type: ignore[method-assign]
        self._relink()

    def _report_what_we_send(self, sender: RTCRtpSender) -> None:
        """aiortc sends the sender reports of our stream, but the packets go out below it:
        its reports would say nothing was sent. Each one is rewritten with what this leg
        sent and the time it leaves, which the browser's reports then echo (round trip)."""
        original = sender._send_rtcp

        async def send_rtcp(packets: list[Any]) -> None:
            out = []
            for packet in packets:
                if isinstance(packet, RtcpSrPacket):
                    counters = self.stats()
                    ntp = ntp_timestamp(time.time())
                    packet = RtcpSrPacket(ssrc=packet.ssrc, sender_info=RtcpSenderInfo(
                        ntp_timestamp=ntp, rtp_timestamp=0,
                        packet_count=int(counters["packets_out"]) & 0xFFFFFFFF,
                        octet_count=int(counters["bytes_out"]) & 0xFFFFFFFF),
                        reports=packet.reports)
                    self._sender_report_sent((ntp >> 16) & 0xFFFFFFFF, time.monotonic())
                out.append(packet)
            await original(out)

        sender._send_rtcp = send_rtcp  # type: ignore[method-assign]

    def _sender_report_sent(self, lsr: int, when: float) -> None:
        if self.worker is not None:
            self.worker.send(("note_sr", self.endpoint, lsr, when))
        else:
            self.stream.watch.note_sender_report(lsr, when)

    def quality(self, node: str) -> LegQuality | None:
        """The browser's leg as this gateway saw it (None before it connected): loss on
        arrival, what the browser reported receiving, the round trip, where it is."""
        if not self._up:
            return None
        counters = self.stats()
        remote = self._remote.get("reception") if self.worker is not None else None
        reception = remote or self.stream.reception()
        cand = self.remote_candidate
        return LegQuality(
            node=node, leg="webrtc", address=f"{cand[0]}:{cand[1]}" if cand else "",
            network=cand[2] if cand else "", codec=self.audio.name if self.audio else "",
            srtp=True, rx_packets=int(counters["packets_in"]),
            rx_loss_pct=loss_percent(int(counters["lost_in"]), int(counters["packets_in"])),
            tx_packets=int(counters["packets_out"]),
            remote_loss_pct=reception["remote_loss_pct"],
            remote_jitter_ms=reception["remote_jitter_ms"], rtt_ms=reception["rtt_ms"])

    def _resumed(self) -> None:
        if not self._receiving:
            self._receiving = True
            if self._on_media:
                self._on_media("audio", True)

    async def _on_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self.stream.deliver(data)

    @property
    def lost_in(self) -> int:
        return self.stream.lost_in + self._remote.get("lost_in", 0)

    @property
    def last_in(self) -> float:
        return max(self.stream.last_in, self._remote.get("last_in", 0.0))

    def watchdog(self, now: float) -> tuple[bool | None, int]:
        """Called about once a second: (new receiving state or None, packets lost since the
        last call) for the core's ``media`` and ``slowlink`` events."""
        change = None
        last_in = self.last_in
        if self._receiving and last_in and now - last_in > 1.0:
            self._receiving = False
            change = False
        lost_in = self.lost_in
        lost, self._lost_reported = lost_in - self._lost_reported, lost_in
        return change, lost

    def on_rtp(self, handler: RtpHandler | None) -> None:
        self.stream.handler = handler

    def link(self, leg: RtpLeg) -> None:
        """Relay between this leg and a plain RTP leg: in this process, or both in a media
        worker when there are workers and the connection allows it."""
        self._linked = leg
        self.stream.handler = leg._from_webrtc
        self._relink()

    def unlink(self, leg: RtpLeg) -> None:
        if self._linked is leg:
            self._linked = None
            self.stream.handler = None
            if self.worker is not None:
                self.worker.send(("unlink", self.endpoint))

    def send_rtp(self, packet: bytearray) -> None:
        if self.worker is not None:
            self.worker.send(("to_browser", self.endpoint, bytes(packet)))
            return
        dtls = self._dtls
        if dtls is None or self._sender is None or not self._up:
            return
        if self.stream.send_rtp(packet):
            return
        if self.stream.send_datagram is not None:
            return  # counted as a send failure
        # not a host/srflx pair (TURN): through aiortc's own path
        self.stream.prepare(packet)
        if drive(dtls._send_rtp(bytes(packet))):
            self.stream.packets_out += 1
            self.stream.bytes_out += len(packet)
        else:
            self.stream.send_failures += 1

    # --- media workers ------------------------------------------------------------------
    def _relink(self) -> None:
        """Place the relay with the linked RTP leg: both in one media worker when possible,
        else the RTP leg's packets pass through here."""
        leg = self._linked
        workers = self._workers
        if leg is None or workers is None:
            return
        if leg.worker is None:
            if leg.transport is None:
                return
            if self.worker is None:
                if not self._offloadable():
                    return
                worker = workers.choose()
                if worker is None:
                    return
                self._offload(worker)
            assert self.worker is not None
            leg.offload(self.worker)
        elif self.worker is None and self._offloadable():
            self._offload(leg.worker)
        if self.worker is leg.worker:
            self.worker.send(("link", leg.endpoint, self.endpoint))
        else:
            leg.worker.send(("link_gateway", leg.endpoint))

    def _offloadable(self) -> bool:
        ice = self._ice
        pair = ice._nominated.get(1) if ice is not None else None
        stream = self.stream
        return (self._up and not self._closed and pair is not None
                and type(pair.protocol) is StunProtocol and pair.protocol.transport is not None
                and stream.rx is not None and stream.tx is not None
                and id(pair.protocol) in self._aiortc_receivers and not stream.wrapped())

    def _offload(self, worker: Any) -> None:
        """Hand the nominated pair's socket and the SRTP keys to ``worker``, which relays
        from now on. aiortc stays here: what the worker receives that is not SRTP comes
        back to it, and what it sends goes out through the worker."""
        assert self._ice is not None and self._dtls is not None
        pair = self._ice._nominated[1]
        protocol = pair.protocol
        real = protocol.transport
        profile, rx_key, tx_key = srtp_keys(self._dtls)
        stream = self.stream
        self.endpoint = worker.register(self)
        fd = real.get_extra_info("socket").fileno()
        worker.send(("open_webrtc", self.endpoint, {
            "remote": pair.remote_addr, "profile": profile, "rx_key": rx_key,
            "tx_key": tx_key, "ssrc": stream.ssrc, "audio_pts": sorted(stream.audio_pts),
            "rebaser": stream.rebaser.state(), "clock_rate": stream.watch.clock_rate,
            "first_out_seq": stream.first_out_seq}), [fd])
        self.worker = worker
        self._offloaded_protocol = protocol
        protocol.transport = _WorkerTransport(worker, self.endpoint, real, protocol)
        # close our descriptor (the worker has its own) without aioice hearing of it: to
        # aioice a lost socket is a lost candidate
        real.set_protocol(asyncio.DatagramProtocol())
        real.close()
        log.debug("WebRTC leg relayed by media worker %s", worker.pid)

    def worker_message(self, op: str, args: tuple[Any, ...]) -> None:
        """What the media worker relaying this leg reports."""
        if op == "stats":
            self._remote = args[0]
        elif op == "datagram":
            data, addr = args
            protocol = self._offloaded_protocol
            receive = self._aiortc_receivers.get(id(protocol))
            if receive is not None:
                receive(data, tuple(addr))
        elif op == "resume":
            # The worker's next counters are up to half a second away: until then its last
            # packet time is the one before the silence, and the watchdog would call the
            # browser silent again right after it resumed.
            self._remote = {**self._remote, "last_in": time.monotonic()}
            self._resumed()
        elif op == "gone":
            log.error("the media worker relaying a WebRTC leg is gone")
            self.worker = None
            if self._on_down and not self._closed:
                self._on_down("media worker gone")

    def silence(self) -> None:
        """Stop reporting: a leg being replaced must not announce its own end."""
        self._on_up = self._on_media = self._on_down = None
        self.stream.handler = None

    @property
    def awaiting_answer(self) -> bool:
        """We made an offer that the browser has not answered yet."""
        return self.pc is not None and self.pc.signalingState == "have-local-offer"

    @property
    def negotiated(self) -> bool:
        """Both descriptions are set (the browser's leg got as far as ICE)."""
        return self._remote_set

    @property
    def connected(self) -> bool:
        return self._up and not self._closed

    def stats(self) -> dict[str, float]:
        mine = self.stream.counters()
        remote = self._remote
        stats = {key: mine[key] + remote.get(key, 0)
                 for key in ("packets_in", "packets_out", "lost_in", "rtcp_in", "bytes_in",
                             "bytes_out", "send_failures")}
        if self.worker is not None:
            stats["media_worker"] = self.worker.pid
        return stats

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stream.handler = None
        if self.pc is not None:
            try:
                await self.pc.close()
            except Exception:
                log.debug("error closing peer connection", exc_info=True)
        if self.worker is not None:
            self.worker.send(("close", self.endpoint))
            self.worker.forget(self.endpoint)
            self.worker = None
