"""The plain RTP leg towards the SIP side and the payload relay to the WebRTC leg.

One UDP socket per call (in ``rtp_port_range`` on ``local_ip``). Packets are relayed without
decoding: only the payload type (the two legs may number the same codec differently), the SSRC
and, towards SIP, any WebRTC header extension are rewritten. The remote address comes from the
SDP and is latched to the packets' real source (symmetric RTP) when they arrive from elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from gateway.media.bridge import MediaBridge
from gateway.media.ports import PortAllocator, set_socket_buffers
from webfon.rtp.packet import HEADER_SIZE, is_rtcp, rewrite_header
from webfon.rtp.stats import ReceiverStats

log = logging.getLogger("gateway.rtp")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, leg: RtpLeg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.leg._from_sip(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


class RtpLeg:
    """Relays between a SIP peer's RTP and a :class:`MediaBridge` (the WebRTC leg)."""

    def __init__(self, allocator: PortAllocator, host: str) -> None:
        self.allocator = allocator
        self.host = host
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.remote: tuple[str, int] | None = None
        self.bridge: MediaBridge | None = None
        self.ssrc = random.getrandbits(32)
        # payload type maps: SIP pt -> WebRTC pt and back
        self.to_webrtc: dict[int, int] = {}
        self.to_sip: dict[int, int] = {}
        self.send_enabled = True  # towards SIP (hold with sendonly/inactive stops it)
        self.recv_enabled = True  # towards the browser
        self.stats = ReceiverStats(8000)
        self.packets_from_sip = 0
        self.packets_to_sip = 0
        self.latched = False
        self.started = time.monotonic()
        self.dtmf_listener: Any = None  # fn(payload, timestamp, marker) for RFC 4733 from SIP
        self.sip_dtmf_pt: int | None = None
        self.transcoder: Any = None  # OpusG711Transcoder when the browser refused G.711
        self.transcoded = 0

    async def open(self) -> int:
        transport, _ = await self.allocator.bind_udp(lambda: _Protocol(self), self.host,
                                                     even=True)
        self.transport = transport  # type: ignore[assignment]
        set_socket_buffers(transport)
        self.port = transport.get_extra_info("sockname")[1]
        return self.port

    def configure(self, remote: tuple[str, int] | None, to_webrtc: dict[int, int],
                  sip_dtmf_pt: int | None = None) -> None:
        if remote is not None and remote != self.remote:
            self.remote = remote
            self.latched = False
        self.to_webrtc = dict(to_webrtc)
        self.to_sip = {v: k for k, v in to_webrtc.items()}
        self.sip_dtmf_pt = sip_dtmf_pt

    def attach(self, bridge: MediaBridge) -> None:
        self.bridge = bridge
        bridge.on_rtp(self._from_webrtc)

    # --- SIP -> browser -----------------------------------------------------------------
    def _from_sip(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) < HEADER_SIZE or is_rtcp(data):
            return
        if self.remote is None or (not self.latched and (addr[0], addr[1]) != self.remote):
            self.remote = (addr[0], addr[1])
        self.latched = True
        pt = data[1] & 0x7F
        self.packets_from_sip += 1
        seq = (data[2] << 8) | data[3]
        ts = int.from_bytes(data[4:8], "big")
        self.stats.update(seq, ts, time.monotonic(), len(data))
        if pt == self.sip_dtmf_pt and self.dtmf_listener is not None:
            self.dtmf_listener(data)
        bridge = self.bridge
        transcoder = self.transcoder
        if transcoder is not None and pt == transcoder.sip_pt:
            if bridge is not None and self.recv_enabled:
                for packet in transcoder.to_webrtc(data):
                    bridge.send_rtp(bytearray(packet))
                    self.transcoded += 1
            return
        mapped = self.to_webrtc.get(pt)
        if mapped is None:
            return
        if bridge is None or not self.recv_enabled:
            return
        buf = bytearray(data)
        if mapped != pt:
            rewrite_header(buf, payload_type=mapped)
        bridge.send_rtp(buf)

    # --- browser -> SIP -----------------------------------------------------------------
    def _from_webrtc(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or self.remote is None or not self.send_enabled:
            return
        b0 = data[0]
        pt = data[1] & 0x7F
        transcoder = self.transcoder
        if transcoder is not None and pt == transcoder.opus_pt:
            for packet in transcoder.to_sip(data):
                buf = bytearray(packet)
                rewrite_header(buf, ssrc=self.ssrc)
                transport.sendto(buf, self.remote)
                self.packets_to_sip += 1
                self.transcoded += 1
            return
        mapped = self.to_sip.get(pt)
        if mapped is None:
            return
        if b0 & 0x30 or b0 & 0x0F:  # extension, padding or CSRCs: rebuild a plain header
            start = HEADER_SIZE + 4 * (b0 & 0x0F)
            if b0 & 0x10:
                if len(data) < start + 4:
                    return
                start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
            end = len(data) - (data[-1] if b0 & 0x20 else 0)
            if end < start:
                return
            buf = bytearray(data[:HEADER_SIZE])
            buf[0] = 0x80
            buf += data[start:end]
        else:
            buf = bytearray(data)
        rewrite_header(buf, payload_type=mapped, ssrc=self.ssrc)
        transport.sendto(buf, self.remote)
        self.packets_to_sip += 1

    def send_raw(self, packet: bytes) -> None:
        """Send a packet we built (e.g. RFC 4733 events) to the SIP peer."""
        if self.transport is not None and self.remote is not None:
            buf = bytearray(packet)
            rewrite_header(buf, ssrc=self.ssrc)
            self.transport.sendto(buf, self.remote)
            self.packets_to_sip += 1

    def describe(self) -> dict[str, Any]:
        lost = max(0, self.stats.lost)
        return {"local_port": self.port, "remote": list(self.remote) if self.remote else None,
                "packets_from_sip": self.packets_from_sip,
                "packets_to_sip": self.packets_to_sip, "lost_from_sip": lost,
                "transcoding": self.transcoder is not None,
                "jitter_ms": round(self.jitter_ms(), 2)}

    def jitter_ms(self) -> float:
        return self.stats.jitter_ms

    def close(self) -> None:
        if self.bridge is not None:
            self.bridge.on_rtp(None)
            self.bridge = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None
