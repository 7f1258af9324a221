"""One WebRTC caller of the load test: a real peer connection (ICE, DTLS-SRTP) made with aiortc,
Janus signalling over its own WebSocket, and media written and read below aiortc's codecs so
the load generator costs about what the relay does.

Every 20 ms (driven by :class:`loadtest.engine.Engine`) a G.711 caller sends a 160-byte PCMU
packet whose payload carries its send time, the number of the measurement window it belongs to,
the call's index and the packet number (``relay_delay.PAYLOAD_FORMAT``). The far end (a sipp
echo) sends it back through the gateway, so every packet crosses the relay twice; the round trip
goes into the window's histogram. The caller also counts the datagrams on its ICE sockets (the
WebRTC leg) and the plain RTP it decrypts (the size that crossed the SIP leg, since the gateway
relays payloads unchanged).

An Opus caller (``codec="opus"``: the browser offers Opus only, so the gateway transcodes Opus ⇄
G.711) sends real Opus frames of a tone, encoded once per process at 32 kbit/s. The echo comes
back re-encoded by the gateway, so no send time survives: loss is counted from the packets that
came back during the window, jitter from their RTP timestamps (RFC 3550), and there is no round
trip; the SIP leg is counted as G.711 packets (12 + 160 bytes of RTP each).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import random
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aioice.ice import StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from gateway.media.webrtc import drive
from loadtest.histogram import Histogram
from loadtest.janus import JanusClient
from loadtest.relay_delay import PAYLOAD_FORMAT, CallPorts

PAYLOAD = 160  # 20 ms of G.711
G711_RTP = 12 + PAYLOAD
OPUS_RATE = 48000
OPUS_FRAME = 960  # 20 ms at 48 kHz
_opus_frames: list[bytes] = []


def opus_frames() -> list[bytes]:
    """One second of a 440 Hz tone as 20 ms Opus frames (mono, 32 kbit/s), encoded once."""
    if not _opus_frames:
        import av
        import numpy as np

        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = 32000
        codec.sample_rate = OPUS_RATE
        codec.layout = "mono"
        codec.format = "s16"
        codec.time_base = fractions.Fraction(1, OPUS_RATE)
        for i in range(52):
            t = (np.arange(OPUS_FRAME) + i * OPUS_FRAME) / OPUS_RATE
            tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.sample_rate = OPUS_RATE
            frame.pts = i * OPUS_FRAME
            frame.time_base = codec.time_base
            _opus_frames.extend(bytes(p) for p in codec.encode(frame))
    return _opus_frames


class _Silent(MediaStreamTrack):
    kind = "audio"

    async def recv(self) -> Any:
        await asyncio.Event().wait()


@dataclass
class Window:
    """Counters of one measurement window, shared by every call of a worker."""

    number: int
    sent: int = 0
    received: int = 0
    rtt: Histogram = field(default_factory=Histogram)


@dataclass(frozen=True)
class CallTarget:
    """Where and how the callers call."""

    url: str  # the gateway's Janus WebSocket URL
    uri: str  # SIP URI called (the echo)
    plugin: str = "janus.plugin.sip"
    token: str | None = None
    # SIP account: empty username -> a guest (no REGISTER); "{n}" is the caller's index
    username: str = ""
    secret: str = ""
    proxy: str = ""
    codec: str = "pcmu"  # pcmu | opus (the gateway transcodes)
    patience: float = 1.0  # scales the waits for the gateway (a server under valgrind: 10)


class Caller:
    """A browser placing one call through the gateway."""

    def __init__(self, index: int, target: CallTarget, http: aiohttp.ClientSession) -> None:
        self.index = index
        self.target = target
        self.janus = JanusClient(target.url, target.token, http, self._trickle)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.window: Window | None = None  # open window: packets sent count there
        self.rx_window: Window | None = None  # echoes of this window are counted
        self.seq = random.randrange(65536)
        self.seq0 = self.seq
        self.ts = random.randrange(2**32)
        self.packets = 0
        self.ssrc = 0
        self.pt = 0
        self.dtls: Any = None
        self.ice: Any = None
        self.setup_s: float | None = None
        self.opus = target.codec == "opus"
        self.jitter = 0.0  # RFC 3550 interarrival jitter of the echoes, seconds
        self._last_transit: float | None = None
        self.tx_bytes = self.tx_packets = self.rx_bytes = self.rx_packets = 0
        self.rtp_bytes = self.rtp_packets = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        self._remote_set = asyncio.Event()

    # --- signalling -------------------------------------------------------------------

    def _trickle(self, cand: dict[str, Any]) -> None:
        if cand.get("completed"):
            task = asyncio.ensure_future(self.pc.addIceCandidate(None))
        else:
            text = str(cand.get("candidate", ""))
            candidate = candidate_from_sdp(text.split(":", 1)[1]
                                           if text.startswith("candidate:") else text)
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            task = asyncio.ensure_future(self._add_candidate(candidate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _add_candidate(self, candidate: Any) -> None:
        await self._remote_set.wait()
        with contextlib.suppress(Exception):
            await self.pc.addIceCandidate(candidate)

    def _register_body(self) -> dict[str, Any]:
        t = self.target
        if not t.username:
            host = t.uri.split("@", 1)[-1].split(";", 1)[0]
            return {"request": "register", "type": "guest",
                    "username": f"sip:load{self.index}@{host}"}
        body: dict[str, Any] = {"request": "register",
                                "username": t.username.format(n=self.index),
                                "secret": t.secret.format(n=self.index)}
        if t.proxy:
            body["proxy"] = t.proxy
        return body

    async def start(self) -> None:
        """Register, call and wait until media flows; ``setup_s`` is from the ``call`` request
        to the ``accepted`` event."""
        patience = self.target.patience
        await self.janus.connect(self.target.plugin)
        await self.janus.message(self._register_body())
        await self.janus.event("registered", timeout=30.0 * patience)
        transceiver = self.pc.addTransceiver(_Silent(), direction="sendrecv")
        caps = RTCRtpSender.getCapabilities("audio").codecs
        wanted = "opus" if self.opus else "PCMU"
        transceiver.setCodecPreferences([c for c in caps if c.name == wanted])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        started = time.perf_counter()
        await self.janus.message({"request": "call", "uri": self.target.uri},
                                 {"type": "offer", "sdp": self.pc.localDescription.sdp})
        accepted = await self.janus.event("accepted", timeout=30.0 * patience)
        self.setup_s = time.perf_counter() - started
        jsep = accepted["jsep"]
        if self.opus:
            found = re.search(r"a=rtpmap:(\d+) opus/48000", jsep["sdp"], re.IGNORECASE)
            if found is None:
                raise RuntimeError("the gateway did not answer with Opus")
            self.pt = int(found.group(1))
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        self._remote_set.set()
        self.dtls = transceiver.receiver.transport
        self.ssrc = transceiver.sender._ssrc
        self.dtls._handle_rtp_data = self._on_rtp
        for _ in range(int(200 * patience)):
            if self.pc.connectionState == "connected":
                break
            if self.pc.connectionState == "failed":
                raise RuntimeError("ICE/DTLS failed")
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"media not connected within {10 * patience:.0f} s")
        self._fast_path()

    def _fast_path(self) -> None:
        """Read SRTP straight off the ICE sockets and send on the nominated pair (as the
        gateway does), counting the datagrams each way."""
        conn = self.dtls.transport._connection
        self.ice = conn
        for protocol in list(conn._protocols):
            if type(protocol) is not StunProtocol:
                continue
            if protocol.transport is not None:
                protocol.transport = _CountingTransport(protocol.transport, self)
            original = protocol.datagram_received

            def fast(data: bytes, addr: Any, original: Any = original) -> None:
                if self.rx_window is not None:
                    self.rx_bytes += len(data)
                    self.rx_packets += 1
                if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                    srtp = self.dtls._rx_srtp
                    if srtp is not None:
                        with contextlib.suppress(Exception):
                            self._on_plain(srtp.unprotect(data))
                        return
                original(data, addr)

            protocol.datagram_received = fast

    # --- media --------------------------------------------------------------------------

    def send(self, now: float) -> None:
        if self.dtls is None:
            return
        window = self.window
        self.seq = (self.seq + 1) & 0xFFFF
        self.packets += 1
        if self.opus:
            self.ts = (self.ts + OPUS_FRAME) & 0xFFFFFFFF
            frames = opus_frames()
            body = frames[self.packets % len(frames)]
        else:
            self.ts = (self.ts + PAYLOAD) & 0xFFFFFFFF
            body = struct.pack(PAYLOAD_FORMAT, now, window.number if window else 0,
                               self.index, self.packets).ljust(PAYLOAD, b"\xff")
        header = struct.pack("!BBHII", 0x80, self.pt, self.seq, self.ts, self.ssrc)
        pair = self.ice._nominated.get(1) if self.ice is not None else None
        srtp = self.dtls._tx_srtp
        if pair is not None and srtp is not None and type(pair.protocol) is StunProtocol:
            pair.protocol.transport.sendto(srtp.protect(header + body), pair.remote_addr)
            ok = True
        else:
            ok = drive(self.dtls._send_rtp(header + body))
        if ok and window is not None:
            window.sent += 1

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        self._on_plain(data)

    def _on_plain(self, data: bytes) -> None:
        if self.opus:
            self._on_opus(data)
            return
        window = self.rx_window
        if window is None or len(data) < 12 + 12:
            return
        self.rtp_bytes += len(data)
        self.rtp_packets += 1
        start = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10:
            start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
        sent, number = struct.unpack_from("!dI", data, start)
        if number != window.number:
            return
        transit = time.perf_counter() - sent
        window.received += 1
        window.rtt.add(transit)
        if self._last_transit is not None:
            self.jitter += (abs(transit - self._last_transit) - self.jitter) / 16
        self._last_transit = transit

    def _on_opus(self, data: bytes) -> None:
        """Transcoded echo: count it while the window is open; jitter from its timestamp."""
        window = self.window
        if window is None or len(data) < 12:
            return
        window.received += 1
        self.rtp_bytes += G711_RTP  # what crossed the SIP leg for this packet
        self.rtp_packets += 1
        transit = time.perf_counter() - int.from_bytes(data[4:8], "big") / OPUS_RATE
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            if d < 1.0:  # not a timestamp jump (a new stream from the gateway)
                self.jitter += (d - self.jitter) / 16
        self._last_transit = transit

    def reset_counters(self) -> None:
        self.tx_bytes = self.tx_packets = self.rx_bytes = self.rx_packets = 0
        self.rtp_bytes = self.rtp_packets = 0
        self.jitter = 0.0
        self._last_transit = None

    def ports(self) -> CallPorts | None:
        """This call's ICE socket port and first sequence number (for a packet capture)."""
        pair = self.ice._nominated.get(1) if self.ice is not None else None
        if pair is None or pair.protocol.transport is None:
            return None
        port = pair.protocol.transport.get_extra_info("sockname")[1]
        return CallPorts(self.index, int(port), self.seq0)

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.janus.message({"request": "hangup"}), 5)
        await self.janus.close()
        with contextlib.suppress(Exception):
            await self.pc.close()
        for task in list(self._tasks):
            task.cancel()


class _CountingTransport:
    """Wraps a datagram transport and counts what the caller sends through it."""

    def __init__(self, inner: Any, owner: Caller) -> None:
        self._inner = inner
        self._owner = owner

    def sendto(self, data: bytes, addr: Any = None) -> None:
        if self._owner.window is not None:
            self._owner.tx_bytes += len(data)
            self._owner.tx_packets += 1
        self._inner.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
