"""The two ends of a call's relay inside a media worker, packet by packet.

* :class:`IceEndpoint`: the nominated ICE socket of a call's WebRTC leg. SRTP from the browser
  is decrypted and handed to the linked :class:`SipEndpoint`; the browser's SRTCP is decrypted
  and read (about one compound packet a second: its reception reports give the call's quality,
  :class:`~webfon.rtp.quality.RtcpWatch`); anything else
  (STUN consent checks, DTLS) goes back to the gateway, where aiortc answers it. Packets from
  SIP are restamped (:class:`~webfon.rtp.rebase.StreamRebaser`, aiortc's SSRC), encrypted and
  sent to the browser.
* :class:`SipEndpoint`: the plain RTP socket towards SIP, with strict RTP
  (:class:`~webfon.rtp.strict.StrictSource`), receiver statistics, payload type maps, the
  SSRC of the leg, hold (``send_enabled`` / ``recv_enabled``), RFC 4733 packets passed back
  for the plugin's DTMF events and, when the browser refused G.711, the Opus transcoder.

They do per packet what :class:`~gateway.media.srtp_stream.SrtpStream` and
:class:`~gateway.media.rtp_leg.RtpLeg` do in the gateway's own loop (and take those classes'
state, so a leg moves here unchanged), but on the worker's one
:class:`~gateway.media.srtp_inplace.PacketBuffer`: read with ``recvfrom_into``, decrypted,
rewritten, encrypted and sent where it lies, with the arrival time of the reactor's wake-up.

The per-packet methods are written for the interpreter: what a packet needs is prepared
when the state changes (payload type tables, the bound send target, ``None`` for "do not
relay"), the common case is one straight path and everything else (a first packet, a gap,
header extensions, a new source, transcoding) is a call away. ``benchmarks/relay_bench.py``
counts what a packet costs here.
"""

from __future__ import annotations

import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from gateway.media import sip_rtcp
from gateway.media.reactor import Timer
from gateway.media.srtp_inplace import (
    MAX_DATAGRAM,
    SRTCP_UNPROTECT,
    SRTP_PROTECT,
    SRTP_UNPROTECT,
    InPlaceSrtp,
)
from gateway.media.srtp_inplace import PacketBuffer as PacketBuffer
from webfon.rtp.quality import RtcpWatch
from webfon.rtp.rebase import StreamRebaser
from webfon.rtp.stats import ReceiverStats
from webfon.rtp.strict import Admit, StrictSource

log = logging.getLogger("gateway.media.worker")

QUIET_S = 1.0        # a packet after this long without one: the browser sends again
NOT_RELAYED = -1     # payload type tables: this type is dropped
TRANSCODED = -2      # ... this type goes through the Opus transcoder
_header = struct.Struct("!HII").unpack_from  # sequence number, timestamp, SSRC
_ssrc_into = struct.Struct("!I").pack_into


class Clock(Protocol):
    now: float  # the time of the loop's last wake-up (monotonic)


class Host(Protocol):
    """What the endpoints need of the worker that holds them."""

    buffer: PacketBuffer
    reactor: Clock

    def send(self, message: tuple[Any, ...]) -> None: ...


def pt_table(mapping: dict[int, int]) -> list[int]:
    """A payload type map as a 128-entry list (:data:`NOT_RELAYED` elsewhere)."""
    table = [NOT_RELAYED] * 128
    for src, dst in mapping.items():
        table[int(src) & 0x7F] = int(dst) & 0x7F
    return table


class IceEndpoint:
    """The browser's side of a relayed call (see the module docstring)."""

    __slots__ = (
        "_cell",
        "_next_seq",
        "_ptr",
        "_recv",
        "_restamp",
        "_rx",
        "_send",
        "_to_sip",
        "_tx",
        "_views",
        "buffer",
        "bytes_in",
        "bytes_out",
        "clock",
        "data",
        "first_out_seq",
        "host",
        "id",
        "last_in",
        "linked",
        "lost_in",
        "packets_in",
        "packets_out",
        "pts",
        "rebaser",
        "remote",
        "rtcp_in",
        "rx",
        "send_failures",
        "sock",
        "srtp_failures",
        "ssrc",
        "tx",
        "watch",
    )

    def __init__(self, host: Host, endpoint: int, state: dict[str, Any],
                 sock: socket.socket) -> None:
        self.host = host
        self.clock = host.reactor
        self.id = endpoint
        self.sock = sock
        self._recv = sock.recvfrom_into
        self._send = sock.sendto
        buf = self.buffer = host.buffer
        self.data = buf.data
        self._ptr = buf.ptr
        self._views = buf.views
        self.remote = tuple(state["remote"])
        profile = state["profile"]
        self.rx = InPlaceSrtp(profile, state["rx_key"], inbound=True)
        self.tx = InPlaceSrtp(profile, state["tx_key"], inbound=False)
        self._rx, self._tx, self._cell = self.rx.ctx, self.tx.ctx, self.rx.cell
        self.pts = [False] * 128
        for pt in state["audio_pts"]:
            self.pts[int(pt) & 0x7F] = True
        self.ssrc = int(state["ssrc"]) & 0xFFFFFFFF
        self.rebaser = StreamRebaser.from_state(tuple(state["rebaser"]))
        self._restamp = self.rebaser.restamp
        self.linked: SipEndpoint | None = None
        self._to_sip: Callable[[int], None] | None = None
        self.packets_in = 0
        self.packets_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.send_failures = 0
        self.srtp_failures = 0
        self.rtcp_in = 0
        self.lost_in = 0
        self.last_in = 0.0
        self._next_seq = -1
        self.watch = RtcpWatch()
        self.watch.clock_rate = int(state.get("clock_rate", 8000))
        first = state.get("first_out_seq")
        self.first_out_seq: int | None = None if first is None else int(first)

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    # --- from the browser ---------------------------------------------------------------
    def readable(self) -> None:
        data = self.data
        try:
            n, addr = self._recv(data, MAX_DATAGRAM)
        except OSError as exc:
            if not isinstance(exc, BlockingIOError | InterruptedError):
                log.debug("ICE socket error: %s", exc)
            return
        if n <= 12 or data[0] >> 6 != 2 or n >= MAX_DATAGRAM:
            self._not_srtp(n, addr)
            return
        b1 = data[1]
        if 191 < b1 < 224:  # SRTCP: the browser's reports
            self.rtcp_in += 1
            self._rtcp(n)
            return
        cell = self._cell
        cell[0] = n
        if SRTP_UNPROTECT(self._rx, self._ptr, cell):
            self.srtp_failures += 1
            return
        if not self.pts[b1 & 0x7F]:
            return
        n = cell[0]
        self.packets_in += 1
        self.bytes_in += n
        seq = (data[2] << 8) | data[3]
        if seq == self._next_seq:
            self._next_seq = (seq + 1) & 0xFFFF
        else:
            self._sequence_moved(seq)
        now = self.clock.now
        if now - self.last_in > QUIET_S:
            self.host.send(("resume", self.id))
        self.last_in = now
        to_sip = self._to_sip
        if to_sip is not None:
            to_sip(n)

    def _rtcp(self, n: int) -> None:
        cell = self._cell
        cell[0] = n
        if SRTCP_UNPROTECT(self._rx, self._ptr, cell):
            self.srtp_failures += 1
            return
        self.watch.received(RtcpWatch.parse(bytes(self.buffer.view(cell[0]))),
                            time.monotonic())

    def _sequence_moved(self, seq: int) -> None:
        """Not the next sequence number: the first packet, a gap (counted lost) or a late
        or repeated one (ignored)."""
        expected = self._next_seq
        if expected < 0:
            self._next_seq = (seq + 1) & 0xFFFF
            return
        gap = (seq - expected) & 0xFFFF
        if gap < 0x8000:
            if gap < 1000:
                self.lost_in += gap
            self._next_seq = (seq + 1) & 0xFFFF

    def _not_srtp(self, n: int, addr: Any) -> None:
        """STUN, DTLS (or a datagram too long to be ours): aiortc's, in the gateway."""
        if n < MAX_DATAGRAM:
            self.host.send(("datagram", self.id, bytes(self.buffer.view(n)), addr))

    # --- to the browser -----------------------------------------------------------------
    def to_browser(self, n: int, seq: int, ts: int, ssrc: int) -> None:
        """Restamp, encrypt and send the RTP packet of length ``n`` in the buffer (its
        payload type is the browser's already; ``seq``, ``ts``, ``ssrc``: its header's)."""
        data = self.data
        self._restamp(data, seq, ts, ssrc, self.ssrc)
        if self.first_out_seq is None:  # the stream the browser's reports count from
            self.first_out_seq = (data[2] << 8) | data[3]
        cell = self._cell
        cell[0] = n
        if SRTP_PROTECT(self._tx, self._ptr, cell):
            self.send_failures += 1
            return
        length = cell[0]
        try:
            self._send(self._views[length] or self.buffer.view(length), self.remote)
        except OSError:
            self.send_failures += 1
            return
        self.packets_out += 1
        self.bytes_out += n

    def send_packet(self, packet: bytes) -> None:
        """An RTP packet the gateway sends the browser (its own, not relayed from SIP)."""
        n = len(packet)
        if 12 <= n <= MAX_DATAGRAM:
            self.data[:n] = packet
            self.to_browser(n, *_header(self.data, 2))

    def sendto(self, data: bytes, addr: Any) -> None:
        """aiortc's STUN, DTLS and RTCP, sent by the gateway through this socket."""
        try:
            self._send(data, tuple(addr) if addr is not None else self.remote)
        except OSError as exc:
            log.debug("ICE socket send failed: %s", exc)

    # --- bookkeeping --------------------------------------------------------------------
    def link(self, leg: SipEndpoint | None) -> None:
        self.linked = leg
        self._to_sip = leg.from_browser if leg is not None else None

    def detach(self) -> None:
        """Stop relaying with the linked RTP endpoint, which is left without a bridge."""
        leg = self.linked
        self.link(None)
        if leg is not None and leg.bridge is self:
            leg.set_bridge(None)

    def counters(self) -> dict[str, Any]:
        """The counters :class:`~gateway.media.srtp_stream.SrtpStream` keeps, for the
        gateway's view of the leg."""
        watch = self.watch
        bases = {self.ssrc: self.first_out_seq} if self.first_out_seq is not None else None
        return {"packets_in": self.packets_in, "packets_out": self.packets_out,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "lost_in": self.lost_in, "rtcp_in": self.rtcp_in,
                "send_failures": self.send_failures, "last_in": self.last_in,
                "reception": {"remote_loss_pct": watch.loss_pct(bases),
                              "remote_jitter_ms": watch.jitter_ms(),
                              "rtt_ms": watch.rtt_ms, "reports": watch.reports}}

    def close(self) -> None:
        self.detach()
        self.sock.close()


class GatewayLink:
    """The bridge of a :class:`SipEndpoint` whose WebRTC leg the gateway relays itself (not
    connected yet, or on a TURN relay): packets cross the channel."""

    __slots__ = ("endpoint", "host")

    def __init__(self, host: Host, endpoint: int) -> None:
        self.host = host
        self.endpoint = endpoint

    def to_browser(self, n: int, seq: int, ts: int, ssrc: int) -> None:
        self.host.send(("to_browser", self.endpoint, bytes(self.host.buffer.view(n))))


class SipEndpoint:
    """The SIP side of a relayed call (see the module docstring)."""

    __slots__ = ("_recv", "_rtcp_timer", "_send", "_send_to", "_source", "_to_browser",
                 "_views", "bridge", "buffer", "clock", "data", "host", "id",
                 "packets_from_sip", "packets_to_sip", "recv_enabled", "remote", "rtcp_in",
                 "rtcp_interval", "rtcp_out", "rtcp_port", "send_enabled", "sip_dtmf_pt",
                 "sock", "ssrc", "stats", "strict", "to_sip", "to_webrtc", "transcoded",
                 "transcoder")

    def __init__(self, host: Host, endpoint: int, state: dict[str, Any],
                 sock: socket.socket) -> None:
        self.host = host
        self.clock = host.reactor
        self.id = endpoint
        self.sock = sock
        self._recv = sock.recvfrom_into
        self._send = sock.sendto
        buf = self.buffer = host.buffer
        self.data = buf.data
        self._views = buf.views
        self.bridge: IceEndpoint | GatewayLink | None = None
        self._to_browser: Callable[[int, int, int, int], None] | None = None
        self.stats = ReceiverStats(8000)
        self.strict = StrictSource()
        self._source: tuple[Any, ...] | None = None
        self.packets_from_sip = 0
        self.packets_to_sip = 0
        self.transcoder: Any = None
        self.transcoded = 0
        self.remote: tuple[Any, ...] | None = None
        self._send_to: tuple[Any, ...] | None = None
        self.to_webrtc = pt_table({})
        self.to_sip = pt_table({})
        self.sip_dtmf_pt = NOT_RELAYED
        self.ssrc = 0
        self.send_enabled = True
        self.recv_enabled = True
        self.rtcp_port: int | None = None
        self.rtcp_interval = 5.0
        self.rtcp_in = 0
        self.rtcp_out = 0
        self._rtcp_timer: Timer | None = None
        self.apply_state(state)
        self._schedule_rtcp(self.rtcp_interval / 2)

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def apply_state(self, state: dict[str, Any]) -> None:
        """The gateway's settings for this leg (:meth:`RtpLeg.relay_state`)."""
        remote = state["remote"]
        self.remote = tuple(remote) if remote is not None else None
        self.rtcp_port = state.get("rtcp_port")
        self.rtcp_interval = float(state.get("rtcp_interval", self.rtcp_interval))
        snap = state["strict"]
        if self.strict.expected != (tuple(snap[3]) if snap[3] else None) or \
                self.strict.source is None:
            dropped = self.strict.dropped
            self.strict = StrictSource.restore(snap)
            self.strict.dropped = dropped
        self._source = self.strict.source
        to_webrtc = {int(k): int(v) for k, v in state["to_webrtc"].items()}
        dtmf = state["sip_dtmf_pt"]
        self.sip_dtmf_pt = int(dtmf) if dtmf is not None else NOT_RELAYED
        self.ssrc = int(state["ssrc"]) & 0xFFFFFFFF
        self.send_enabled = bool(state["send_enabled"])
        self.recv_enabled = bool(state["recv_enabled"])
        transcode = state["transcode"]
        current = self.transcoder
        if transcode is None:
            self.transcoder = None
        elif current is None or (current.sip_pt, current.opus_pt) != tuple(transcode):
            # loaded on first use: codecs and numpy only in a worker that transcodes
            from gateway.media.transcode import OpusG711Transcoder

            self.transcoder = OpusG711Transcoder(*transcode)
        self.to_webrtc = pt_table(to_webrtc)
        self.to_sip = pt_table({v: k for k, v in to_webrtc.items()})
        if self.transcoder is not None:
            self.to_webrtc[self.transcoder.sip_pt & 0x7F] = TRANSCODED
            self.to_sip[self.transcoder.opus_pt & 0x7F] = TRANSCODED
        self._targets()

    def _targets(self) -> None:
        """What the per-packet paths read: where to send (``None``: do not)."""
        self._send_to = self.remote if self.send_enabled else None
        bridge = self.bridge
        self._to_browser = bridge.to_browser if bridge is not None and self.recv_enabled \
            else None

    def set_bridge(self, bridge: IceEndpoint | GatewayLink | None) -> None:
        self.bridge = bridge
        self._targets()

    # --- from SIP -----------------------------------------------------------------------
    def readable(self) -> None:
        data = self.data
        try:
            n, addr = self._recv(data, MAX_DATAGRAM)
        except OSError as exc:
            if not isinstance(exc, BlockingIOError | InterruptedError):
                log.debug("RTP socket error: %s", exc)
            return
        if n < 12 or n >= MAX_DATAGRAM:
            return
        b1 = data[1]
        if 191 < b1 < 224:  # RTCP on the RTP port (RFC 5761; our SDP's a=rtcp names it)
            self._rtcp_from_sip(n, addr)
            return
        if addr != self._source and not self._admit(n, addr):
            return
        pt = b1 & 0x7F
        self.packets_from_sip += 1
        seq, ts, ssrc = _header(data, 2)
        self.stats.update(seq, ts, self.clock.now, n)
        if pt == self.sip_dtmf_pt:
            self.host.send(("dtmf", self.id, bytes(self.buffer.view(n))))
        to_browser = self._to_browser
        if to_browser is None:
            return
        mapped = self.to_webrtc[pt]
        if mapped < 0:
            if mapped == TRANSCODED:
                self._transcode_to_browser(n)
            return
        if mapped != pt:
            data[1] = (b1 & 0x80) | mapped
        to_browser(n, seq, ts, ssrc)

    def _admit(self, n: int, addr: tuple[Any, ...]) -> bool:
        """A packet from another address than the accepted source: strict RTP decides."""
        strict = self.strict
        if strict.admit(self.buffer.view(n), addr) is Admit.DROP:
            return False
        self._source = strict.source
        self.remote = (addr[0], addr[1])  # symmetric RTP: answer the accepted source
        self._targets()
        return True

    def _transcode_to_browser(self, n: int) -> None:
        for out in self.transcoder.to_webrtc(bytes(self.buffer.view(n))):
            to_browser = self._to_browser
            if to_browser is None or len(out) > MAX_DATAGRAM:
                return
            self.data[:len(out)] = out
            to_browser(len(out), *_header(self.data, 2))
            self.transcoded += 1

    # --- from the browser ---------------------------------------------------------------
    def from_browser(self, n: int) -> None:
        """A decrypted RTP packet from the browser, of length ``n`` in the buffer: to the
        SIP peer with our payload type and SSRC and a plain header."""
        remote = self._send_to
        if remote is None:
            return
        data = self.data
        b1 = data[1]
        mapped = self.to_sip[b1 & 0x7F]
        if mapped < 0:
            if mapped == TRANSCODED:
                self._transcode_to_sip(n)
            return
        if data[0] != 0x80:  # extension, padding or CSRCs: dropped
            self._send_plain(n, (b1 & 0x80) | mapped, remote)
            return
        data[1] = (b1 & 0x80) | mapped
        _ssrc_into(data, 8, self.ssrc)
        try:
            self._send(self._views[n] or self.buffer.view(n), remote)
        except OSError as exc:
            log.debug("RTP send failed: %s", exc)
            return
        self.packets_to_sip += 1

    def _send_plain(self, n: int, b1: int, remote: tuple[Any, ...]) -> None:
        """Send the packet without WebRTC's header extensions, CSRCs and padding: the fixed
        header moves up to the payload, which stays where it is."""
        data = self.data
        b0 = data[0]
        start = 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10:
            if n < start + 4:
                return
            start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
        end = n - (data[n - 1] if b0 & 0x20 else 0)
        if end < start:
            return
        head = start - 12
        data[head:start] = data[0:12]
        data[head] = 0x80
        data[head + 1] = b1
        _ssrc_into(data, head + 8, self.ssrc)
        try:
            self._send(self.buffer.memory[head:end], remote)
        except OSError as exc:
            log.debug("RTP send failed: %s", exc)
            return
        self.packets_to_sip += 1

    def _transcode_to_sip(self, n: int) -> None:
        for out in self.transcoder.to_sip(bytes(self.buffer.view(n))):
            self.send_raw(out)
            self.transcoded += 1

    def send_raw(self, packet: bytes) -> None:
        """A packet the gateway built (RFC 4733 events), with this leg's SSRC."""
        remote = self.remote
        if remote is None or len(packet) < 12:
            return
        out = bytearray(packet)
        _ssrc_into(out, 8, self.ssrc)
        try:
            self._send(out, remote)
        except OSError as exc:
            log.debug("RTP send failed: %s", exc)
            return
        self.packets_to_sip += 1

    # --- bookkeeping --------------------------------------------------------------------
    def attach(self, bridge: IceEndpoint | GatewayLink) -> None:
        old = self.bridge
        if isinstance(old, IceEndpoint) and old is not bridge:
            old.link(None)
        self.set_bridge(bridge)
        if isinstance(bridge, IceEndpoint):
            bridge.link(self)

    def counters(self) -> tuple[Any, ...]:
        """What :meth:`RtpLeg.worker_message` mirrors (``stats``)."""
        return (self.packets_from_sip, self.packets_to_sip, max(0, self.stats.lost),
                self.stats.jitter_ms, self.remote, self.strict.source, self.strict.dropped,
                self.transcoded)

    # --- RTCP, as :class:`~gateway.media.rtp_leg.RtpLeg` does it -------------------------
    def _schedule_rtcp(self, delay: float) -> None:
        if self._rtcp_timer is not None:
            self._rtcp_timer.cancel()
        self._rtcp_timer = self.clock.call_later(delay * (0.5 + random.random()),
                                                 self._rtcp_tick)

    def _rtcp_tick(self) -> None:
        self._rtcp_timer = None
        self._schedule_rtcp(self.rtcp_interval)
        remote = self.remote
        if remote is None:
            return
        try:
            self._send(sip_rtcp.report(self.ssrc, self.packets_to_sip, self.stats),
                       (remote[0], self.rtcp_port or remote[1] + 1))
        except OSError:
            return
        self.rtcp_out += 1

    def _rtcp_from_sip(self, n: int, addr: tuple[Any, ...]) -> None:
        if not self.strict.rtcp_ok(addr):
            return
        self.rtcp_in += 1
        sip_rtcp.read_peer_report(bytes(self.buffer.view(n)), self.ssrc, self.stats)

    def close(self) -> None:
        if self._rtcp_timer is not None:
            self._rtcp_timer.cancel()
            self._rtcp_timer = None
        bridge = self.bridge
        if isinstance(bridge, IceEndpoint):
            bridge.link(None)
        self.set_bridge(None)
        self.sock.close()
