"""Audio assertions for tests: a tone of the expected frequency, long enough, not silence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from webfon.rtp import detect
from webfon.rtp.wav import read_wav


@dataclass(frozen=True)
class AudioReport:
    """What a recording contains (for assertion messages and debugging)."""

    duration_s: float
    rate: int
    dominant_hz: float
    rms_dbfs: float
    active_s: float
    tone_s: float  # seconds whose dominant frequency matched the expected one

    def __str__(self) -> str:
        return (f"{self.duration_s:.2f} s at {self.rate} Hz, dominant {self.dominant_hz:.1f} Hz, "
                f"level {self.rms_dbfs:.1f} dBFS, active {self.active_s:.2f} s, "
                f"matching tone {self.tone_s:.2f} s")


def load(source: str | Path | npt.ArrayLike, rate: int | None = None,
         ) -> tuple[npt.NDArray[np.int16], int]:
    """Samples and rate from a WAV path or an int16 array (``rate`` required then)."""
    if isinstance(source, str | Path):
        return read_wav(source)
    if rate is None:
        raise ValueError("rate is required when passing samples")
    return np.asarray(source, dtype=np.int16), rate


def analyse(source: str | Path | npt.ArrayLike, expected_hz: float = 0.0,
            rate: int | None = None, tolerance_hz: float = 10.0,
            threshold_dbfs: float = -40.0) -> AudioReport:
    samples, rate = load(source, rate)
    active = samples
    levels = detect.window_levels(samples, rate, 0.02)
    if levels:
        w = int(rate * 0.02)
        mask = np.repeat(np.array(levels) > threshold_dbfs, w)
        active = samples[:len(mask)][mask]
    return AudioReport(
        duration_s=len(samples) / rate if rate else 0.0,
        rate=rate,
        dominant_hz=detect.dominant_frequency(active, rate) if len(active) else 0.0,
        rms_dbfs=detect.rms_dbfs(samples),
        active_s=detect.active_seconds(samples, rate, threshold_dbfs),
        tone_s=detect.tone_seconds(samples, rate, expected_hz, tolerance_hz,
                                   threshold_dbfs=threshold_dbfs) if expected_hz else 0.0,
    )


def assert_tone(source: str | Path | npt.ArrayLike, expected_hz: float, *,
                rate: int | None = None, tolerance_hz: float = 10.0, min_seconds: float = 1.0,
                threshold_dbfs: float = -40.0) -> AudioReport:
    """Assert the audio carries ``expected_hz`` (±``tolerance_hz``) as its dominant frequency,
    for at least ``min_seconds`` of non-silent 100 ms windows. Returns the report."""
    report = analyse(source, expected_hz, rate, tolerance_hz, threshold_dbfs)
    where = f" in {source}" if isinstance(source, str | Path) else ""
    assert report.active_s > 0, f"audio{where} is silent: {report}"
    assert abs(report.dominant_hz - expected_hz) <= tolerance_hz, (
        f"expected a {expected_hz} Hz tone{where}, got {report}")
    assert report.tone_s >= min_seconds, (
        f"{expected_hz} Hz tone{where} lasts less than {min_seconds} s: {report}")
    return report


def assert_silent(source: str | Path | npt.ArrayLike, *, rate: int | None = None,
                  max_active_s: float = 0.2, threshold_dbfs: float = -40.0) -> AudioReport:
    """Assert the audio is (almost) silent: at most ``max_active_s`` above the threshold."""
    report = analyse(source, 0.0, rate, threshold_dbfs=threshold_dbfs)
    assert report.active_s <= max_active_s, f"expected silence, got {report}"
    return report


def tone_bursts(samples: npt.ArrayLike, rate: int, freq: float, *, tolerance: float = 60.0,
                window_s: float = 0.02, min_dbfs: float = -40.0) -> int:
    """How many separate bursts of ``freq`` the audio holds (the pips of a position
    announcement): windows whose dominant frequency is near ``freq`` and loud enough, counted
    where such a run starts."""
    x = np.asarray(samples, dtype=np.int16)
    n = max(1, int(rate * window_s))
    bursts = 0
    on = False
    for start in range(0, len(x) - n + 1, n):
        w = x[start:start + n]
        hit = detect.rms_dbfs(w) > min_dbfs and \
            abs(detect.dominant_frequency(w, rate) - freq) <= tolerance
        if hit and not on:
            bursts += 1
        on = hit
    return bursts
