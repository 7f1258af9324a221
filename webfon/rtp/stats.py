"""Receiver statistics for one RTP source (RFC 3550 appendix A.1, A.3 and A.8).

:meth:`ReceiverStats.update` is called with plain integers and a float arrival time, for every
received packet or for a sample of them (with the count of packets each one stands for); it
keeps the extended highest sequence number, the received count, loss and interarrival jitter,
and produces RTCP report blocks.
"""

from __future__ import annotations

from webfon.rtp.rtcp import ReportBlock, SenderReport

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


class ReceiverStats:
    """Sequence, loss and jitter tracking for a single SSRC.

    ``probation`` is the number of in-sequence packets required before a new source is accepted
    (RFC 3550 uses 2 = ``MIN_SEQUENTIAL``); the default 0 accepts the first packet at once, which
    suits a relay or a test receiver that trusts its peer.
    """

    __slots__ = (
        "_bad_seq", "_jitter_q4", "_last_sr_arrival", "_last_sr_lsr", "_probation_left",
        "_steady", "_transit",
        "base_seq", "clock_rate", "cycles", "expected_prior", "initialized", "max_seq",
        "octets", "probation", "received", "received_prior", "ssrc",
    )

    def __init__(self, clock_rate: int = 8000, probation: int = 0, ssrc: int = 0) -> None:
        self.clock_rate = clock_rate
        self.ssrc = ssrc
        self.probation = probation
        self.initialized = False
        self.base_seq = 0
        self.max_seq = 0
        self.cycles = 0
        self.received = 0
        self.octets = 0
        self.received_prior = 0
        self.expected_prior = 0
        self._bad_seq = RTP_SEQ_MOD + 1
        self._probation_left = 0
        self._steady = False  # initialized, out of probation: update()'s short path applies
        self._transit: int | None = None
        self._jitter_q4 = 0  # jitter scaled by 16 (A.8 integer form)
        self._last_sr_lsr = 0
        self._last_sr_arrival = 0.0

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self._bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, seq: int, timestamp: int, arrival: float | None, size: int = 0,
               count: int = 1) -> bool:
        """Account for one packet; False when it is not (yet) considered valid (A.1).

        A receiver that samples (see :class:`~webfon.rtp.endpoint.RtpEndpoint`) passes the
        ``count`` of packets that arrived since the last one it passed, this one included
        (they are counted received, of this one's size), and ``arrival`` None for a packet
        whose arrival time it did not take (the jitter then waits for the next one)."""
        if self._steady:  # the common case inline
            udelta = (seq - self.max_seq) & 0xFFFF
            if udelta < MAX_DROPOUT:
                if seq < self.max_seq:
                    self.cycles += RTP_SEQ_MOD
                self.max_seq = seq
                self.received += count
                self.octets += size * count
                if arrival is None:
                    return True
                transit = int(arrival * self.clock_rate) - timestamp
                last = self._transit
                self._transit = transit
                if last is not None:
                    d = transit - last
                    if d < 0:
                        d = -d
                    if d < (1 << 31):  # (see _jitter)
                        self._jitter_q4 += d - ((self._jitter_q4 + 8) >> 4)
                return True
        return self._update(seq, timestamp, arrival, size, count)

    def _update(self, seq: int, timestamp: int, arrival: float | None, size: int,
                count: int) -> bool:
        if not self.initialized:
            self.initialized = True
            self._init_seq(seq)
            self.max_seq = (seq - 1) & 0xFFFF
            if self.probation == 0:
                self.max_seq = seq
                self.received = count
                self.octets += size * count
                if arrival is not None:
                    self._jitter(timestamp, arrival)
                return True
            self._probation_left = self.probation
        udelta = (seq - self.max_seq) & 0xFFFF
        self._steady = not self._probation_left
        if self._probation_left:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self._probation_left -= 1
                self.max_seq = seq
                if self._probation_left == 0:
                    self._init_seq(seq)
                    self.received += 1
                    self.octets += size
                    if arrival is not None:
                        self._jitter(timestamp, arrival)
                    return True
            else:
                self._probation_left = self.probation - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self._bad_seq:
                # Two sequential packets after a big jump: the source restarted.
                self._init_seq(seq)
                self._transit = None
            else:
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted as received (as A.1 does)
        self.received += count
        self.octets += size * count
        if arrival is not None:
            self._jitter(timestamp, arrival)
        return True

    def _jitter(self, timestamp: int, arrival: float) -> None:
        transit = int(arrival * self.clock_rate) - timestamp
        if self._transit is not None:
            d = transit - self._transit
            if d < 0:
                d = -d
            # the 32-bit timestamp may wrap: ignore absurd jumps (new talkspurt after wrap)
            if d < (1 << 31):
                self._jitter_q4 += d - ((self._jitter_q4 + 8) >> 4)
        self._transit = transit

    # --- derived figures (A.3) -------------------------------------------------------------

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        if not self.received:
            return 0
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative number of packets lost (negative with duplicates), clamped to 24 bits."""
        return max(-0x800000, min(0x7FFFFF, self.expected - self.received))

    @property
    def loss_ratio(self) -> float:
        """Cumulative fraction of expected packets that were lost, 0.0..1.0."""
        expected = self.expected
        return max(0, self.expected - self.received) / expected if expected else 0.0

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units."""
        return self._jitter_q4 >> 4

    @property
    def jitter_ms(self) -> float:
        return 1000.0 * self._jitter_q4 / 16.0 / self.clock_rate

    def interval_fraction_lost(self) -> int:
        """Fraction lost (0..255) since the previous call, and start a new interval."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return min(255, (lost_interval << 8) // expected_interval)

    def on_sender_report(self, sr: SenderReport, arrival: float) -> None:
        """Remember an SR from this source for LSR/DLSR in our next report block."""
        self._last_sr_lsr = sr.lsr
        self._last_sr_arrival = arrival

    def report_block(self, now: float) -> ReportBlock:
        """A report block for this source (starts a new loss interval)."""
        dlsr = 0
        if self._last_sr_lsr:
            dlsr = int(max(0.0, now - self._last_sr_arrival) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc, fraction_lost=self.interval_fraction_lost(), cumulative_lost=self.lost,
            highest_seq=self.extended_max & 0xFFFFFFFF, jitter=self.jitter,
            lsr=self._last_sr_lsr, dlsr=dlsr,
        )
