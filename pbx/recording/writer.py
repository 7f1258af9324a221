"""Writing a call's recording as it happens: one channel per party, then a stereo WAV.

Each party's packets (tapped from the relay, :attr:`pbx.media.Leg.tap`) are decoded and
placed by their RTP timestamp, anchored to the wall clock at the party's first packet (and
again when its SSRC changes or its timestamps jump), so reordered packets land in place, lost
ones stay silent and both channels stay aligned. A channel keeps the last few seconds in
memory and appends what is older to a raw 16-bit file; at the end the two raw files become
one stereo WAV (the caller left, the other party right) written in chunks with :mod:`wave`,
and are removed.

Files are created 0600 in directories created 0700: recordings are personal data.
"""

from __future__ import annotations

import os
import struct
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from webfon.rtp import g711

RATE = 8000
WINDOW = 4 * RATE
"""Samples kept in memory per channel (late packets up to this old still land in place)."""
FLUSH = RATE
MAX_JUMP = 10 * RATE
"""A timestamp this far from where the channel is starts it again at the wall clock."""
CHUNK = 1 << 20

_FIXED = struct.Struct("!BBHII")
_WRAP = 1 << 32
_HALF = 1 << 31
_DECODE = {g711.PT_PCMU: g711.ULAW_DECODE, g711.PT_PCMA: g711.ALAW_DECODE}


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents, created 0700 (an existing one is made 0700)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> int:
    """A new file opened for writing, 0600 (the descriptor)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)


class Channel:
    """One party's audio, written to ``path`` (raw 16-bit mono) as it arrives."""

    def __init__(self, path: Path, started: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._file = os.fdopen(private_file(path), "wb")
        self._started = started
        self._window: npt.NDArray[np.int16] = np.zeros(WINDOW, dtype=np.int16)
        self._base = 0  # sample index of window[0]
        self._end = 0  # one past the last sample written
        self._ssrc = -1
        self._ts0 = 0
        self._pos0 = 0
        self.packets = 0

    @property
    def samples(self) -> int:
        return self._end

    def feed(self, data: bytes) -> None:
        """One RTP packet of this party (anything but G.711 is ignored)."""
        if len(data) < 12 or self._file.closed:
            return
        b0, b1, _seq, ts, ssrc = _FIXED.unpack_from(data)
        table = _DECODE.get(b1 & 0x7F)
        if table is None:
            return
        start = 12 + 4 * (b0 & 0x0F)
        end = len(data) - data[-1] if b0 & 0x20 else len(data)
        if b0 & 0x10 or end <= start:
            return  # header extensions do not come from the phones we relay
        now = round((self._clock() - self._started) * RATE)
        pos = self._pos0 + ((ts - self._ts0 + _HALF) % _WRAP) - _HALF
        if ssrc != self._ssrc or abs(pos - now) > MAX_JUMP:
            self._ssrc, self._ts0, self._pos0 = ssrc, ts, max(now, self._base)
            pos = self._pos0
        codes = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
        if pos < self._base:
            if pos + len(codes) <= self._base:
                return  # older than what is already on disk
            codes = codes[self._base - pos:]
            pos = self._base
        stop = pos + len(codes)
        if stop > self._base + WINDOW:
            self._flush(stop - WINDOW - self._base)
        i = pos - self._base
        np.take(table, codes, out=self._window[i:i + len(codes)])
        self._end = max(self._end, stop)
        self.packets += 1

    def _flush(self, at_least: int) -> None:
        """Append the oldest samples to the file and slide the window."""
        count = min(WINDOW, -(-at_least // FLUSH) * FLUSH)
        self._file.write(self._window[:count].tobytes())
        self._window[:WINDOW - count] = self._window[count:]
        self._window[WINDOW - count:] = 0
        self._base += count
        if count == WINDOW and at_least > WINDOW:  # a jump beyond the window: silence
            skip = at_least - WINDOW
            self._file.write(bytes(2 * skip))
            self._base += skip

    def close(self) -> None:
        if self._file.closed:
            return
        tail = max(0, self._end - self._base)
        self._file.write(self._window[:tail].tobytes())
        self._file.close()


def write_stereo(left: Path, right: Path, target: Path) -> float:
    """Interleave two raw channels into a stereo 8 kHz WAV at ``target`` (0600); the
    duration in seconds."""
    frames = max(left.stat().st_size, right.stat().st_size) // 2
    with open(private_file(target), "wb", closefd=True) as fh, \
            wave.open(fh, "wb") as wav, open(left, "rb") as lf, open(right, "rb") as rf:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        done = 0
        while done < frames:
            n = min(CHUNK, frames - done)
            out = np.zeros((n, 2), dtype="<i2")
            for column, fh_in in ((0, lf), (1, rf)):
                data = np.frombuffer(fh_in.read(2 * n), dtype="<i2")
                out[:len(data), column] = data
            wav.writeframes(out.tobytes())
            done += n
    return frames / RATE
