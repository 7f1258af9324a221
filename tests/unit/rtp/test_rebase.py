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


def test_restamp_writes_what_apply_writes_with_the_relays_ssrc() -> None:
    """The relay's one-write variant agrees with apply over sources, jumps, late packets."""
    import random
    import struct

    rng = random.Random(7)
    by_apply, by_restamp = StreamRebaser(), StreamRebaser()
    seq, ts, ssrc = 65000, 4_294_960_000, 11
    for i in range(3000):
        roll = rng.random()
        if roll < 0.01:
            ssrc, seq, ts = rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32)
        elif roll < 0.02:
            seq = (seq + rng.choice((-50, -3, 1, 3500, 40000))) & 0xFFFF
        elif roll < 0.03:
            seq = (seq - 1) & 0xFFFF  # a duplicate
        else:
            seq, ts = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF
        expected = _pkt(seq, ts, ssrc)
        by_apply.apply(expected)
        expected[8:12] = (0xCAFE0000 + i % 3).to_bytes(4, "big")
        got = _pkt(seq, ts, ssrc)
        by_restamp.restamp(got, *struct.unpack_from("!HII", got, 2), 0xCAFE0000 + i % 3)
        assert got == expected, i
    assert by_restamp.state() == by_apply.state() and by_apply.rebased > 5
