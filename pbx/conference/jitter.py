"""What one conference participant sends, decoded and waiting to be mixed: a jitter buffer.

A ring of 16-bit samples indexed by RTP timestamp (8 kHz, so one sample per timestamp unit).
Each G.711 packet is decoded straight into its place in the ring (table lookup, no PCM copy
of its own), whatever its size (10, 20, 30 ms…) and in whatever order packets arrive; the
room's clock reads one 20 ms frame per tick, ``PREFILL`` frames behind the first packet, and
clears what it read. So:

* reordered packets land where they belong; a lost packet reads as silence;
* a packet later than the frame already read is dropped — unless it is the newest the sender
  ever sent, which means the sender's clock runs behind ours (or it paused, or its timestamps
  jumped): then the buffer starts again ``PREFILL`` behind it;
* a sender whose clock runs ahead fills the ring: past ``HIGH_WATER`` one frame is skipped, and
  a jump beyond the ring starts it again;
* a new SSRC (the participant's phone changed, a re-INVITE) starts it again.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from webfon.rtp import g711

FRAME = 160
"""Samples per 20 ms tick at 8 kHz."""
RING = 25 * FRAME
"""Half a second of audio."""
PREFILL = 2
"""Frames of delay between the first packet and the first read (40 ms)."""
HIGH_WATER = 8 * FRAME
"""Audio waiting beyond this (160 ms) means the sender runs fast: one frame is skipped."""

_FIXED = struct.Struct("!BBHII")
_WRAP = 1 << 32
_HALF = 1 << 31

DECODE = {g711.PT_PCMU: g711.ULAW_DECODE, g711.PT_PCMA: g711.ALAW_DECODE}


def payload_bounds(data: bytes | memoryview) -> tuple[int, int]:
    """Where the payload of an RTP packet starts and ends (after CSRCs, extension, before
    padding); ``(0, 0)`` when the packet is malformed."""
    n = len(data)
    b0 = data[0]
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if n < pos + 4:
            return 0, 0
        pos += 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    end = n - data[-1] if b0 & 0x20 else n
    if pos > end:
        return 0, 0
    return pos, end


class JitterBuffer:
    """One participant's incoming audio (see the module's doc)."""

    __slots__ = ("_base", "_last_ext", "_last_raw", "_newest", "_read", "_ring", "_ssrc",
                 "anchored", "dropped_late", "resyncs", "skipped")

    def __init__(self) -> None:
        self._ring: npt.NDArray[np.int16] = np.zeros(RING, dtype=np.int16)
        self._ssrc = -1
        self._last_raw = 0
        self._last_ext = 0
        self._base = 0  # extended timestamp at ring index 0 (read positions stay aligned)
        self._read = 0  # extended timestamp of the next sample to read
        self._newest = 0  # extended timestamp just past the newest sample written
        self.anchored = False
        self.dropped_late = 0
        self.resyncs = 0
        self.skipped = 0

    def _anchor(self, ext: int) -> None:
        if self.anchored:
            self.resyncs += 1
        self._ring.fill(0)
        self._read = self._base = ext - PREFILL * FRAME
        self._newest = ext
        self.anchored = True

    def put(self, data: bytes, payload_type: int) -> None:
        """Take one RTP packet (G.711 of ``payload_type``; anything else is ignored)."""
        table = DECODE.get(payload_type)
        if table is None or len(data) < 12:
            return
        _b0, _b1, _seq, ts, ssrc = _FIXED.unpack_from(data)
        start, end = payload_bounds(data)
        count = end - start
        if count <= 0:
            return
        if ssrc != self._ssrc:
            self._ssrc = ssrc
            self._last_raw = ts
            self._last_ext = ts
            self._anchor(ts)
            ext = ts
        else:
            delta = ((ts - self._last_raw + _HALF) % _WRAP) - _HALF
            self._last_raw = ts
            ext = self._last_ext = self._last_ext + delta
        stop = ext + count
        if stop <= self._read:
            if ext >= self._newest:  # the sender is behind our clock, not reordered
                self._anchor(ext)
                stop = ext + count
            else:
                self.dropped_late += 1
                return
        elif stop - self._read > RING - FRAME:
            self._anchor(ext)  # too far ahead: a jump, or a sender far faster than us
            stop = ext + count
        codes = np.frombuffer(data, dtype=np.uint8, count=count, offset=start)
        if ext < self._read:  # partly late: keep what is still to be played
            codes = codes[self._read - ext:]
            ext = self._read
        if stop > self._newest:
            self._newest = stop
        i = (ext - self._base) % RING
        n = len(codes)
        first = min(n, RING - i)
        np.take(table, codes[:first], out=self._ring[i:i + first])
        if first < n:
            np.take(table, codes[first:], out=self._ring[:n - first])

    @property
    def waiting(self) -> int:
        """Samples written and not read yet (0 when the sender is silent or gone)."""
        return max(0, self._newest - self._read) if self.anchored else 0

    def read(self, out: npt.NDArray[np.int32]) -> bool:
        """Write the next 20 ms into ``out`` (``FRAME`` int32s); False (and ``out`` left
        as it was) when nothing is waiting, so silent participants cost nothing."""
        if not self.anchored or self._newest <= self._read:
            if self.anchored:
                self._read += FRAME
            return False
        if self._newest - self._read > HIGH_WATER:
            self._clear_next()
            self.skipped += 1
        i = (self._read - self._base) % RING
        frame = self._ring[i:i + FRAME]
        np.copyto(out, frame)
        frame.fill(0)
        self._read += FRAME
        return True

    def _clear_next(self) -> None:
        i = (self._read - self._base) % RING
        self._ring[i:i + FRAME] = 0
        self._read += FRAME
