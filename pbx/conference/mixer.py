"""The conference mix: every participant hears the sum of the others, never themselves.

One call of :meth:`Mixer.mix` per 20 ms tick and room, vectorised over the participants:
with ``F`` the participants' frames (n × 160, 32-bit) and ``T`` their sum (plus what the room
itself plays, a beep), participant *i* gets ``T − F[i]``, saturated to 16 bits (a loud room
clips instead of wrapping around) and encoded in its own G.711 law by one table lookup. Every
array is allocated once per room (grown when the room grows), so a tick allocates nothing but
the payloads it sends.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from webfon.rtp import g711

from .jitter import FRAME

_LAW_OFFSET = {g711.PT_PCMU: 0, g711.PT_PCMA: 65536}
ENCODE: npt.NDArray[np.uint8] = np.concatenate([g711.ULAW_ENCODE, g711.ALAW_ENCODE])
"""µ-law then A-law encoding tables, indexed by a sample's unsigned 16-bit pattern plus the
law's offset."""


class Mixer:
    def __init__(self, capacity: int = 4) -> None:
        self._capacity = 0
        self._alloc(max(1, capacity))
        self.total: npt.NDArray[np.int32] = np.zeros(FRAME, dtype=np.int32)

    def _alloc(self, capacity: int) -> None:
        self.frames: npt.NDArray[np.int32] = np.zeros((capacity, FRAME), dtype=np.int32)
        """Row *i*: participant *i*'s frame this tick (zero when silent)."""
        self._out: npt.NDArray[np.int32] = np.zeros((capacity, FRAME), dtype=np.int32)
        self._encoded: npt.NDArray[np.uint8] = np.zeros((capacity, FRAME), dtype=np.uint8)
        old = getattr(self, "_offsets", None)
        self._offsets: npt.NDArray[np.int32] = np.zeros((capacity, 1), dtype=np.int32)
        if old is not None:
            self._offsets[:len(old)] = old
        self._capacity = capacity

    def resize(self, count: int) -> None:
        """Make room for ``count`` participants (rows keep their payload types)."""
        if count > self._capacity:
            self._alloc(max(count, 2 * self._capacity))

    def set_payload_type(self, index: int, payload_type: int) -> None:
        """Participant ``index`` hears G.711 ``payload_type`` (0 µ-law, 8 A-law)."""
        self._offsets[index, 0] = _LAW_OFFSET[payload_type]

    def mix(self, count: int, extra: npt.NDArray[np.int16] | None = None
            ) -> npt.NDArray[np.uint8]:
        """Encode what each of the first ``count`` participants hears from ``frames``
        (plus ``extra``, heard by all); row *i* of the result is participant *i*'s payload."""
        frames = self.frames[:count]
        out = self._out[:count]
        total = np.sum(frames, axis=0, dtype=np.int32, out=self.total)
        if extra is not None:
            total += extra
        np.subtract(total, frames, out=out)
        np.clip(out, -32768, 32767, out=out)
        np.bitwise_and(out, 0xFFFF, out=out)
        out += self._offsets[:count]
        encoded = self._encoded[:count]
        np.take(ENCODE, out, out=encoded, mode="clip")
        return encoded
