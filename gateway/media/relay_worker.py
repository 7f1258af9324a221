"""A media worker process: relays calls' audio on sockets the gateway handed over.

``python -m gateway.media.relay_worker FD [LEVEL] [FORMAT]`` — started by
:class:`gateway.media.workers.MediaWorker` with one end of its channel inherited as ``FD``
(logging as the gateway's, at LEVEL in FORMAT). It holds two kinds of endpoint, each on a
socket the gateway opened:

- a WebRTC endpoint: the nominated ICE socket of a call's peer connection, with the SRTP
  keys; SRTP is relayed here (:class:`~gateway.media.srtp_stream.SrtpStream`), anything else
  (STUN consent checks, DTLS) goes back to the gateway, where aiortc answers it;
- an RTP endpoint: the plain RTP socket towards SIP, run by the same
  :class:`~gateway.media.rtp_leg.RtpLeg` code as in the gateway.

A linked pair relays packets without leaving this process. Counters go back twice a second;
RFC 4733 packets from SIP go back for the plugin's DTMF events. The worker ends when its
channel closes (the gateway stopped or died).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from typing import Any

from pylibsrtp import Policy, Session

from gateway.media.channel import Channel
from gateway.media.rtp_leg import RtpLeg
from gateway.media.srtp_stream import SrtpStream
from webfon.logsetup import setup_logging
from webfon.rtp.rebase import StreamRebaser

log = logging.getLogger("gateway.media.worker")

STATS_INTERVAL_S = 0.5
MAX_PASSED_BACK = 16384  # larger than any STUN or DTLS record a peer sends here


def srtp_session(profile: int, key: bytes, inbound: bool) -> Session:
    policy = Policy(key=key, srtp_profile=profile,
                    ssrc_type=Policy.SSRC_ANY_INBOUND if inbound else Policy.SSRC_ANY_OUTBOUND)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return Session(policy)


class _IceSocket(asyncio.DatagramProtocol):
    """The WebRTC endpoint's socket: SRTP to the stream, the rest back to the gateway."""

    def __init__(self, endpoint: WebRtcEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        endpoint = self.endpoint
        if not endpoint.stream.receive(data) and len(data) <= MAX_PASSED_BACK:
            endpoint.worker.send(("datagram", endpoint.id, data, addr))

    def error_received(self, exc: Exception) -> None:
        log.debug("ICE socket error: %s", exc)


class WebRtcEndpoint:
    def __init__(self, worker: RelayWorker, endpoint: int, state: dict[str, Any]) -> None:
        self.worker = worker
        self.id = endpoint
        self.remote = tuple(state["remote"])
        stream = SrtpStream(set(state["audio_pts"]), state["ssrc"],
                            StreamRebaser.from_state(tuple(state["rebaser"])))
        stream.rx = srtp_session(state["profile"], state["rx_key"], inbound=True)
        stream.tx = srtp_session(state["profile"], state["tx_key"], inbound=False)
        stream.on_resume = lambda: worker.send(("resume", endpoint))
        stream.watch.clock_rate = state.get("clock_rate", 8000)
        self.stream = stream
        self.transport: asyncio.DatagramTransport | None = None
        self.linked: RtpLeg | None = None

    async def open(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _IceSocket(self), sock=sock)
        self.transport = transport  # type: ignore[assignment]
        remote = self.remote
        self.stream.send_datagram = lambda data: transport.sendto(data, remote)

    # the bridge an RtpLeg sees (MediaBridge's relay half)
    def link(self, leg: RtpLeg) -> None:
        self.linked = leg
        self.stream.handler = leg._from_webrtc

    def unlink(self, leg: RtpLeg) -> None:
        if self.linked is leg:
            self.linked = None
            self.stream.handler = None

    def send_rtp(self, packet: bytearray) -> None:
        self.stream.send_rtp(packet)

    def sendto(self, data: bytes, addr: Any) -> None:
        if self.transport is not None:
            self.transport.sendto(data, tuple(addr) if addr is not None else self.remote)

    def stats(self) -> dict[str, Any]:
        return self.stream.counters()

    def detach(self) -> None:
        """Stop relaying with the linked RTP leg, which is left without a bridge."""
        leg = self.linked
        if leg is not None:
            leg.bridge = None
            self.unlink(leg)

    def close(self) -> None:
        self.detach()
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class GatewayBridge:
    """The bridge of an RTP endpoint whose WebRTC leg is relayed by the gateway itself (not
    connected yet, or on a TURN relay): packets cross the channel."""

    def __init__(self, worker: RelayWorker, endpoint: int) -> None:
        self.worker = worker
        self.endpoint = endpoint

    def link(self, leg: RtpLeg) -> None:
        return None

    def unlink(self, leg: RtpLeg) -> None:
        return None

    def send_rtp(self, packet: bytearray) -> None:
        self.worker.send(("to_browser", self.endpoint, bytes(packet)))


class RelayWorker:
    def __init__(self, sock: socket.socket) -> None:
        self.channel = Channel(sock, self._received, self._closed)
        self.webrtc: dict[int, WebRtcEndpoint] = {}
        self.rtp: dict[int, RtpLeg] = {}
        self.done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    def send(self, message: tuple[Any, ...]) -> None:
        self.channel.send(message)

    def _closed(self) -> None:
        self.done.set()

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
        """Register the endpoint at once (requests about it may follow in the same read);
        its socket joins the loop a moment later."""
        sock = socket.socket(fileno=fds[0])
        for extra in fds[1:]:
            socket.socket(fileno=extra).close()
        sock.setblocking(False)
        opening: Any
        if op == "open_webrtc":
            ice = WebRtcEndpoint(self, endpoint, state)
            self.webrtc[endpoint] = ice
            opening = ice.open(sock)
        else:
            leg = RtpLeg(None, "")
            leg.apply_state(state)
            leg.dtmf_listener = lambda data: self.send(("dtmf", endpoint, bytes(data)))
            self.rtp[endpoint] = leg
            opening = leg.adopt(sock)
        task = asyncio.ensure_future(opening)
        self._tasks.add(task)
        task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media worker could not take a socket over", exc_info=task.exception())

    # --- requests from the gateway -------------------------------------------------------
    def _op_link(self, rtp_endpoint: int, webrtc_endpoint: int) -> None:
        leg = self.rtp.get(rtp_endpoint)
        ice = self.webrtc.get(webrtc_endpoint)
        if leg is not None and ice is not None:
            leg.attach(ice)  # type: ignore[arg-type]

    def _op_link_gateway(self, rtp_endpoint: int) -> None:
        leg = self.rtp.get(rtp_endpoint)
        if leg is not None:
            leg.attach(GatewayBridge(self, rtp_endpoint))  # type: ignore[arg-type]

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
        if leg is not None:
            leg._from_webrtc(data)

    def _op_rtp_send_raw(self, endpoint: int, packet: bytes) -> None:
        leg = self.rtp.get(endpoint)
        if leg is not None:
            leg.send_raw(packet)

    def _op_to_browser(self, endpoint: int, packet: bytes) -> None:
        ice = self.webrtc.get(endpoint)
        if ice is not None:
            ice.send_rtp(bytearray(packet))

    def _op_send(self, endpoint: int, data: bytes, addr: Any) -> None:
        ice = self.webrtc.get(endpoint)
        if ice is not None:
            ice.sendto(data, addr)

    def _op_note_sr(self, endpoint: int, lsr: int, when: float) -> None:
        """The gateway sent the browser a sender report (the round trip is read here)."""
        ice = self.webrtc.get(endpoint)
        if ice is not None:
            ice.stream.watch.note_sender_report(lsr, when)

    def _op_close(self, endpoint: int) -> None:
        ice = self.webrtc.pop(endpoint, None)
        if ice is not None:
            ice.close()
        leg = self.rtp.pop(endpoint, None)
        if leg is not None:
            leg.close()

    # --- reports -----------------------------------------------------------------------
    async def report(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            stats: dict[int, Any] = {e: ice.stats() for e, ice in self.webrtc.items()}
            stats.update({e: leg.worker_stats() for e, leg in self.rtp.items()})
            if stats:
                self.send(("stats", stats))

    async def run(self) -> None:
        reporter = asyncio.create_task(self.report())
        try:
            await self.done.wait()
        finally:
            reporter.cancel()
            for ice in self.webrtc.values():
                ice.close()
            for leg in self.rtp.values():
                leg.close()


async def main(fd: int) -> None:
    loop = asyncio.get_running_loop()
    worker = RelayWorker(socket.socket(fileno=fd))
    loop.add_signal_handler(signal.SIGTERM, worker.done.set)
    await worker.run()


if __name__ == "__main__":
    setup_logging("gateway-media", *(sys.argv[2:4] or ["warning"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
