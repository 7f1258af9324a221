"""StreamRebaser: one continuous output stream whatever the source does."""

from __future__ import annotations

from webfon.rtp.packet import RtpPacket
from webfon.rtp.rebase import StreamRebaser


def _pkt(seq: int, ts: int, ssrc: int) -> bytearray:
    return bytearray(RtpPacket(payload_type=0, seq=seq, timestamp=ts, ssrc=ssrc,
                               payload=b"\xff" * 160).build())


def _out(rb: StreamRebaser, seq: int, ts: int, ssrc: int) -> tuple[int, int]:
    buf = _pkt(seq, ts, ssrc)
    rb.apply(buf)
    p = RtpPacket.parse(bytes(buf))
    return p.seq, p.timestamp


def test_one_source_passes_unchanged() -> None:
    rb = StreamRebaser()
    assert [_out(rb, 100 + i, 8000 + 160 * i, 7) for i in range(3)] == \
        [(100, 8000), (101, 8160), (102, 8320)]
    assert rb.rebased == 0


def test_new_source_continues_the_sequence() -> None:
    rb = StreamRebaser()
    _out(rb, 5000, 1_000_000, 1)
    _out(rb, 5001, 1_000_160, 1)
    # the transfer target's stream starts far behind: the output goes on from 5002
    assert _out(rb, 12, 400, 2) == (5002, 1_000_320)
    assert _out(rb, 13, 560, 2) == (5003, 1_000_480)
    assert rb.rebased == 1


def test_same_source_jumping_back_is_rebased_but_late_packets_are_not() -> None:
    rb = StreamRebaser()
    for i in range(10):
        _out(rb, 1000 + i, 160 * i, 9)
    assert _out(rb, 1005, 160 * 5, 9) == (1005, 800)  # late packet: left as it was
    assert rb.rebased == 0
    assert _out(rb, 20, 99, 9)[0] == 1010             # a restart of the same ssrc
    assert rb.rebased == 1


def test_wraps_around() -> None:
    rb = StreamRebaser()
    _out(rb, 65534, 0xFFFFFF00, 3)
    assert _out(rb, 65535, 0xFFFFFFA0, 3) == (65535, 0xFFFFFFA0)
    assert _out(rb, 0, 0x40, 3) == (0, 0x40)
    assert rb.rebased == 0
