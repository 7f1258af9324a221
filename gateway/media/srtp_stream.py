"""The browser side of the audio relay, per packet: SRTP in, SRTP out, over one ICE socket.

:class:`SrtpStream` holds what a relayed packet needs once the WebRTC connection is up: the
SRTP sessions, the payload types the browser may send, the SSRC aiortc announced and the
rebaser that keeps the outgoing stream continuous. It is used by the WebRTC leg in the main
process and, unchanged, by a media worker process that took the leg's socket over
(:mod:`gateway.media.relay_worker`), so both relay a packet the same way.

The browser's SRTCP is decrypted and read (not the RTP path: about one compound packet a
second): its reception reports on our stream give the loss and jitter the browser sees, and,
echoing the sender reports the gateway sent it (:meth:`RtcpWatch.note_sender_report`), the
round trip (:class:`~webfon.rtp.quality.RtcpWatch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from gateway.media.bridge import RtpHandler
from webfon.rtp.packet import rewrite_header
from webfon.rtp.quality import RtcpWatch
from webfon.rtp.rebase import StreamRebaser

log = logging.getLogger("gateway.webrtc")

QUIET_S = 1.0  # a packet after this long without one means the browser is sending again


class SrtpStream:
    """Receives SRTP datagrams from the browser and sends RTP packets to it, protected."""

    def __init__(self, audio_pts: set[int], ssrc: int = 0,
                 rebaser: StreamRebaser | None = None) -> None:
        self.audio_pts = audio_pts
        self.ssrc = ssrc
        self.rebaser = rebaser or StreamRebaser()
        self.rx: Any = None  # pylibsrtp.Session for what the browser sends
        self.tx: Any = None  # pylibsrtp.Session for what we send
        self.send_datagram: Callable[[bytes], None] | None = None
        self.handler: RtpHandler | None = None
        self.on_resume: Callable[[], None] | None = None  # first packet after a quiet second
        self.packets_in = 0
        self.packets_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.send_failures = 0
        self.rtcp_in = 0
        self.watch = RtcpWatch()
        self.lost_in = 0
        self.last_in = 0.0
        self.first_in_seq: int | None = None
        self.first_out_seq: int | None = None
        self.last_out_seq = 0
        self._next_seq: int | None = None

    def receive(self, data: bytes) -> bool:
        """A datagram from the ICE socket: True when it was SRTP or SRTCP (handled here),
        False for anything else (STUN, DTLS), which belongs to aiortc."""
        if len(data) <= 12 or not 127 < data[0] < 192:
            return False
        if 191 < data[1] < 224:  # SRTCP: the browser's reports
            self.rtcp_in += 1
            self._rtcp(data)
            return True
        rx = self.rx
        if rx is None:
            return False
        try:
            plain = rx.unprotect(data)
        except Exception:
            return True
        self.deliver(plain)
        return True

    def _rtcp(self, data: bytes) -> None:
        rx = self.rx
        if rx is None:
            return
        try:
            plain = rx.unprotect_rtcp(data)
        except Exception:
            return
        self.watch.received(RtcpWatch.parse(plain), time.monotonic())

    def reception(self) -> dict[str, float | None]:
        """What the browser reported receiving from us, and the round trip to it."""
        watch = self.watch
        bases = {self.ssrc: self.first_out_seq} if self.first_out_seq is not None else None
        return {"remote_loss_pct": watch.loss_pct(bases), "remote_jitter_ms": watch.jitter_ms(),
                "rtt_ms": watch.rtt_ms, "reports": watch.reports}

    def deliver(self, data: bytes) -> None:
        """A decrypted RTP packet from the browser."""
        if len(data) < 12 or (data[1] & 0x7F) not in self.audio_pts:
            return
        self.packets_in += 1
        self.bytes_in += len(data)
        seq = (data[2] << 8) | data[3]
        if self._next_seq is None:
            self.first_in_seq = seq
        else:
            gap = (seq - self._next_seq) & 0xFFFF
            if 0 < gap < 1000:
                self.lost_in += gap
        if self._next_seq is None or ((seq - self._next_seq) & 0xFFFF) < 0x8000:
            self._next_seq = (seq + 1) & 0xFFFF
        now = time.monotonic()
        quiet = now - self.last_in > QUIET_S
        self.last_in = now
        if quiet and self.on_resume is not None:
            self.on_resume()
        handler = self.handler
        if handler is not None:
            try:
                handler(data)
            except Exception:
                log.exception("RTP handler failed")

    def prepare(self, packet: bytearray) -> None:
        """Rebase and restamp a packet for the browser (before protection)."""
        self.rebaser.apply(packet)
        rewrite_header(packet, ssrc=self.ssrc)
        seq = (packet[2] << 8) | packet[3]
        if self.first_out_seq is None:
            self.first_out_seq = seq
        self.last_out_seq = seq

    def send_rtp(self, packet: bytearray) -> bool:
        """Protect and send a packet to the browser: False when it could not go out."""
        tx = self.tx
        send = self.send_datagram
        if tx is None or send is None:
            return False
        self.prepare(packet)
        try:
            send(tx.protect(bytes(packet)))
        except Exception:
            self.send_failures += 1
            return False
        self.packets_out += 1
        self.bytes_out += len(packet)
        return True

    def wrapped(self) -> bool:
        """Whether either direction's sequence number went round since the start: SRTP's
        rollover counter is then past 0, which a fresh SRTP session could not know."""
        if self.first_in_seq is not None and self._next_seq is not None and \
                ((self._next_seq - 1) & 0xFFFF) < self.first_in_seq:
            return True
        return self.first_out_seq is not None and self.last_out_seq < self.first_out_seq

    def counters(self) -> dict[str, Any]:
        return {"packets_in": self.packets_in, "packets_out": self.packets_out,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "lost_in": self.lost_in, "rtcp_in": self.rtcp_in,
                "send_failures": self.send_failures, "last_in": self.last_in,
                "reception": self.reception()}
