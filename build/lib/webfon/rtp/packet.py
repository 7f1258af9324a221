"""RTP packets (RFC 3550 §5.1): parse, build and in-place header rewriting.

The functions here are on the hot path of the media relay, so they work on ``bytes`` /
``bytearray`` with :mod:`struct` and avoid per-packet objects where a caller only needs a field
or two (:func:`peek_header`, :func:`rewrite_header`). :class:`RtpPacket` is the full, checked
view for everything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
HEADER_SIZE = 12

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")
_SEQ = struct.Struct("!H")
_TS = struct.Struct("!I")


class RtpError(ValueError):
    """A datagram is not a valid RTP packet (the message says why)."""


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """True when a datagram multiplexed on an RTP port is RTCP (RFC 5761 §4: PT 192..223)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def peek_header(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int, int]:
    """Return ``(payload_type, marker, seq, timestamp, ssrc)`` without building an object.

    Only the fixed header is checked (length and version); use :meth:`RtpPacket.parse` when the
    payload boundaries matter.
    """
    if len(data) < HEADER_SIZE:
        raise RtpError(f"RTP packet too short: {len(data)} bytes")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        raise RtpError(f"unsupported RTP version {b0 >> 6}")
    return b1 & 0x7F, b1 >> 7, seq, ts, ssrc


def rewrite_header(
    buf: bytearray,
    *,
    seq: int | None = None,
    timestamp: int | None = None,
    ssrc: int | None = None,
    payload_type: int | None = None,
    marker: bool | None = None,
) -> None:
    """Rewrite fields of the fixed header of ``buf`` in place (for relays)."""
    if len(buf) < HEADER_SIZE:
        raise RtpError(f"RTP packet too short: {len(buf)} bytes")
    if payload_type is not None or marker is not None:
        b1 = buf[1]
        if payload_type is not None:
            b1 = (b1 & 0x80) | (payload_type & 0x7F)
        if marker is not None:
            b1 = (b1 & 0x7F) | (0x80 if marker else 0)
        buf[1] = b1
    if seq is not None:
        _SEQ.pack_into(buf, 2, seq & 0xFFFF)
    if timestamp is not None:
        _TS.pack_into(buf, 4, timestamp & 0xFFFFFFFF)
    if ssrc is not None:
        _TS.pack_into(buf, 8, ssrc & 0xFFFFFFFF)


def build_header(
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    marker: bool = False,
) -> bytes:
    """Return a 12-byte fixed header (no padding, extension or CSRCs)."""
    return _HEADER.pack(
        0x80, (0x80 if marker else 0) | (payload_type & 0x7F), seq & 0xFFFF,
        timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF,
    )


@dataclass(slots=True)
class RtpPacket:
    """A parsed RTP packet; ``payload`` excludes header, CSRCs, extension and padding."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        """Parse and validate a whole RTP packet."""
        n = len(data)
        if n < HEADER_SIZE:
            raise RtpError(f"RTP packet too short: {n} bytes")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != RTP_VERSION:
            raise RtpError(f"unsupported RTP version {b0 >> 6}")
        cc = b0 & 0x0F
        pos = HEADER_SIZE + 4 * cc
        if n < pos:
            raise RtpError(f"RTP packet truncated in CSRC list ({cc} CSRCs, {n} bytes)")
        csrcs = struct.unpack_from(f"!{cc}I", data, HEADER_SIZE) if cc else ()
        profile = None
        ext = b""
        if b0 & 0x10:
            if n < pos + 4:
                raise RtpError("RTP packet truncated in header extension")
            profile, words = _EXT_HEADER.unpack_from(data, pos)
            pos += 4
            if n < pos + 4 * words:
                raise RtpError("RTP header extension longer than packet")
            ext = bytes(data[pos:pos + 4 * words])
            pos += 4 * words
        end = n
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or pos + padding > n:
                raise RtpError(f"invalid RTP padding length {padding}")
            end = n - padding
        return cls(
            payload_type=b1 & 0x7F, seq=seq, timestamp=ts, ssrc=ssrc,
            payload=bytes(data[pos:end]), marker=bool(b1 & 0x80), csrcs=tuple(csrcs),
            extension_profile=profile, extension=ext, padding=padding,
        )

    def build(self) -> bytes:
        """Serialize; ``extension`` must be a multiple of 4 bytes, ``padding`` 0..255."""
        if len(self.csrcs) > 15:
            raise RtpError("at most 15 CSRCs")
        if len(self.extension) % 4:
            raise RtpError("header extension length must be a multiple of 4")
        if not 0 <= self.padding <= 255:
            raise RtpError("padding must be 0..255")
        has_ext = self.extension_profile is not None
        b0 = 0x80 | (0x20 if self.padding else 0) | (0x10 if has_ext else 0) | len(self.csrcs)
        parts = [_HEADER.pack(
            b0, (0x80 if self.marker else 0) | (self.payload_type & 0x7F), self.seq & 0xFFFF,
            self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF,
        )]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if has_ext:
            parts.append(_EXT_HEADER.pack(self.extension_profile, len(self.extension) // 4))
            parts.append(self.extension)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)
