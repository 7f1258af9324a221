"""Tone generation: sine tones, DTMF dual tones and tone sequences as PCM16 or G.711 frames."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from webfon.rtp import g711

Samples = npt.NDArray[np.int16]

#: DTMF (low, high) frequencies in Hz, ITU-T Q.23.
DTMF_FREQS: dict[str, tuple[int, int]] = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}


def _to_int16(signal: npt.NDArray[np.float64]) -> Samples:
    return np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)


def sine(freq: float, seconds: float, rate: int = 8000, amplitude: float = 0.5,
         phase: float = 0.0) -> Samples:
    """A sine tone; ``amplitude`` is relative to full scale (0..1)."""
    n = round(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    return _to_int16(amplitude * np.sin(2 * np.pi * freq * t + phase))


def silence(seconds: float, rate: int = 8000) -> Samples:
    return np.zeros(round(seconds * rate), dtype=np.int16)


def dtmf_tone(digit: str, seconds: float = 0.1, rate: int = 8000,
              amplitude: float = 0.35) -> Samples:
    """The dual tone of a DTMF digit (each component at ``amplitude``)."""
    try:
        low, high = DTMF_FREQS[digit.upper()]
    except KeyError:
        raise ValueError(f"not a DTMF digit: {digit!r}") from None
    n = round(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    return _to_int16(amplitude * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)))


def dtmf_sequence(digits: str, tone_s: float = 0.1, gap_s: float = 0.1,
                  rate: int = 8000) -> Samples:
    """Digits as in-band DTMF separated by silence."""
    parts: list[Samples] = []
    for d in digits:
        parts.append(dtmf_tone(d, tone_s, rate))
        parts.append(silence(gap_s, rate))
    return np.concatenate(parts) if parts else silence(0, rate)


def tone_sequence(steps: Iterable[tuple[float | Sequence[float] | None, float]],
                  rate: int = 8000, amplitude: float = 0.4) -> Samples:
    """Concatenate steps of ``(frequency or frequencies or None for silence, seconds)``."""
    parts: list[Samples] = []
    for freq, seconds in steps:
        if freq is None:
            parts.append(silence(seconds, rate))
            continue
        freqs = [freq] if isinstance(freq, int | float) else list(freq)
        n = round(seconds * rate)
        t = np.arange(n, dtype=np.float64) / rate
        mix = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
        # 5 ms fade in/out avoids clicks between steps
        fade = min(n // 2, int(rate * 0.005))
        env = np.ones(n)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            env[:fade] = ramp
            env[n - fade:] = ramp[::-1]
        parts.append(_to_int16(amplitude * mix * env))
    return np.concatenate(parts) if parts else silence(0, rate)


def frames(samples: Samples, frame_samples: int = 160, pad: bool = True) -> Iterator[Samples]:
    """Split samples into frames (20 ms at 8 kHz by default); the last one is zero-padded."""
    n = len(samples)
    for start in range(0, n, frame_samples):
        frame = samples[start:start + frame_samples]
        if len(frame) < frame_samples:
            if not pad:
                return
            frame = np.concatenate([frame, np.zeros(frame_samples - len(frame), np.int16)])
        yield frame


def pcm_frames(samples: Samples, frame_samples: int = 160) -> list[bytes]:
    """Little-endian PCM16 frames."""
    return [f.astype("<i2").tobytes() for f in frames(samples, frame_samples)]


def g711_frames(samples: Samples, payload_type: int = g711.PT_PCMU,
                frame_samples: int = 160) -> list[bytes]:
    """G.711 payloads (160 bytes = 20 ms at 8 kHz by default)."""
    encoded = g711.encode(samples, payload_type)
    out = [encoded[i:i + frame_samples] for i in range(0, len(encoded), frame_samples)]
    if out and len(out[-1]) < frame_samples:
        out[-1] += g711.silence(payload_type, frame_samples - len(out[-1]))
    return out


def tone_frames(freq: float, seconds: float, payload_type: int = g711.PT_PCMU,
                amplitude: float = 0.5) -> list[bytes]:
    """A continuous sine tone as 20 ms G.711 payloads."""
    return g711_frames(sine(freq, seconds, 8000, amplitude), payload_type)
