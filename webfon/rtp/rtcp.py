"""RTCP basics (RFC 3550 §6.4): sender and receiver reports with report blocks.

Enough to report and read loss and jitter: SR and RR are parsed and built; other packet types
(SDES, BYE, APP, feedback) in a compound packet are returned as :class:`RtcpOther` so a relay
can pass them through untouched. An SR/RR can be followed by a minimal SDES CNAME via
:func:`build_sdes_cname` when a compound packet must be well-formed (RFC 3550 §6.1).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from webfon.rtp.packet import RtpError

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204

_COMMON = struct.Struct("!BBH")
_SR_INFO = struct.Struct("!IIIIII")  # ssrc, ntp msw, ntp lsw, rtp ts, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # ssrc, fraction|cumulative, ext seq, jitter, lsr, dlsr


class RtcpError(RtpError):
    """A datagram is not valid RTCP."""


@dataclass(slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 0..255, fixed point /256
    cumulative_lost: int  # signed 24 bit
    highest_seq: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP timestamp
    dlsr: int = 0  # delay since last SR, 1/65536 s

    def pack(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.cumulative_lost)) & 0xFFFFFF
        return _BLOCK.pack(
            self.ssrc & 0xFFFFFFFF, ((self.fraction_lost & 0xFF) << 24) | lost,
            self.highest_seq & 0xFFFFFFFF, self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF, self.dlsr & 0xFFFFFFFF,
        )

    @classmethod
    def unpack_from(cls, data: bytes | memoryview, offset: int) -> ReportBlock:
        ssrc, word, ext, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, word >> 24, lost, ext, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    """RTCP SR: sender info plus report blocks."""

    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)

    def build(self) -> bytes:
        if len(self.reports) > 31:
            raise RtcpError("at most 31 report blocks")
        body = _SR_INFO.pack(
            self.ssrc & 0xFFFFFFFF, (self.ntp_timestamp >> 32) & 0xFFFFFFFF,
            self.ntp_timestamp & 0xFFFFFFFF, self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF, self.octet_count & 0xFFFFFFFF,
        ) + b"".join(r.pack() for r in self.reports)
        return _COMMON.pack(0x80 | len(self.reports), RTCP_SR, len(body) // 4) + body

    @property
    def lsr(self) -> int:
        """The middle 32 bits of the NTP timestamp, as echoed in ``ReportBlock.lsr``."""
        return (self.ntp_timestamp >> 16) & 0xFFFFFFFF


@dataclass(slots=True)
class ReceiverReport:
    """RTCP RR: the reporter's SSRC plus report blocks."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)

    def build(self) -> bytes:
        if len(self.reports) > 31:
            raise RtcpError("at most 31 report blocks")
        body = struct.pack("!I", self.ssrc & 0xFFFFFFFF) + b"".join(
            r.pack() for r in self.reports)
        return _COMMON.pack(0x80 | len(self.reports), RTCP_RR, len(body) // 4) + body


@dataclass(slots=True)
class RtcpOther:
    """An RTCP packet of a type this module does not interpret (kept verbatim)."""

    packet_type: int
    count: int
    raw: bytes


RtcpPacket = SenderReport | ReceiverReport | RtcpOther


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Parse a (compound) RTCP datagram into its packets."""
    view = memoryview(data)
    n = len(view)
    if n < 4:
        raise RtcpError(f"RTCP packet too short: {n} bytes")
    out: list[RtcpPacket] = []
    pos = 0
    while pos < n:
        if n - pos < 4:
            raise RtcpError("trailing bytes after RTCP packet")
        b0, pt, words = _COMMON.unpack_from(view, pos)
        if b0 >> 6 != 2:
            raise RtcpError(f"unsupported RTCP version {b0 >> 6}")
        length = 4 * (words + 1)
        if pos + length > n:
            raise RtcpError(f"RTCP packet type {pt} longer than datagram")
        count = b0 & 0x1F
        end = pos + length
        if b0 & 0x20:  # padding: last octet of this packet counts padding bytes
            pad = view[end - 1]
            if pad == 0 or pad > length - 4:
                raise RtcpError("invalid RTCP padding")
            end -= pad
        if pt == RTCP_SR:
            if end - pos < 28 + 24 * count:
                raise RtcpError("SR shorter than its report count")
            ssrc, msw, lsw, rtp_ts, pkts, octets = _SR_INFO.unpack_from(view, pos + 4)
            blocks = [ReportBlock.unpack_from(view, pos + 28 + 24 * i) for i in range(count)]
            out.append(SenderReport(ssrc, (msw << 32) | lsw, rtp_ts, pkts, octets, blocks))
        elif pt == RTCP_RR:
            if end - pos < 8 + 24 * count:
                raise RtcpError("RR shorter than its report count")
            (ssrc,) = struct.unpack_from("!I", view, pos + 4)
            blocks = [ReportBlock.unpack_from(view, pos + 8 + 24 * i) for i in range(count)]
            out.append(ReceiverReport(ssrc, blocks))
        else:
            out.append(RtcpOther(pt, count, bytes(view[pos:pos + length])))
        pos += length
    return out


def build_sdes_cname(ssrc: int, cname: str) -> bytes:
    """An SDES packet with one chunk carrying a CNAME item."""
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc & 0xFFFFFFFF, 1, len(text)) + text + b"\x00"
    chunk += bytes(-len(chunk) % 4)
    return _COMMON.pack(0x81, RTCP_SDES, len(chunk) // 4) + chunk


def ntp_timestamp(unix_time: float) -> int:
    """Convert a Unix time in seconds to the 64-bit NTP timestamp format."""
    seconds = int(unix_time) + 2208988800
    fraction = int((unix_time % 1.0) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds & 0xFFFFFFFF) << 32) | fraction


def compound_report(ssrc: int, cname: str, blocks: list[ReportBlock], packets_sent: int,
                    rtp_timestamp: int = 0, octets_sent: int = 0) -> bytes:
    """Our compound RTCP report: a sender report (a receiver report while nothing was sent)
    carrying ``blocks``, then our CNAME."""
    if packets_sent:
        head = SenderReport(ssrc, ntp_timestamp(time.time()), rtp_timestamp,
                            packets_sent & 0xFFFFFFFF, octets_sent, blocks).build()
    else:
        head = ReceiverReport(ssrc, blocks).build()
    return head + build_sdes_cname(ssrc, cname)
