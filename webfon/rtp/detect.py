"""Tone analysis: dominant frequency (FFT), signal level, activity and Goertzel DTMF detection."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from webfon.rtp.tones import DTMF_FREQS

_LOW = (697, 770, 852, 941)
_HIGH = (1209, 1336, 1477, 1633)
_KEYPAD = {v: k for k, v in DTMF_FREQS.items()}


def _float(samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(samples)
    if arr.dtype == np.int16:
        return arr.astype(np.float64) / 32768.0
    return arr.astype(np.float64)


def dominant_frequency(samples: npt.ArrayLike, rate: int, fmin: float = 50.0,
                       fmax: float | None = None) -> float:
    """Frequency (Hz) of the strongest spectral peak between ``fmin`` and ``fmax``.

    Hann window and parabolic interpolation of the log magnitude give a resolution well below
    one FFT bin. Returns 0.0 for an empty or all-zero buffer.
    """
    x = _float(samples)
    n = len(x)
    if n < 8 or not np.any(x):
        return 0.0
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(n)))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    hi = rate / 2 if fmax is None else min(fmax, rate / 2)
    band = (freqs >= fmin) & (freqs <= hi)
    if not band.any():
        return 0.0
    idx = int(np.flatnonzero(band)[np.argmax(spectrum[band])])
    if 0 < idx < len(spectrum) - 1:
        a, b, c = np.log(spectrum[idx - 1:idx + 2] + 1e-12)
        denom = a - 2 * b + c
        offset = 0.5 * (a - c) / denom if denom else 0.0
    else:
        offset = 0.0
    return float((idx + offset) * rate / n)


def tone_levels(samples: npt.ArrayLike, rate: int, freqs: Sequence[float],
                tolerance_hz: float = 15.0) -> list[float]:
    """Level (dBFS, as the RMS of a sine of that amplitude) of the strongest component within
    ``tolerance_hz`` of each of ``freqs``: several tones in one signal (a conference mix) are
    each found, where :func:`dominant_frequency` finds only the loudest."""
    x = _float(samples)
    n = len(x)
    if n < 8:
        return [-math.inf for _ in freqs]
    window = np.hanning(n)
    # a sine of amplitude A peaks at A * sum(window) / 2 in the windowed spectrum
    spectrum = np.abs(np.fft.rfft((x - x.mean()) * window)) * 2.0 / window.sum()
    bins = np.fft.rfftfreq(n, 1.0 / rate)
    out = []
    for freq in freqs:
        band = spectrum[np.abs(bins - freq) <= tolerance_hz]
        peak = float(band.max()) if len(band) else 0.0
        out.append(20 * math.log10(peak / math.sqrt(2)) if peak > 0 else -math.inf)
    return out


def rms_dbfs(samples: npt.ArrayLike) -> float:
    """RMS level relative to full scale (dBFS); -inf for silence."""
    x = _float(samples)
    if len(x) == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(x * x)))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def window_levels(samples: npt.ArrayLike, rate: int, window_s: float = 0.02) -> list[float]:
    """RMS level (dBFS) of each consecutive window."""
    x = _float(samples)
    w = max(1, int(rate * window_s))
    count = len(x) // w
    if count == 0:
        return []
    blocks = x[:count * w].reshape(count, w)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1))
    with np.errstate(divide="ignore"):
        return [float(v) for v in 20 * np.log10(rms)]


def active_seconds(samples: npt.ArrayLike, rate: int, threshold_dbfs: float = -40.0,
                   window_s: float = 0.02) -> float:
    """Total duration of windows louder than ``threshold_dbfs``."""
    return sum(1 for lv in window_levels(samples, rate, window_s)
               if lv > threshold_dbfs) * window_s


def tone_seconds(samples: npt.ArrayLike, rate: int, freq: float, tolerance_hz: float = 10.0,
                 window_s: float = 0.1, threshold_dbfs: float = -40.0) -> float:
    """Total duration of windows that are not silent and whose dominant frequency is
    within ``tolerance_hz`` of ``freq``."""
    x = _float(samples)
    w = max(8, int(rate * window_s))
    total = 0.0
    for start in range(0, len(x) - w + 1, w):
        block = x[start:start + w]
        if rms_dbfs(block) <= threshold_dbfs:
            continue
        if abs(dominant_frequency(block, rate) - freq) <= tolerance_hz:
            total += window_s
    return total


def goertzel_power(samples: npt.ArrayLike, rate: int, freqs: Sequence[float]) -> list[float]:
    """Signal power at each frequency (generalised Goertzel recurrence, run for all
    frequencies at once), normalised so a full-scale sine gives about 0.25."""
    x = _float(samples)
    n = len(x)
    if n == 0:
        return [0.0 for _ in freqs]
    coeff = 2.0 * np.cos(2.0 * np.pi * np.asarray(freqs, dtype=np.float64) / rate)
    s1 = np.zeros(len(coeff))
    s2 = np.zeros(len(coeff))
    for v in x:
        s0 = v + coeff * s1 - s2
        s2 = s1
        s1 = s0
    power = (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
    return [float(p) for p in power]


def _dtmf_block_digit(block: npt.NDArray[np.float64], rate: int, min_dbfs: float) -> str | None:
    if rms_dbfs(block) < min_dbfs:
        return None
    low = goertzel_power(block, rate, _LOW)
    high = goertzel_power(block, rate, _HIGH)
    li = int(np.argmax(low))
    hi = int(np.argmax(high))
    lp, hp = low[li], high[hi]
    # each tone must clearly dominate its group (6 dB) and the twist stay within 8 dB
    if any(p * 4 > lp for i, p in enumerate(low) if i != li):
        return None
    if any(p * 4 > hp for i, p in enumerate(high) if i != hi):
        return None
    if lp <= 0 or hp <= 0 or not (10 ** -0.8 <= hp / lp <= 10 ** 0.8):
        return None
    # the pair must carry most of the block's energy (speech/noise rejection)
    energy = float(np.mean(block * block))
    if energy <= 0 or 2 * (lp + hp) < 0.5 * energy:
        return None
    return _KEYPAD[(_LOW[li], _HIGH[hi])]


def detect_dtmf(samples: npt.ArrayLike, rate: int = 8000, block_s: float = 0.03,
                min_dbfs: float = -35.0, min_blocks: int = 2) -> str:
    """Digits present as in-band DTMF, in order.

    A digit counts once it is seen in ``min_blocks`` consecutive blocks; the same digit again
    needs a pause (a block without it) in between.
    """
    x = _float(samples)
    n = max(32, int(rate * block_s))
    digits: list[str] = []
    current: str | None = None
    run = 0
    emitted = False
    for start in range(0, len(x) - n + 1, n):
        d = _dtmf_block_digit(x[start:start + n], rate, min_dbfs)
        if d is not None and d == current:
            run += 1
        else:
            current, run, emitted = d, 1, False
        if current is not None and not emitted and run >= min_blocks:
            digits.append(current)
            emitted = True
    return "".join(digits)
