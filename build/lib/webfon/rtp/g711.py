"""G.711 µ-law (PCMU) and A-law (PCMA) codecs with lookup tables.

Decoding maps each code to a 16-bit linear sample (256-entry tables); encoding looks up a
65536-entry table indexed by the sample's unsigned 16-bit pattern. The tables follow the classic
segment/quantisation rules of ITU-T G.711 as implemented in the widely used public-domain
``g711.c`` (µ-law quantises the 14-bit magnitude, A-law the 13-bit one's-complement magnitude).
µ-law ⇄ A-law transcoding of payloads is a ``bytes.translate`` with no PCM step.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PT_PCMU = 0
PT_PCMA = 8

Samples = npt.NDArray[np.int16]


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _segment(value: npt.NDArray[np.int32], ends: tuple[int, ...]) -> npt.NDArray[np.int32]:
    return np.searchsorted(np.asarray(ends), value, side="left").astype(np.int32)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(65536, dtype=np.int32)
    pcm = np.where(pcm >= 32768, pcm - 65536, pcm) >> 2  # 14-bit, arithmetic shift
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + 0x21
    seg = _segment(mag, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    code = (seg << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(65536, dtype=np.int32)
    pcm = np.where(pcm >= 32768, pcm - 65536, pcm) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = (seg << 4) | ((mag >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


ULAW_DECODE: npt.NDArray[np.int16] = _ulaw_decode_table()
ALAW_DECODE: npt.NDArray[np.int16] = _alaw_decode_table()
ULAW_ENCODE: npt.NDArray[np.uint8] = _ulaw_encode_table()
ALAW_ENCODE: npt.NDArray[np.uint8] = _alaw_encode_table()

#: ``bytes.translate`` tables for transcoding payloads without a PCM step.
ULAW_TO_ALAW: bytes = ALAW_ENCODE[ULAW_DECODE.view(np.uint16)].tobytes()
ALAW_TO_ULAW: bytes = ULAW_ENCODE[ALAW_DECODE.view(np.uint16)].tobytes()


def _as_samples(samples: Samples | bytes | bytearray | memoryview) -> Samples:
    if isinstance(samples, bytes | bytearray | memoryview):
        return np.frombuffer(samples, dtype="<i2")
    return np.asarray(samples, dtype=np.int16)


def ulaw_decode(payload: bytes | bytearray | memoryview) -> Samples:
    """µ-law bytes → int16 samples."""
    return ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def alaw_decode(payload: bytes | bytearray | memoryview) -> Samples:
    """A-law bytes → int16 samples."""
    return ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def ulaw_encode(samples: Samples | bytes | bytearray | memoryview) -> bytes:
    """int16 samples (or little-endian PCM16 bytes) → µ-law bytes."""
    return ULAW_ENCODE[_as_samples(samples).view(np.uint16)].tobytes()


def alaw_encode(samples: Samples | bytes | bytearray | memoryview) -> bytes:
    """int16 samples (or little-endian PCM16 bytes) → A-law bytes."""
    return ALAW_ENCODE[_as_samples(samples).view(np.uint16)].tobytes()


def ulaw_to_alaw(payload: bytes) -> bytes:
    return payload.translate(ULAW_TO_ALAW)


def alaw_to_ulaw(payload: bytes) -> bytes:
    return payload.translate(ALAW_TO_ULAW)


def decode(payload: bytes | bytearray | memoryview, payload_type: int) -> Samples:
    """Decode a PCMU (0) or PCMA (8) payload."""
    if payload_type == PT_PCMU:
        return ulaw_decode(payload)
    if payload_type == PT_PCMA:
        return alaw_decode(payload)
    raise ValueError(f"not a G.711 payload type: {payload_type}")


def encode(samples: Samples | bytes | bytearray | memoryview, payload_type: int) -> bytes:
    """Encode samples as PCMU (0) or PCMA (8)."""
    if payload_type == PT_PCMU:
        return ulaw_encode(samples)
    if payload_type == PT_PCMA:
        return alaw_encode(samples)
    raise ValueError(f"not a G.711 payload type: {payload_type}")


def silence(payload_type: int, nbytes: int = 160) -> bytes:
    """A payload of digital silence."""
    return bytes((0xFF if payload_type == PT_PCMU else 0xD5,)) * nbytes
