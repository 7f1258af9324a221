"""The plain RTP leg towards the SIP side and the payload relay to the WebRTC leg.

One UDP socket per call (in ``rtp_port_range`` on ``local_ip``). Packets are relayed without
decoding: only the payload type (the two legs may number the same codec differently), the SSRC
and, towards SIP, any WebRTC header extension are rewritten. The remote address comes from the
SDP; media is accepted only from it, or from the one source a peer behind NAT proves in a short
learning window, which then becomes the remote (strict, symmetric RTP:
:mod:`webfon.rtp.strict`). Packets from anyone else are dropped and counted in
:data:`DROPPED` (``rtp_dropped_total`` in ``/metrics``).

RTCP shares the RTP socket: our SDP names the RTP port in ``a=rtcp`` (RFC 3605), and what
arrives there with an RTCP packet type is read (the peer's sender reports, for the delay
since the last one in ours). Every five seconds or so (RFC 3550's interval, randomised) the
leg sends its own report: a sender report of what it relayed to SIP with a reception report
of what it received, so the relays and phones on the path can measure loss and round trip.

With media workers, the leg's socket is handed to the worker relaying its WebRTC leg
(:meth:`RtpLeg.offload`): the same class then runs there, on the same socket, while the one in
the gateway keeps the call's view of it (configuration changes are passed on, counters come
back twice a second, RFC 4733 packets from SIP come back for the plugin's DTMF events).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from dataclasses import dataclass
from typing import Any

from gateway.media import sip_rtcp
from gateway.media.bridge import MediaBridge
from gateway.media.ports import PortAllocator, set_socket_buffers
from webfon.rtp.packet import HEADER_SIZE, is_rtcp, rewrite_header
from webfon.rtp.stats import ReceiverStats
from webfon.rtp.strict import (
    DEFAULT_PROBATION,
    DEFAULT_WINDOW_S,
    Admit,
    StrictSource,
)

log = logging.getLogger("gateway.rtp")

RTCP_INTERVAL = [5.0]
"""Seconds between our RTCP reports (RFC 3550's 5 s minimum; randomised ×0.5-1.5; the
first after half of it): the ``rtcp_interval_s`` setting, for every leg of this process."""


@dataclass
class StrictConfig:
    """Strict RTP settings of this process (``strict_rtp*`` gateway settings)."""

    enabled: bool = True
    window: float = DEFAULT_WINDOW_S
    probation: int = DEFAULT_PROBATION

    def new(self) -> StrictSource:
        return StrictSource(window=self.window, probation=self.probation,
                            enabled=self.enabled)


STRICT = StrictConfig()
DROPPED = [0]
"""RTP packets refused by strict RTP in this process (legs relayed by media workers
included, as they report); a one-element list so every module sees the same count."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, leg: RtpLeg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.leg._from_sip(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


class RtpLeg:
    """Relays between a SIP peer's RTP and a :class:`MediaBridge` (the WebRTC leg)."""

    def __init__(self, allocator: PortAllocator | None, host: str) -> None:
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
        self._send_enabled = True  # towards SIP (hold with sendonly/inactive stops it)
        self._recv_enabled = True  # towards the browser
        self.stats = ReceiverStats(8000)
        self.packets_from_sip = 0
        self.packets_to_sip = 0
        self.strict = STRICT.new()
        self._dropped_base = 0
        self.started = time.monotonic()
        self.dtmf_listener: Any = None  # fn(payload, timestamp, marker) for RFC 4733 from SIP
        self.sip_dtmf_pt: int | None = None
        self._transcoder: Any = None  # OpusG711Transcoder when the browser refused G.711
        self.transcoded = 0
        # in a media worker: where the relay runs, our id there, what it reported last
        self.worker: Any = None
        self.endpoint = 0
        self._spare_fd = -1  # our copy of the socket while a worker relays on it
        self._base = (0, 0, 0)
        self._remote_lost = 0
        self._remote_jitter = 0.0
        self.rtcp_port: int | None = None  # the peer's RTCP port when its SDP names one
        self.rtcp_in = 0
        self.rtcp_out = 0
        self.rtcp_interval = RTCP_INTERVAL[0]
        self._rtcp_timer: asyncio.TimerHandle | None = None

    # --- settings the relay follows (passed on to a media worker) -----------------------
    @property
    def send_enabled(self) -> bool:
        return self._send_enabled

    @send_enabled.setter
    def send_enabled(self, value: bool) -> None:
        if value != self._send_enabled:
            self._send_enabled = value
            self._push()

    @property
    def recv_enabled(self) -> bool:
        return self._recv_enabled

    @recv_enabled.setter
    def recv_enabled(self, value: bool) -> None:
        if value != self._recv_enabled:
            self._recv_enabled = value
            self._push()

    @property
    def transcoder(self) -> Any:
        return self._transcoder

    @transcoder.setter
    def transcoder(self, value: Any) -> None:
        self._transcoder = value
        self._push()

    def relay_state(self) -> dict[str, Any]:
        transcoder = self._transcoder
        return {"remote": self.remote, "rtcp_port": self.rtcp_port,
                "rtcp_interval": self.rtcp_interval,
                "strict": self.strict.snapshot(),
                "to_webrtc": self.to_webrtc,
                "sip_dtmf_pt": self.sip_dtmf_pt, "ssrc": self.ssrc,
                "send_enabled": self._send_enabled, "recv_enabled": self._recv_enabled,
                "transcode": (transcoder.sip_pt, transcoder.opus_pt) if transcoder else None}

    def apply_state(self, state: dict[str, Any]) -> None:
        """In a media worker: take the gateway's settings for this leg."""
        remote = state["remote"]
        self.remote = tuple(remote) if remote is not None else None  # type: ignore[assignment]
        self.rtcp_port = state.get("rtcp_port")
        self.rtcp_interval = state.get("rtcp_interval", self.rtcp_interval)
        snap = state["strict"]
        if self.strict.expected != (tuple(snap[3]) if snap[3] else None) or \
                self.strict.source is None:
            dropped = self.strict.dropped
            self.strict = StrictSource.restore(snap)
            self.strict.dropped = dropped
        self.to_webrtc = dict(state["to_webrtc"])
        self.to_sip = {v: k for k, v in self.to_webrtc.items()}
        self.sip_dtmf_pt = state["sip_dtmf_pt"]
        self.ssrc = state["ssrc"]
        self._send_enabled = state["send_enabled"]
        self._recv_enabled = state["recv_enabled"]
        transcode = state["transcode"]
        current = self._transcoder
        if transcode is None:
            self._transcoder = None
        elif current is None or (current.sip_pt, current.opus_pt) != tuple(transcode):
            from gateway.media.transcode import OpusG711Transcoder

            self._transcoder = OpusG711Transcoder(*transcode)

    def _push(self) -> None:
        if self.worker is not None:
            self.worker.send(("rtp_state", self.endpoint, self.relay_state()))
        elif self.bridge is not None:
            self.bridge.link(self)  # may now go to a worker, or must stay here

    async def open(self) -> int:
        assert self.allocator is not None
        transport, _ = await self.allocator.bind_udp(lambda: _Protocol(self), self.host,
                                                     even=True)
        self.transport = transport  # type: ignore[assignment]
        set_socket_buffers(transport)
        self.port = transport.get_extra_info("sockname")[1]
        self._schedule_rtcp(self.rtcp_interval / 2)
        return self.port

    def configure(self, remote: tuple[str, int] | None, to_webrtc: dict[int, int],
                  sip_dtmf_pt: int | None = None, rtcp_port: int | None = None) -> None:
        if remote is not None and remote != self.strict.expected:
            self.remote = remote  # (the same SDP again keeps a NAT'd source as the remote)
            self.strict.expect(remote)
        self.rtcp_port = rtcp_port
        self.to_webrtc = dict(to_webrtc)
        self.to_sip = {v: k for k, v in to_webrtc.items()}
        self.sip_dtmf_pt = sip_dtmf_pt
        self._push()

    def attach(self, bridge: MediaBridge) -> None:
        old = self.bridge
        self.bridge = bridge
        if old is not None and old is not bridge:
            old.unlink(self)
        bridge.link(self)

    async def adopt(self, sock: socket.socket) -> None:
        """In a media worker: relay on a socket the gateway opened."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self.transport = transport  # type: ignore[assignment]
        self.port = sock.getsockname()[1]
        self._schedule_rtcp(self.rtcp_interval / 2)

    # --- relayed by a media worker ----------------------------------------------------
    def offload(self, worker: Any) -> None:
        """Hand the socket to ``worker``, which relays from now on; we keep a copy of the
        socket (closed with the leg) and the call's view of the relay."""
        transport = self.transport
        assert transport is not None and self.worker is None
        sock = transport.get_extra_info("socket")
        self._spare_fd = os.dup(sock.fileno())
        self.endpoint = worker.register(self)
        worker.send(("open_rtp", self.endpoint, self.relay_state()), [self._spare_fd])
        self.worker = worker
        self._base = (self.packets_from_sip, self.packets_to_sip, max(0, self.stats.lost))
        self._dropped_base = self.strict.dropped
        self._cancel_rtcp()  # the worker reports from now on
        self.transport = None
        transport.close()
        log.debug("RTP leg on port %d relayed by media worker %s", self.port, worker.pid)

    def worker_message(self, op: str, args: tuple[Any, ...]) -> None:
        """What the media worker relaying this leg reports."""
        if op == "stats":
            (from_sip, to_sip, lost, jitter, remote, source, dropped, transcoded), = args
            base_from, base_to, base_lost = self._base
            self.packets_from_sip = base_from + from_sip
            self.packets_to_sip = base_to + to_sip
            self._remote_lost = base_lost + lost
            self._remote_jitter = jitter
            self.remote = tuple(remote) if remote is not None else None  # type: ignore
            self.strict.source = tuple(source) if source is not None else None
            total = self._dropped_base + dropped
            DROPPED[0] += max(0, total - self.strict.dropped)
            self.strict.dropped = max(self.strict.dropped, total)
            self.transcoded = transcoded
        elif op == "dtmf":
            if self.dtmf_listener is not None:
                self.dtmf_listener(args[0])
        elif op == "to_browser":
            bridge = self.bridge
            if bridge is not None and self._recv_enabled:
                bridge.send_rtp(bytearray(args[0]))
        elif op == "gone":
            log.error("the media worker relaying RTP port %d is gone", self.port)
            self.worker = None

    def worker_stats(self) -> tuple[Any, ...]:
        """In a media worker: the counters the gateway mirrors."""
        return (self.packets_from_sip, self.packets_to_sip, max(0, self.stats.lost),
                self.stats.jitter_ms, self.remote, self.strict.source, self.strict.dropped,
                self.transcoded)

    @property
    def lost_from_sip(self) -> int:
        return self._remote_lost if self.worker is not None else max(0, self.stats.lost)

    # --- RTCP ---------------------------------------------------------------------------
    def _schedule_rtcp(self, delay: float) -> None:
        self._cancel_rtcp()
        loop = asyncio.get_running_loop()
        self._rtcp_timer = loop.call_later(delay * (0.5 + random.random()), self._rtcp_tick)

    def _cancel_rtcp(self) -> None:
        if self._rtcp_timer is not None:
            self._rtcp_timer.cancel()
            self._rtcp_timer = None

    def _rtcp_tick(self) -> None:
        self._rtcp_timer = None
        if self.transport is None:
            return
        self._schedule_rtcp(self.rtcp_interval)
        if self.remote is not None:
            self.send_rtcp_report()

    def rtcp_report(self) -> bytes:
        """Our compound report (:func:`gateway.media.sip_rtcp.report`)."""
        return sip_rtcp.report(self.ssrc, self.packets_to_sip, self.stats)

    def send_rtcp_report(self) -> None:
        transport, remote = self.transport, self.remote
        if transport is None or remote is None:
            return
        port = self.rtcp_port or remote[1] + 1
        try:
            transport.sendto(self.rtcp_report(), (remote[0], port))
        except OSError:
            return
        self.rtcp_out += 1

    def _rtcp_from_sip(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if not self.strict.rtcp_ok(addr):
            return
        self.rtcp_in += 1
        sip_rtcp.read_peer_report(data, self.ssrc, self.stats)

    # --- SIP -> browser -----------------------------------------------------------------
    def _from_sip(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) < HEADER_SIZE:
            return
        if is_rtcp(data):
            self._rtcp_from_sip(data, addr)
            return
        strict = self.strict
        if addr != strict.source:  # the only per-packet check: a tuple compare
            if strict.admit(data, addr) is Admit.DROP:
                DROPPED[0] += 1   # (in a media worker, the leg's count goes back in stats)
                return
            self.remote = (addr[0], addr[1])  # symmetric RTP: answer the accepted source
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
        if self.worker is not None:  # its WebRTC leg is relayed here, this leg there
            self.worker.send(("from_browser", self.endpoint, data))
            return
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
        if self.worker is not None:
            self.worker.send(("rtp_send_raw", self.endpoint, bytes(packet)))
            return
        if self.transport is not None and self.remote is not None:
            buf = bytearray(packet)
            rewrite_header(buf, ssrc=self.ssrc)
            self.transport.sendto(buf, self.remote)
            self.packets_to_sip += 1

    def describe(self) -> dict[str, Any]:
        info = {"local_port": self.port, "remote": list(self.remote) if self.remote else None,
                "strict_rtp": self.strict.describe(),
                "packets_from_sip": self.packets_from_sip,
                "packets_to_sip": self.packets_to_sip, "lost_from_sip": self.lost_from_sip,
                "transcoding": self._transcoder is not None,
                "jitter_ms": round(self.jitter_ms(), 2), "rtcp_in": self.rtcp_in,
                "rtcp_out": self.rtcp_out}
        if self.worker is not None:
            info["media_worker"] = self.worker.pid
        return info

    def jitter_ms(self) -> float:
        return self._remote_jitter if self.worker is not None else self.stats.jitter_ms

    def close(self) -> None:
        self._cancel_rtcp()
        if self.bridge is not None:
            self.bridge.unlink(self)
            self.bridge = None
        if self.worker is not None:
            self.worker.send(("close", self.endpoint))
            self.worker.forget(self.endpoint)
            self.worker = None
        if self._spare_fd >= 0:
            os.close(self._spare_fd)
            self._spare_fd = -1
        if self.transport is not None:
            self.transport.close()
            self.transport = None
