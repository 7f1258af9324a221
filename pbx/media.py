"""Media anchored in the PBX: one RTP endpoint per call leg, relayed in pairs.

Each leg of a call gets its own RTP/RTCP port pair from the PBX's range (released pairs are
kept bound for a while and reused, see :class:`~webfon.rtp.RtpPortAllocator`); a :class:`Bridge`
forwards every RTP packet arriving on one leg out of the other leg unchanged (G.711 PCMA/PCMU
and RFC 4733 events pass through), and RTCP likewise. Remote addresses come from SDP; each
leg accepts media only from that negotiated source, or from the one source a phone behind NAT
proves with a few sequential packets in a short learning window (strict RTP, see
:mod:`webfon.rtp.strict`); packets from anyone else are dropped and counted (``rtp_dropped``).
After the window a leg's RTP socket is connected to that source (the kernel refuses the rest,
uncounted, and reads and writes carry no address: see :class:`~webfon.rtp.RtpEndpoint`).
A leg can be detached from the relay to play a prompt or music on hold to it, or to take what
it sends (``sink``: voicemail, a conference's mix, keys pressed); a ``tap`` sees what it sends
without detaching it (call recording).

Once the PBX has sent a leg packets of its own (a prompt, music, ringback, a conference's mix,
keys), what is relayed to that leg afterwards is spliced onto that stream: the leg's SSRC, its
sequence numbers and timestamps continued, the marker bit at each switch, and relayed sender
reports in that SSRC's name. A phone then sees one stream, as from any other single source;
without this, a phone whose jitter buffer does not restart on a new SSRC (baresip) drops every
relayed packet whose sequence number is behind the prompt's. Legs the PBX never played to are
relayed untouched.

A leg that negotiated SDES-SRTP (:meth:`Leg.secure`) has its endpoint unprotect what arrives
and protect what leaves; the relay itself only ever handles plain packets, so SRTP ↔ RTP and
SRTP ↔ SRTP calls need nothing more, and a plain leg's path does not change at all.

Call quality costs the relay nothing per RTP packet: each leg reads only the RTCP passing
through it (:class:`~webfon.rtp.quality.RtcpWatch`: what its endpoint reports receiving, and
the round trip to it from the sender reports relayed to it), and its endpoint's receiver
statistics, kept anyway, give loss and jitter on arrival (:meth:`Leg.quality`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Iterable
from typing import Any

from webfon.rtp import RtpEndpoint, RtpPortAllocator, g711
from webfon.rtp.prompts import prompt
from webfon.rtp.quality import LegQuality, RtcpWatch, loss_percent
from webfon.rtp.srtp import Crypto, SrtpContext
from webfon.rtp.strict import DEFAULT_PROBATION, DEFAULT_WINDOW_S, StrictSource
from webfon.rtp.tones import g711_frames

log = logging.getLogger("pbx.media")

POOL_MAX = 2048
REUSE_AFTER_S = 2.0
"""A released leg's sockets are reused no sooner than this (late packets of the old call)."""

Addr = tuple[str, int]
CODEC_NAMES = {g711.PT_PCMA: "PCMA", g711.PT_PCMU: "PCMU"}


class Leg:
    """The PBX side of one call leg's media."""

    def __init__(self, endpoint: RtpEndpoint, name: str) -> None:
        self.endpoint = endpoint
        self.name = name
        self.peer: Leg | None = None
        self.payload_type: int = g711.PT_PCMA
        self.dtmf_payload_type: int | None = None
        self.muted = False  # True: what arrives here is not relayed (held / on hold)
        self.sink: Any = None  # callable(data) receiving packets while detached (recording)
        self.tap: Any = None  # callable(data) seeing every packet that arrives (call recording)
        self.on_digit: Any = None  # callable(digit) taking SIP INFO digits (PIN entry)
        self._player: asyncio.Task[Any] | None = None
        self.watch = RtcpWatch()
        # splicing what is relayed here onto our own stream (see the module's docstring)
        self._own_base = endpoint.own_sent  # a pooled endpoint's count from earlier calls
        self._splice_source: int | None = None  # the relayed SSRC the offsets are for
        self._splice_own = 0  # endpoint.own_sent when the offsets were taken
        self._seq_offset = 0
        self._ts_offset = 0
        endpoint.on_rtp = self._on_rtp
        endpoint.on_rtcp = self._on_rtcp

    @property
    def port(self) -> int:
        return self.endpoint.port

    def set_remote(self, host: str | None, port: int | None, rtcp_port: int | None = None
                   ) -> None:
        """The address the SDP names: send there and accept media from it (strict RTP);
        RTCP goes to ``rtcp_port`` when the SDP names one (``a=rtcp``, RFC 3605; the RTP
        port itself with ``a=rtcp-mux``), else to the port above RTP."""
        if not host or not port:
            return
        self.endpoint.expect_remote((host, port), rtcp_port)

    # -- SRTP --------------------------------------------------------------------------------
    def secure(self, remote: Crypto | None, local: Crypto | None = None) -> Crypto | None:
        """SRTP on this leg: the peer sends with ``remote``; we send with ``local`` (by
        default the key we already use for that suite and tag, else a new one). None: plain
        RTP. Returns our key (for our SDP)."""
        current = self.endpoint.srtp
        if remote is None:
            if current is not None:
                self.endpoint.enable_srtp(None)
            return None
        if local is None and current is not None and current.local.suite == remote.suite \
                and current.local.tag == remote.tag:
            local = current.local
        local = local or remote.answer()
        if current is None or current.remote != remote or current.local != local:
            self.endpoint.enable_srtp(SrtpContext(local, remote))
        return local

    @property
    def crypto(self) -> Crypto | None:
        """Our key when this leg is SRTP (what our SDP to its party carries)."""
        srtp = self.endpoint.srtp
        return srtp.local if srtp is not None else None

    def _on_rtp(self, ep: RtpEndpoint, data: bytes, addr: Addr) -> None:
        if self.tap is not None:
            self.tap(data)
        if self.sink is not None:
            self.sink(data)
            return
        peer = self.peer
        if peer is None or self.muted or peer._player is not None:
            return
        if peer.endpoint.own_sent != peer._own_base and len(data) >= 12:
            data = peer._spliced(data)
        peer.endpoint.send_raw(data)

    def _spliced(self, data: bytes) -> bytes:
        """A relayed packet for this leg carried on as part of our own stream."""
        ep = self.endpoint
        ssrc = int.from_bytes(data[8:12], "big")
        seq = int.from_bytes(data[2:4], "big")
        ts = int.from_bytes(data[4:8], "big")
        second = data[1]
        if ssrc != self._splice_source or ep.own_sent != self._splice_own:
            # a new source, or we sent something of our own since: continue from there
            self._splice_source, self._splice_own = ssrc, ep.own_sent
            self._seq_offset = (ep.seq - seq) & 0xFFFF
            self._ts_offset = (ep.timestamp - ts) & 0xFFFFFFFF
            second |= 0x80
        seq = (seq + self._seq_offset) & 0xFFFF
        ts = (ts + self._ts_offset) & 0xFFFFFFFF
        ep.seq = (seq + 1) & 0xFFFF
        ep.timestamp = (ts + 160) & 0xFFFFFFFF  # 20 ms on: what we play next follows on
        return b"".join((data[:1], bytes((second,)), seq.to_bytes(2, "big"),
                         ts.to_bytes(4, "big"), ep.ssrc.to_bytes(4, "big"), data[12:]))

    def _on_rtcp(self, ep: RtpEndpoint, data: bytes, addr: Addr) -> None:
        now = time.monotonic()
        packets = RtcpWatch.parse(data)
        self.watch.received(packets, now)
        peer = self.peer
        if peer is not None and not self.muted and self.sink is None:
            peer.watch.sent(packets, now)
            if peer.endpoint.own_sent != peer._own_base and len(data) >= 8 and data[1] == 200:
                # a spliced stream's sender report speaks for our SSRC (the phone's reports
                # then echo it: the round trip stays measured)
                data = data[:4] + peer.endpoint.ssrc.to_bytes(4, "big") + data[8:]
            peer.endpoint.send_rtcp(data)

    # -- prompts and music on hold ---------------------------------------------------------
    def play(self, frames: Iterable[bytes], *, loop: bool = False) -> asyncio.Task[Any]:
        """Send G.711 frames (paced) to this leg instead of relayed audio."""
        self.stop_playing()
        frames = list(frames)

        async def run() -> None:
            while True:
                await self.endpoint.play(frames, self.payload_type)
                if not loop or self.endpoint.closed:
                    return

        self._player = asyncio.ensure_future(run())
        self._player.add_done_callback(self._player_done)
        return self._player

    def _player_done(self, task: asyncio.Task[Any]) -> None:
        if self._player is task:
            self._player = None

    def play_prompt(self, name: str, *, loop: bool = False) -> asyncio.Task[Any]:
        return self.play(g711_frames(prompt(name), self.payload_type), loop=loop)

    @property
    def playing(self) -> bool:
        """Something (a prompt, music) is being played to this leg."""
        return self._player is not None

    def stop_playing(self) -> None:
        task = self._player
        self._player = None
        if task is not None:
            task.cancel()

    async def send_dtmf(self, digit: str) -> None:
        if self.dtmf_payload_type is not None:
            await self.endpoint.send_dtmf(digit, self.dtmf_payload_type)

    def close(self) -> None:
        self.stop_playing()
        if self.peer is not None and self.peer.peer is self:
            self.peer.peer = None
        self.peer = None
        self.endpoint.close()
        # the endpoint's callbacks are this leg's methods: let both go without the GC
        self.endpoint.on_rtp = self.endpoint.on_rtcp = None
        self.sink = self.tap = self.on_digit = None

    def quality(self, node: str, leg: str, network: str) -> LegQuality:
        """This leg's figures (see :mod:`webfon.rtp.quality`): loss and jitter of what
        arrived here, what the endpoint reported about what it received and the round trip
        to it."""
        ep = self.endpoint
        s = ep.stats
        peer = self.peer
        bases: dict[int, int] = {}
        if peer is not None and peer.endpoint.stats is not None:
            bases[peer.endpoint.stats.ssrc] = peer.endpoint.stats.base_seq
        remote = ep.remote_addr
        return LegQuality(
            node=node, leg=leg, address=f"{remote[0]}:{remote[1]}" if remote else "",
            network=network, codec=CODEC_NAMES.get(self.payload_type, str(self.payload_type)),
            srtp=ep.srtp is not None, rx_packets=ep.packets_received,
            rx_loss_pct=loss_percent(s.lost, s.received) if s is not None else None,
            rx_jitter_ms=s.jitter_ms if s is not None and s.received > 1 else None,
            tx_packets=ep.packets_sent, remote_loss_pct=self.watch.loss_pct(bases),
            remote_jitter_ms=self.watch.jitter_ms(), rtt_ms=self.watch.rtt_ms)

    def stats(self) -> dict[str, Any]:
        ep = self.endpoint
        s = ep.stats
        return {"port": ep.port, "remote": f"{ep.remote_addr[0]}:{ep.remote_addr[1]}"
                if ep.remote_addr else "", "received": ep.packets_received,
                "sent": ep.packets_sent, "lost": s.lost if s is not None else 0,
                "dropped": ep.strict.dropped if ep.strict is not None else 0,
                "srtp": ep.srtp.local.suite if ep.srtp is not None else "",
                "srtp_failed": ep.srtp_failed}


def connect(a: Leg, b: Leg) -> None:
    """Relay between two legs (each detached from any previous peer)."""
    for leg in (a, b):
        old = leg.peer
        if old is not None and old.peer is leg:
            old.peer = None
    a.peer, b.peer = b, a


class MediaManager:
    """Allocates legs from the configured port range."""

    def __init__(self, host: str, port_min: int, port_max: int, *,
                 track_stats: bool = True, pool_size: int | None = None,
                 strict_rtp: bool = True, strict_window_s: float = DEFAULT_WINDOW_S,
                 strict_probation: int = DEFAULT_PROBATION) -> None:
        self.host = host
        self.strict_rtp = strict_rtp
        self.strict_window_s = strict_window_s
        self.strict_probation = strict_probation
        if pool_size is None:
            pool_size = default_pool_size(port_min, port_max)
        self.allocator = RtpPortAllocator(port_min, port_max, pool_size=pool_size,
                                          reuse_after=REUSE_AFTER_S)
        self.track_stats = track_stats
        self.legs: set[Leg] = set()
        self.totals: dict[str, int] = {"legs": 0, "received": 0, "sent": 0, "lost": 0,
                                       "expected": 0, "rtp_dropped": 0}

    async def leg(self, name: str) -> Leg:
        strict = StrictSource(window=self.strict_window_s, probation=self.strict_probation,
                              enabled=self.strict_rtp)
        ep = await RtpEndpoint.open(self.host, allocator=self.allocator, rtcp=True,
                                    track_stats=self.track_stats, latch=True, strict=strict)
        leg = Leg(ep, name)
        self.legs.add(leg)
        return leg

    def release(self, leg: Leg | None) -> None:
        if leg is None or leg not in self.legs:
            return
        self._count(leg)
        leg.close()
        self.legs.discard(leg)

    def _count(self, leg: Leg) -> None:
        ep = leg.endpoint
        t = self.totals
        t["legs"] += 1
        t["received"] += ep.packets_received
        t["sent"] += ep.packets_sent
        t["rtp_dropped"] += ep.strict.dropped if ep.strict is not None else 0
        if ep.stats is not None:
            t["lost"] += max(0, ep.stats.lost)
            t["expected"] += ep.stats.expected

    def snapshot(self) -> dict[str, Any]:
        """Totals over finished legs plus the legs still open (loss as seen on arrival)."""
        t = dict(self.totals)
        for leg in self.legs:
            ep = leg.endpoint
            t["received"] += ep.packets_received
            t["sent"] += ep.packets_sent
            t["rtp_dropped"] += ep.strict.dropped if ep.strict is not None else 0
            if ep.stats is not None:
                t["lost"] += max(0, ep.stats.lost)
                t["expected"] += ep.stats.expected
        t["open_legs"] = len(self.legs)
        t["pooled_pairs"] = self.allocator.pooled
        t["reused_pairs"] = self.allocator.reused
        t["loss_ratio"] = round(t["lost"] / t["expected"], 6) if t["expected"] else 0.0
        return t

    def close(self) -> None:
        for leg in list(self.legs):
            with contextlib.suppress(Exception):
                leg.close()
        self.legs.clear()
        self.allocator.close_pool()


def default_pool_size(port_min: int, port_max: int) -> int:
    """How many released RTP/RTCP socket pairs to keep open for reuse: enough for a couple of
    seconds of call setups at a few hundred calls/s, at most a quarter of the range's port
    pairs and an eighth of the file descriptors the process may open."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        soft = 1024
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(0, min(POOL_MAX, (port_max - port_min + 1) // 8, soft // 16))
