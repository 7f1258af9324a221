"""WAV files: read any common PCM/G.711 WAV as mono int16, write PCM16 and G.711 WAVs.

Reading accepts format tags 1 (PCM 8/16/24/32-bit), 3 (float32/64), 6 (A-law), 7 (µ-law) and
WAVE_FORMAT_EXTENSIBLE wrapping them; several channels are averaged to mono. Writing produces
PCM16 (8 kHz mono for voicemail and prompts, 48 kHz mono for Chromium's
``--use-file-for-fake-audio-capture``) or G.711 WAVs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from webfon.rtp import g711
from webfon.rtp.tones import sine

Samples = npt.NDArray[np.int16]

FORMAT_PCM = 1
FORMAT_FLOAT = 3
FORMAT_ALAW = 6
FORMAT_ULAW = 7
FORMAT_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """A file is not a WAV this module can read."""


@dataclass(slots=True)
class WavInfo:
    format_tag: int
    channels: int
    rate: int
    bits: int
    frames: int


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    if data[:4] == b"RIFX":
        raise WavError("big-endian RIFX files are not supported")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8:pos + 8 + size]
        if cid == b"data" and (size == 0 or size == 0xFFFFFFFF or len(body) < size):
            body = data[pos + 8:]  # streaming writers leave the size unset or too big
        chunks.setdefault(cid, body)
        pos += 8 + size + (size & 1)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise WavError("WAV file without fmt or data chunk")
    return chunks


def read_wav_info(path: str | Path) -> WavInfo:
    return _read(Path(path).read_bytes())[1]


def read_wav(path: str | Path) -> tuple[Samples, int]:
    """Return ``(mono int16 samples, sample rate)``."""
    samples, info = _read(Path(path).read_bytes())
    return samples, info.rate


def decode_wav_bytes(data: bytes) -> tuple[Samples, int]:
    samples, info = _read(data)
    return samples, info.rate


def decode_wav(data: bytes) -> tuple[Samples, WavInfo]:
    """Mono int16 samples and what the file was (encoding, channels, rate, frames)."""
    return _read(data)


def _read(data: bytes) -> tuple[Samples, WavInfo]:
    chunks = _chunks(data)
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise WavError("fmt chunk too short")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == FORMAT_EXTENSIBLE:
        if len(fmt) < 26:
            raise WavError("extensible fmt chunk too short")
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if channels < 1 or rate < 1:
        raise WavError("WAV with no channels or no sample rate")
    raw = chunks[b"data"]
    if tag == FORMAT_PCM and bits == 16:
        x = np.frombuffer(raw[:len(raw) // 2 * 2], dtype="<i2").astype(np.float64)
    elif tag == FORMAT_PCM and bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif tag == FORMAT_PCM and bits == 24:
        b = np.frombuffer(raw[:len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        x = v.astype(np.float64) / 256.0
    elif tag == FORMAT_PCM and bits == 32:
        x = np.frombuffer(raw[:len(raw) // 4 * 4], dtype="<i4").astype(np.float64) / 65536.0
    elif tag == FORMAT_FLOAT and bits in (32, 64):
        dt = "<f4" if bits == 32 else "<f8"
        x = np.frombuffer(raw[:len(raw) // (bits // 8) * (bits // 8)], dtype=dt) * 32767.0
    elif tag == FORMAT_ULAW and bits == 8:
        x = g711.ulaw_decode(raw).astype(np.float64)
    elif tag == FORMAT_ALAW and bits == 8:
        x = g711.alaw_decode(raw).astype(np.float64)
    else:
        raise WavError(f"unsupported WAV encoding: format {tag}, {bits} bits")
    frames = len(x) // channels
    x = x[:frames * channels]
    if channels > 1:
        x = x.reshape(frames, channels).mean(axis=1)
    samples = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return samples, WavInfo(tag, channels, rate, bits, frames)


def _header(tag: int, channels: int, rate: int, bits: int, nbytes: int) -> bytes:
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if tag != FORMAT_PCM:
        fmt += b"\x00\x00"  # cbSize for non-PCM formats
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack(
        "<I", nbytes)
    return b"RIFF" + struct.pack("<I", len(body) + nbytes + (nbytes & 1)) + body


def encode_wav(samples: npt.ArrayLike, rate: int, channels: int = 1,
               encoding: str = "pcm16") -> bytes:
    """WAV bytes; ``encoding`` is "pcm16", "ulaw" or "alaw"; multi-channel input is
    interleaved (shape frames × channels)."""
    x = np.asarray(samples, dtype=np.int16)
    if x.ndim == 2:
        channels = x.shape[1]
    x = x.reshape(-1)
    if encoding == "pcm16":
        raw = x.astype("<i2").tobytes()
        header = _header(FORMAT_PCM, channels, rate, 16, len(raw))
    elif encoding == "ulaw":
        raw = g711.ulaw_encode(x)
        header = _header(FORMAT_ULAW, channels, rate, 8, len(raw))
    elif encoding == "alaw":
        raw = g711.alaw_encode(x)
        header = _header(FORMAT_ALAW, channels, rate, 8, len(raw))
    else:
        raise ValueError(f"unknown WAV encoding {encoding!r}")
    return header + raw + (b"\x00" if len(raw) & 1 else b"")


def write_wav(path: str | Path, samples: npt.ArrayLike, rate: int = 8000, channels: int = 1,
              encoding: str = "pcm16") -> Path:
    """Write a WAV file (see :func:`encode_wav`); returns the path."""
    p = Path(path)
    p.write_bytes(encode_wav(samples, rate, channels, encoding))
    return p


def write_tone_wav(path: str | Path, freq: float, seconds: float, rate: int = 8000,
                   amplitude: float = 0.5, encoding: str = "pcm16") -> Path:
    """A mono sine-tone WAV (``rate=48000`` for Chromium's fake audio capture)."""
    return write_wav(path, sine(freq, seconds, rate, amplitude), rate, 1, encoding)


def write_raw_g711(path: str | Path, samples: npt.ArrayLike, payload_type: int) -> Path:
    """Headerless G.711 (the format sipp's ``rtp_stream`` plays)."""
    p = Path(path)
    p.write_bytes(g711.encode(np.asarray(samples, dtype=np.int16), payload_type))
    return p
