"""Uploaded IVR prompts: a WAV file checked and turned into what the PBX plays (8 kHz mono
16-bit PCM), with a message that says what is wrong with a file that will not do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from webfon.rtp.wav import WavError, decode_wav, encode_wav

RATE = 8000
ENCODINGS = {1: "PCM", 3: "float", 6: "A-law", 7: "µ-law"}


class PromptError(ValueError):
    """The file cannot be a prompt; the message says why (for a 415 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Prompt:
    wav: bytes
    """8 kHz mono PCM16 WAV."""
    duration_s: float
    original: str
    """What was uploaded, e.g. ``PCM 16-bit 44100 Hz stereo``."""


def normalise(data: bytes, max_s: float) -> Prompt:
    """Check an uploaded WAV and resample it to 8 kHz mono."""
    try:
        samples, info = decode_wav(data)
    except WavError as exc:
        raise PromptError(415, f"not a usable WAV file: {exc}; upload a WAV (PCM 8/16/24/32-bit, "
                               f"float, A-law or µ-law)") from None
    if info.rate < 8000 or info.rate > 192_000:
        raise PromptError(422, f"sample rate {info.rate} Hz is not supported: use 8000 to "
                               f"192000 Hz (8000 Hz mono is played as is)")
    channels = {1: "mono", 2: "stereo"}.get(info.channels, f"{info.channels} channels")
    original = f"{ENCODINGS.get(info.format_tag, info.format_tag)} {info.bits}-bit " \
               f"{info.rate} Hz {channels}"
    duration = info.frames / info.rate
    if info.frames == 0:
        raise PromptError(422, "the WAV file holds no audio")
    if duration > max_s:
        raise PromptError(422, f"the prompt lasts {duration:.1f} s; at most {max_s:g} s")
    if info.rate != RATE:
        n = max(1, round(len(samples) * RATE / info.rate))
        src = np.arange(len(samples), dtype=np.float64) * RATE / info.rate
        # a light low-pass before decimating (moving average over the ratio), then linear
        # interpolation onto the 8 kHz grid
        ratio = info.rate / RATE
        x = samples.astype(np.float64)
        if ratio > 1.5:
            k = round(ratio)
            x = np.convolve(x, np.ones(k) / k, mode="same")
        samples = np.clip(np.round(np.interp(np.arange(n, dtype=np.float64), src, x)),
                          -32768, 32767).astype(np.int16)
    return Prompt(encode_wav(samples, RATE), len(samples) / RATE, original)
