"""A media worker process: relays calls' audio on sockets the gateway handed over.

``python -m gateway.media.relay_worker FD [LEVEL] [FORMAT]`` — started by
:class:`gateway.media.workers.MediaWorker` with one end of its channel inherited as ``FD``
(logging as the gateway's, at LEVEL in FORMAT). It holds two kinds of endpoint, each on a
socket the gateway opened (:mod:`gateway.media.worker_relay`):

- a WebRTC endpoint: the nominated ICE socket of a call's peer connection, with the SRTP
  keys; SRTP is relayed here, anything else (STUN consent checks, DTLS) goes back to the
  gateway, where aiortc answers it;
- an RTP endpoint: the plain RTP socket towards SIP, with the leg's state
  (:meth:`gateway.media.rtp_leg.RtpLeg.relay_state`).

A linked pair relays packets without leaving this process. Counters go back twice a second;
RFC 4733 packets from SIP go back for the plugin's DTMF events. The worker ends when its
channel closes (the gateway stopped or died), or on SIGTERM.

The process imports only what relaying needs — no asyncio, no numpy, no aiortc (the Opus
transcoder loads them the first time a call needs it) — and runs on a small epoll loop
(:class:`~gateway.media.reactor.Reactor`); its start-up objects are frozen out of the
garbage collector's reach (:func:`gc.freeze`).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from typing import Any

from gateway.media.channel import Channel
from gateway.media.reactor import Reactor
from gateway.media.srtp_inplace import MAX_DATAGRAM, PacketBuffer
from gateway.media.worker_relay import GatewayLink, IceEndpoint, SipEndpoint
from webfon import gcwatch
from webfon.gcwatch import GcWatch
from webfon.logsetup import setup_logging

log = logging.getLogger("gateway.media.worker")

STATS_INTERVAL_S = 0.5


class RelayWorker:
    """The endpoints of one worker and the requests about them from the gateway."""

    def __init__(self, sock: socket.socket, reactor: Reactor) -> None:
        self.reactor = reactor
        self.buffer = PacketBuffer()
        self.channel = Channel(sock, self._received, self._closed, loop=reactor)
        self.webrtc: dict[int, IceEndpoint] = {}
        self.rtp: dict[int, SipEndpoint] = {}
        self.gc = GcWatch()
        self._report = reactor.call_later(STATS_INTERVAL_S, self.report)

    def send(self, message: tuple[Any, ...]) -> None:
        self.channel.send(message)

    def _closed(self) -> None:
        self.reactor.stop()

    def _received(self, message: tuple[Any, ...], fds: list[int]) -> None:
        op, endpoint, *args = message
        if op in ("open_webrtc", "open_rtp"):
            self._open(op, endpoint, args[0], fds)
            return
        for fd in fds:
            socket.socket(fileno=fd).close()
        handler = getattr(self, "_op_" + op, None)
        if handler is None:
            log.error("unknown media worker request %r", op)
            return
        handler(endpoint, *args)

    def _open(self, op: str, endpoint: int, state: dict[str, Any], fds: list[int]) -> None:
        if not fds:
            log.error("media worker request %s without a socket", op)
            return
        sock = socket.socket(fileno=fds[0])
        for extra in fds[1:]:
            socket.socket(fileno=extra).close()
        self._op_close(endpoint)  # (an id is never reused while open; be safe)
        try:
            sock.setblocking(False)
            if op == "open_webrtc":
                ice = IceEndpoint(self, endpoint, state, sock)
                self.webrtc[endpoint] = ice
                self.reactor.add_reader(sock.fileno(), ice.readable)
            else:
                leg = SipEndpoint(self, endpoint, state, sock)
                self.rtp[endpoint] = leg
                self.reactor.add_reader(sock.fileno(), leg.readable)
        except Exception:
            self.webrtc.pop(endpoint, None)
            self.rtp.pop(endpoint, None)
            sock.close()
            raise

    # --- requests from the gateway -------------------------------------------------------
    def _op_link(self, rtp_endpoint: int, webrtc_endpoint: int) -> None:
        leg = self.rtp.get(rtp_endpoint)
        ice = self.webrtc.get(webrtc_endpoint)
        if leg is not None and ice is not None:
            leg.attach(ice)

    def _op_link_gateway(self, rtp_endpoint: int) -> None:
        leg = self.rtp.get(rtp_endpoint)
        if leg is not None:
            leg.attach(GatewayLink(self, rtp_endpoint))

    def _op_unlink(self, webrtc_endpoint: int) -> None:
        ice = self.webrtc.get(webrtc_endpoint)
        if ice is not None:
            ice.detach()

    def _op_rtp_state(self, endpoint: int, state: dict[str, Any]) -> None:
        leg = self.rtp.get(endpoint)
        if leg is not None:
            leg.apply_state(state)

    def _op_from_browser(self, endpoint: int, data: bytes) -> None:
        leg = self.rtp.get(endpoint)
        n = len(data)
        if leg is not None and 12 <= n <= MAX_DATAGRAM:
            self.buffer.data[:n] = data
            leg.from_browser(self.buffer, n)

    def _op_rtp_send_raw(self, endpoint: int, packet: bytes) -> None:
        leg = self.rtp.get(endpoint)
        if leg is not None:
            leg.send_raw(packet)

    def _op_to_browser(self, endpoint: int, packet: bytes) -> None:
        ice = self.webrtc.get(endpoint)
        if ice is not None:
            ice.send_packet(packet)

    def _op_send(self, endpoint: int, data: bytes, addr: Any) -> None:
        ice = self.webrtc.get(endpoint)
        if ice is not None:
            ice.sendto(data, addr)

    def _op_note_sr(self, endpoint: int, lsr: int, when: float) -> None:
        """The gateway sent the browser a sender report (the round trip is read here)."""
        ice = self.webrtc.get(endpoint)
        if ice is not None:
            ice.watch.note_sender_report(lsr, when)

    def _op_close(self, endpoint: int) -> None:
        for table in (self.webrtc, self.rtp):
            found = table.pop(endpoint, None)  # type: ignore[attr-defined]
            if found is not None:
                self.reactor.remove_reader(found.fd)
                found.close()

    # --- reports -----------------------------------------------------------------------
    def report(self) -> None:
        self._report = self.reactor.call_later(STATS_INTERVAL_S, self.report)
        stats: dict[int, Any] = {e: ice.counters() for e, ice in self.webrtc.items()}
        stats.update({e: leg.counters() for e, leg in self.rtp.items()})
        if stats:
            self.send(("stats", stats))
        self.send(("health", 0, self.health()))

    def health(self) -> dict[str, Any]:
        """The worker's own figures: loop wake-ups and ready sockets, garbage collector."""
        reactor = self.reactor
        return {"wakeups": reactor.wakeups, "events": reactor.events,
                "endpoints": len(self.webrtc) + len(self.rtp), **self.gc.figures()}

    def close(self) -> None:
        self._report.cancel()
        for endpoint in [*self.webrtc, *self.rtp]:
            self._op_close(endpoint)
        self.channel.close()
        self.gc.stop()


def main(argv: list[str]) -> int:
    setup_logging("gateway-media", *(argv[2:4] or ["warning"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reactor = Reactor()
    reactor.stop_on_signals(signal.SIGTERM)
    worker = RelayWorker(socket.socket(fileno=int(argv[1])), reactor)
    # what start-up made is never garbage: no collection walks it again
    gcwatch.tune(watch=worker.gc)
    try:
        reactor.run()
    finally:
        worker.close()
        reactor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
