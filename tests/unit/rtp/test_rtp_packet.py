"""RTP packet parse/build/rewrite and RTCP SR/RR."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webfon.rtp.packet import (
    RtpError,
    RtpPacket,
    build_header,
    is_rtcp,
    peek_header,
    rewrite_header,
)
from webfon.rtp.rtcp import (
    RTCP_SDES,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpOther,
    SenderReport,
    build_sdes_cname,
    ntp_timestamp,
    parse_rtcp,
)

# Hand-assembled packet: V=2 P=1 X=1 CC=2, M=1 PT=8, seq 0x1234, ts 0xdeadbeef, ssrc 0x01020304,
# CSRCs 7 and 9, extension profile 0xBEDE with one word, payload "abc", 3 bytes of padding.
SAMPLE = bytes.fromhex(
    "b2881234deadbeef01020304"
    "0000000700000009"
    "bede000111223344"
    "616263" "000003"
)


def test_parse_hand_assembled_packet() -> None:
    p = RtpPacket.parse(SAMPLE)
    assert (p.payload_type, p.marker, p.seq, p.timestamp, p.ssrc) == (
        8, True, 0x1234, 0xDEADBEEF, 0x01020304)
    assert p.csrcs == (7, 9)
    assert p.extension_profile == 0xBEDE
    assert p.extension == bytes.fromhex("11223344")
    assert p.payload == b"abc"
    assert p.padding == 3
    assert p.build() == SAMPLE


def test_build_minimal_header() -> None:
    h = build_header(0, 65535 + 2, 2**32 + 5, 42, marker=True)
    assert h == struct.pack("!BBHII", 0x80, 0x80, 1, 5, 42)
    assert peek_header(h + b"x") == (0, 1, 1, 5, 42)


@pytest.mark.parametrize("data, message", [
    (b"\x80\x00", "too short"),
    (bytes.fromhex("4000000100000001000000010000"), "version"),
    (bytes.fromhex("83000001000000010000000100000001"), "CSRC"),
    (bytes.fromhex("900000010000000100000001bede0002aabbccdd"), "extension"),
    (bytes.fromhex("a000000100000001000000010000ff"), "padding"),
    (bytes.fromhex("a00000010000000100000001616200"), "padding"),
])
def test_parse_rejects_invalid(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        RtpPacket.parse(data)


def test_rewrite_header_in_place() -> None:
    buf = bytearray(build_header(0, 10, 1000, 5) + b"payload")
    rewrite_header(buf, seq=70000, timestamp=7, ssrc=0xFFFFFFFF, payload_type=8, marker=True)
    p = RtpPacket.parse(buf)
    assert (p.seq, p.timestamp, p.ssrc, p.payload_type, p.marker, p.payload) == (
        70000 & 0xFFFF, 7, 0xFFFFFFFF, 8, True, b"payload")
    rewrite_header(buf, marker=False)
    assert RtpPacket.parse(buf).marker is False
    assert RtpPacket.parse(buf).payload_type == 8


def test_is_rtcp_demux() -> None:
    assert is_rtcp(ReceiverReport(1).build())
    assert not is_rtcp(build_header(0, 1, 1, 1))
    assert not is_rtcp(build_header(96, 1, 1, 1, marker=True))  # 0xE0 is outside 192..223


@given(
    pt=st.integers(0, 127), seq=st.integers(0, 65535), ts=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1), marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15),
    ext=st.one_of(st.none(), st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))),
    payload=st.binary(max_size=200), padding=st.integers(0, 255),
)
def test_roundtrip_property(pt: int, seq: int, ts: int, ssrc: int, marker: bool,
                            csrcs: list[int], ext: bytes | None, payload: bytes,
                            padding: int) -> None:
    p = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrcs),
                  0x1000 if ext is not None else None, ext or b"", padding)
    assert RtpPacket.parse(p.build()) == p


@given(st.binary(max_size=64))
def test_parse_never_crashes_on_garbage(data: bytes) -> None:
    try:
        RtpPacket.parse(data)
    except RtpError:
        pass
    try:
        parse_rtcp(data)
    except RtcpError:
        pass


def test_rtcp_sr_rr_roundtrip() -> None:
    block = ReportBlock(ssrc=0xAABBCCDD, fraction_lost=64, cumulative_lost=-3,
                        highest_seq=70000, jitter=123, lsr=0x12345678, dlsr=65536)
    sr = SenderReport(ssrc=1, ntp_timestamp=ntp_timestamp(1_700_000_000.5), rtp_timestamp=99,
                      packet_count=10, octet_count=1600, reports=[block])
    rr = ReceiverReport(ssrc=2, reports=[block, block])
    compound = sr.build() + rr.build() + build_sdes_cname(1, "host@example")
    packets = parse_rtcp(compound)
    assert packets[0] == sr
    assert packets[1] == rr
    assert isinstance(packets[2], RtcpOther) and packets[2].packet_type == RTCP_SDES
    assert len(sr.build()) == 28 + 24
    assert len(rr.build()) == 8 + 48
    # NTP: 2023-11-14T22:13:20.5Z → seconds since 1900 and half a second of fraction
    assert sr.ntp_timestamp >> 32 == 1_700_000_000 + 2_208_988_800
    assert sr.ntp_timestamp & 0xFFFFFFFF == 1 << 31
    assert sr.lsr == ((sr.ntp_timestamp >> 16) & 0xFFFFFFFF)


def test_rtcp_rejects_truncated() -> None:
    data = ReceiverReport(2, [ReportBlock(1, 0, 0, 0, 0)]).build()
    with pytest.raises(RtcpError):
        parse_rtcp(data[:-4])
    with pytest.raises(RtcpError):
        parse_rtcp(b"\x00\xc9\x00\x01\x00\x00\x00\x00")  # version 0
