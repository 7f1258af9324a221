"""Call quality from RTCP: what each media leg's endpoint reports, the round trip to it, and an
E-model MOS for the call.

A relay does not generate RTCP of its own: it reads the reports passing through it (RFC 3550
§6.4). :class:`RtcpWatch` is kept per leg and fed RTCP only (about one compound packet per
five seconds each way, so the RTP path pays nothing):

- :meth:`RtcpWatch.sent` with what goes *to* the leg's endpoint: each sender report's NTP
  timestamp (its middle 32 bits, the "LSR" a receiver echoes) is remembered with the local
  time it left;
- :meth:`RtcpWatch.received` with what the endpoint sends: its report blocks say how it
  receives each stream (loss, jitter), and a block echoing a remembered LSR gives the round
  trip to the endpoint: ``now - sent - DLSR``.

A relay forwards packets with their sequence numbers, so an endpoint's report covers the
whole path from the far end, while the relay's own receiver statistics
(:class:`~webfon.rtp.stats.ReceiverStats`) cover the segment from the endpoint to the relay.
Where a leg ends in the relay (a prompt, voicemail), only the latter exists.

:class:`LegQuality` is one leg as one node saw it (which node, the endpoint's address and
network, codec, SRTP, loss, jitter, round trip); :func:`summarize` rates the call: the worst
loss and jitter on any leg, the end-to-end round trip (the legs' round trips add up, the
relays being in series) and the E-model MOS (:mod:`webfon.rtp.emodel`) for them.
:meth:`LegQuality.header` / :meth:`LegQuality.from_header` carry a leg a SIP peer measured
(the gateway's WebRTC leg) in the ``X-Webfon-Quality`` header of its BYE or of its 200 to ours.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from webfon.rtp import emodel
from webfon.rtp.rtcp import ReceiverReport, RtcpError, RtcpPacket, SenderReport, parse_rtcp

HEADER = "X-Webfon-Quality"
MAX_SRS = 8
"""Sender reports remembered per leg (a receiver echoes the latest one it got)."""
MAX_STREAMS = 8
MAX_RTT_S = 10.0
DLSR_SLACK_S = 0.002
"""Receivers that keep time in milliseconds (baresip's libre) round the delay they held our
sender report: on a sub-millisecond path the round trip can come out slightly below zero. Down
to this much it counts as zero; further off, the report is not believed."""
JITTER_BUFFER_MIN_MS = 20.0


@dataclass(slots=True)
class _Stream:
    """The first and latest report block about one SSRC, and the jitter reported over time."""

    first_ext: int
    first_cum: int
    last_ext: int
    last_cum: int
    fraction: int
    jitter_sum: int = 0
    jitter_max: int = 0
    blocks: int = 0


class RtcpWatch:
    """Round trip and reception reports of one leg's endpoint, read from RTCP passing by."""

    __slots__ = ("_srs", "clock_rate", "errors", "reports", "rtt_count", "rtt_max", "rtt_sum",
                 "streams")

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self._srs: dict[int, float] = {}
        self.streams: dict[int, _Stream] = {}
        self.reports = 0
        self.errors = 0
        self.rtt_sum = 0.0
        self.rtt_count = 0
        self.rtt_max = 0.0

    # --- feeding ---------------------------------------------------------------------------
    @staticmethod
    def parse(data: bytes | bytearray | memoryview) -> list[RtcpPacket] | None:
        try:
            return parse_rtcp(data)
        except RtcpError:
            return None

    def sent(self, packets: list[RtcpPacket] | None, now: float) -> None:
        """RTCP that went to the endpoint (``packets`` as :meth:`parse` gives them)."""
        if packets is None:
            return
        for p in packets:
            if isinstance(p, SenderReport):
                self.note_sender_report(p.lsr, now)

    def note_sender_report(self, lsr: int, now: float) -> None:
        """A sender report with this LSR (middle 32 bits of its NTP time) left at ``now``."""
        srs = self._srs
        srs[lsr] = now
        if len(srs) > MAX_SRS:
            del srs[next(iter(srs))]

    def received(self, packets: list[RtcpPacket] | None, now: float) -> None:
        """RTCP the endpoint sent (``None``: it did not parse, counted as an error)."""
        if packets is None:
            self.errors += 1
            return
        for p in packets:
            if isinstance(p, SenderReport | ReceiverReport):
                for block in p.reports:
                    self.block(block.ssrc, block.fraction_lost, block.cumulative_lost,
                               block.highest_seq, block.jitter, block.lsr, block.dlsr, now)

    def block(self, ssrc: int, fraction: int, cumulative: int, highest: int, jitter: int,
              lsr: int, dlsr: int, now: float) -> None:
        """One report block from the endpoint, received at ``now``."""
        self.reports += 1
        stream = self.streams.get(ssrc)
        if stream is None:
            if len(self.streams) >= MAX_STREAMS:
                return
            stream = self.streams[ssrc] = _Stream(highest, cumulative, highest, cumulative,
                                                  fraction)
        stream.last_ext, stream.last_cum, stream.fraction = highest, cumulative, fraction
        stream.jitter_sum += jitter
        stream.jitter_max = max(stream.jitter_max, jitter)
        stream.blocks += 1
        sent = self._srs.get(lsr) if lsr else None
        if sent is not None:
            rtt = now - sent - dlsr / 65536.0
            if -DLSR_SLACK_S <= rtt < MAX_RTT_S:
                rtt = max(rtt, 0.0)
                self.rtt_sum += rtt
                self.rtt_count += 1
                self.rtt_max = max(self.rtt_max, rtt)

    # --- figures ---------------------------------------------------------------------------
    @property
    def rtt_ms(self) -> float | None:
        """Mean round trip to the endpoint, or None when no report echoed one of ours."""
        return 1000.0 * self.rtt_sum / self.rtt_count if self.rtt_count else None

    def loss_pct(self, bases: dict[int, int] | None = None) -> float | None:
        """Packets the endpoint reported lost, as a percentage of those it expected, over
        every stream it reported on. ``bases`` gives, per SSRC, the first sequence number
        sent to it (then the whole call counts); otherwise the span between its first and
        last report, or its last report's fraction."""
        lost = expected = 0.0
        for ssrc, s in self.streams.items():
            base = bases.get(ssrc) if bases else None
            if base is not None and s.last_ext >= base:
                span = s.last_ext - base + 1
                lost += max(0, min(s.last_cum, span))
                expected += span
            elif s.last_ext > s.first_ext:
                span = s.last_ext - s.first_ext
                lost += max(0, min(s.last_cum - s.first_cum, span))
                expected += span
            else:
                lost += s.fraction / 256.0
                expected += 1
        return 100.0 * lost / expected if expected else None

    def jitter_ms(self) -> float | None:
        """Mean interarrival jitter the endpoint reported (ms), None without reports."""
        blocks = sum(s.blocks for s in self.streams.values())
        if not blocks:
            return None
        return 1000.0 * sum(s.jitter_sum for s in self.streams.values()) / blocks \
            / self.clock_rate


# --- one leg, one call ---------------------------------------------------------------------

_TEXT = re.compile(r"[^A-Za-z0-9._:\-\[\]/@]")


def _text(value: Any, limit: int = 64) -> str:
    return _TEXT.sub("", str(value))[:limit]


def _num(value: Any, high: float) -> float | None:
    """A finite number in [0, high], rounded; None for anything else."""
    if value is None:  # not measured (most often): no exception to raise and catch
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f) or f < 0:
        return None
    return round(min(f, high), 2)


def loss_percent(lost: int, received: int) -> float | None:
    expected = max(0, lost) + received
    return 100.0 * max(0, lost) / expected if expected else None


@dataclass
class LegQuality:
    """One media leg as the node that relayed it saw it.

    ``rx_*`` is what the node received from the leg's endpoint; ``remote_*`` what the
    endpoint reported receiving (RTCP), end to end for a relayed call; ``rtt_ms`` the round
    trip between the node and the endpoint."""

    node: str = ""
    leg: str = ""
    """Which leg: ``caller``, ``callee`` or ``webrtc``."""
    address: str = ""
    """The endpoint's media address (ip:port)."""
    network: str = ""
    """How it is reached: the signalling transport (``udp``, ``tcp``, ``tls``), or the ICE
    candidate type of a WebRTC leg (``host``, ``srflx``, ``prflx``, ``relay``)."""
    codec: str = ""
    srtp: bool = False
    rx_packets: int = 0
    rx_loss_pct: float | None = None
    rx_jitter_ms: float | None = None
    tx_packets: int = 0
    remote_loss_pct: float | None = None
    remote_jitter_ms: float | None = None
    rtt_ms: float | None = None
    mos: float | None = None

    def __post_init__(self) -> None:
        self.rx_loss_pct = _num(self.rx_loss_pct, 100.0)
        self.remote_loss_pct = _num(self.remote_loss_pct, 100.0)
        self.rx_jitter_ms = _num(self.rx_jitter_ms, 60000.0)
        self.remote_jitter_ms = _num(self.remote_jitter_ms, 60000.0)
        self.rtt_ms = _num(self.rtt_ms, 60000.0)
        if self.mos is None:
            self.mos = self.rate()

    @property
    def measured(self) -> bool:
        return self.rx_packets > 0 or self.remote_loss_pct is not None

    @property
    def loss_pct(self) -> float | None:
        values = [v for v in (self.rx_loss_pct, self.remote_loss_pct) if v is not None]
        return max(values) if values else None

    @property
    def jitter_ms(self) -> float | None:
        values = [v for v in (self.rx_jitter_ms, self.remote_jitter_ms) if v is not None]
        return max(values) if values else None

    def rate(self) -> float | None:
        """This leg's MOS on its own (its loss, jitter and round trip)."""
        if not self.measured:
            return None
        return rate(self.loss_pct or 0.0, self.rtt_ms, self.jitter_ms, [self.codec])

    def as_dict(self) -> dict[str, Any]:
        # every field is a scalar: no copying as dataclasses.asdict does (once per leg of
        # every call that ends)
        return {name: getattr(self, name) for name in _LEG_FIELDS}

    # --- the SIP header ------------------------------------------------------------------
    _KEYS = {"node": "node", "leg": "leg", "addr": "address", "net": "network",
             "codec": "codec", "srtp": "srtp", "rx": "rx_packets", "rxloss": "rx_loss_pct",
             "rxjit": "rx_jitter_ms", "tx": "tx_packets", "rloss": "remote_loss_pct",
             "rjit": "remote_jitter_ms", "rtt": "rtt_ms"}

    def header(self) -> str:
        """The ``X-Webfon-Quality`` value for this leg."""
        parts = []
        for key, name in self._KEYS.items():
            value = getattr(self, name)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = int(value)
            parts.append(f"{key}={value}")
        return ";".join(parts)

    @classmethod
    def from_header(cls, text: str | None) -> LegQuality | None:
        """Read a header a peer sent: unknown keys are ignored, numbers clamped, text
        stripped to a safe alphabet; None when it says nothing usable."""
        if not text:
            return None
        values: dict[str, Any] = {}
        for part in text[:1024].split(";"):
            key, sep, value = part.strip().partition("=")
            name = cls._KEYS.get(key.strip().lower())
            if not sep or name is None:
                continue
            value = value.strip()
            if name in ("node", "leg", "address", "network", "codec"):
                values[name] = _text(value)
            elif name == "srtp":
                values[name] = value == "1"
            elif name in ("rx_packets", "tx_packets"):
                values[name] = int(_num(value, 1e9) or 0)
            else:
                values[name] = value
        quality = cls(**values)
        return quality if quality.measured else None


_LEG_FIELDS = tuple(f.name for f in fields(LegQuality))


@dataclass
class CallQuality:
    """A call's figures for its CDR: worst loss and jitter, end-to-end round trip, MOS."""

    mos: float | None = None
    loss_pct: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None
    legs: list[LegQuality] = field(default_factory=list)

    def details(self) -> str:
        """The legs as JSON, for the CDR's ``quality`` column ('' when nothing was measured)."""
        if not self.legs:
            return ""
        return json.dumps([leg.as_dict() for leg in self.legs], separators=(",", ":"))

    @staticmethod
    def legs_from_details(text: str | None) -> list[dict[str, Any]]:
        """The legs back from the ``quality`` column (an empty list for anything else)."""
        if not text:
            return []
        try:
            data = json.loads(text)
        except ValueError:
            return []
        names = {f.name for f in fields(LegQuality)}
        return [{k: v for k, v in leg.items() if k in names} for leg in data
                if isinstance(leg, dict)] if isinstance(data, list) else []


def rate(loss_pct: float, rtt_ms: float | None, jitter_ms: float | None,
         codecs: list[str]) -> float:
    """E-model MOS for a path: ``loss_pct`` lost, mouth-to-ear delay of half ``rtt_ms`` plus
    a jitter buffer twice the jitter (at least 20 ms) plus the codec's frame, rated with the
    least loss-robust codec on the path."""
    codec = min((emodel.codec_for(c) for c in codecs if c), key=lambda c: c.bpl,
                default=emodel.G711)
    buffer_ms = max(JITTER_BUFFER_MIN_MS, 2.0 * (jitter_ms or 0.0))
    _, mos, _ = emodel.estimate_mos(loss_pct, (rtt_ms or 0.0) / 2.0, buffer_ms, codec)
    return round(mos, 2)


def summarize(legs: list[LegQuality]) -> CallQuality:
    """The call's figures from its legs (see the module docstring); no MOS when no leg
    carried media."""
    measured = [leg for leg in legs if leg.measured]
    if not measured:
        return CallQuality(legs=list(legs))
    losses = [v for v in (leg.loss_pct for leg in measured) if v is not None]
    jitters = [v for v in (leg.jitter_ms for leg in measured) if v is not None]
    rtts = [leg.rtt_ms for leg in measured if leg.rtt_ms is not None]
    loss = max(losses) if losses else 0.0
    jitter = max(jitters) if jitters else None
    rtt = round(sum(rtts), 2) if rtts else None
    mos = rate(loss, rtt, jitter, [leg.codec for leg in measured])
    return CallQuality(mos=mos, loss_pct=round(loss, 2), jitter_ms=jitter, rtt_ms=rtt,
                       legs=list(legs))
