"""Keep an outgoing RTP stream continuous when the stream feeding it changes.

A relay that forwards packets from a source which can change mid-call (a B2BUA connects the
caller to a transfer target, a held call comes back from music on hold) would otherwise send
sequence numbers and timestamps that jump, or go backwards. Receivers and SRTP senders (whose
replay window refuses an index that went back) treat that as loss or refuse to protect it.
:class:`StreamRebaser` rewrites both in place so the output looks like one stream.
"""

from __future__ import annotations

import struct

_SEQ_TS_SSRC = struct.Struct("!HII")
_SEQ_TS = struct.Struct("!HI")
_SSRC = struct.Struct("!I")
MAX_FORWARD_JUMP = 3000      # more than a minute of 20 ms packets: a new source
REORDER_WINDOW = 100         # a packet this far behind the last one is late, not a new source


class StreamRebaser:
    __slots__ = ("_last_seq", "_last_ts", "_seq_off", "_source", "_ts_off", "_ts_step",
                 "rebased")

    def __init__(self, ts_step: int = 160) -> None:
        self._source: int | None = None
        self._seq_off = 0
        self._ts_off = 0
        self._last_seq = 0
        self._last_ts = 0
        self._ts_step = ts_step
        self.rebased = 0

    def apply(self, buf: bytearray) -> None:
        """Rewrite ``buf``'s sequence number and timestamp (an RTP packet, header intact)."""
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(buf, 2)
        if ssrc == self._source:  # the common case, kept short: the same source, in order
            out_seq = (seq + self._seq_off) & 0xFFFF
            delta = (out_seq - self._last_seq) & 0xFFFF
            if delta <= MAX_FORWARD_JUMP:
                if self._seq_off or self._ts_off:
                    ts = (ts + self._ts_off) & 0xFFFFFFFF
                    _SEQ_TS.pack_into(buf, 2, out_seq, ts)
                if delta:
                    self._last_seq = out_seq
                    self._last_ts = ts
                return
        self._apply(buf, seq, ts, ssrc)

    def restamp(self, buf: bytearray, seq: int, ts: int, ssrc: int, out_ssrc: int) -> None:
        """:meth:`apply` for a relay that read the header already (``seq``, ``ts``,
        ``ssrc`` as in ``buf``) and sends with its own SSRC: one write for the three."""
        if ssrc == self._source:
            out_seq = (seq + self._seq_off) & 0xFFFF
            delta = (out_seq - self._last_seq) & 0xFFFF
            if delta <= MAX_FORWARD_JUMP:
                ts = (ts + self._ts_off) & 0xFFFFFFFF
                _SEQ_TS_SSRC.pack_into(buf, 2, out_seq, ts, out_ssrc)
                if delta:
                    self._last_seq = out_seq
                    self._last_ts = ts
                return
        self._apply(buf, seq, ts, ssrc)
        _SSRC.pack_into(buf, 8, out_ssrc)

    def _apply(self, buf: bytearray, seq: int, ts: int, ssrc: int) -> None:
        """A first packet, a new source, a jump or a late packet."""
        if self._source is None:
            self._source = ssrc
            self._last_seq, self._last_ts = seq, ts
            return
        out_seq = (seq + self._seq_off) & 0xFFFF
        delta = (out_seq - self._last_seq) & 0xFFFF
        if ssrc != self._source or (MAX_FORWARD_JUMP < delta <= 0x10000 - REORDER_WINDOW):
            self._source = ssrc
            self._seq_off = (self._last_seq + 1 - seq) & 0xFFFF
            self._ts_off = (self._last_ts + self._ts_step - ts) & 0xFFFFFFFF
            self.rebased += 1
            out_seq = (seq + self._seq_off) & 0xFFFF
            delta = 1
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        _SEQ_TS.pack_into(buf, 2, out_seq, out_ts)
        if 0 < delta <= MAX_FORWARD_JUMP:
            self._last_seq, self._last_ts = out_seq, out_ts

    def state(self) -> tuple[int | None, int, int, int, int, int, int]:
        """Everything :meth:`apply` depends on, to go on in another process."""
        return (self._source, self._seq_off, self._ts_off, self._last_seq, self._last_ts,
                self._ts_step, self.rebased)

    @classmethod
    def from_state(cls, state: tuple[int | None, int, int, int, int, int, int]
                   ) -> StreamRebaser:
        rebaser = cls(state[5])
        (rebaser._source, rebaser._seq_off, rebaser._ts_off, rebaser._last_seq,
         rebaser._last_ts, _, rebaser.rebased) = state
        return rebaser
