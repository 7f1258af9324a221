"""ReceiverStats: sequence tracking, loss and jitter (RFC 3550 A.1/A.3/A.8)."""

from __future__ import annotations

from webfon.rtp.rtcp import SenderReport
from webfon.rtp.stats import ReceiverStats


def feed(stats: ReceiverStats, seqs: list[int], ts_step: int = 160, t_step: float = 0.02,
         start_seq: int | None = None) -> None:
    base = seqs[0] if start_seq is None else start_seq
    for seq in seqs:
        n = (seq - base) & 0xFFFF
        stats.update(seq & 0xFFFF, n * ts_step, n * t_step, 172)


def test_no_loss_perfect_timing() -> None:
    s = ReceiverStats()
    feed(s, list(range(100, 200)))
    assert (s.received, s.expected, s.lost, s.jitter) == (100, 100, 0, 0)
    assert s.loss_ratio == 0.0
    assert s.octets == 100 * 172


def test_loss_and_interval_fraction() -> None:
    s = ReceiverStats()
    seqs = [q for q in range(0, 100) if q % 10 != 5]  # 10 of 100 lost
    feed(s, seqs)
    assert s.expected == 100
    assert s.received == 90
    assert s.lost == s.expected - 90
    assert s.interval_fraction_lost() == (s.lost << 8) // s.expected
    # a second interval without loss reports 0
    feed(s, list(range(100, 150)), start_seq=0)
    assert s.interval_fraction_lost() == 0


def test_sequence_wrap_counts_cycles() -> None:
    s = ReceiverStats()
    feed(s, [65530 + i for i in range(20)])
    assert s.cycles == 65536
    assert s.extended_max == 65536 + ((65530 + 19) & 0xFFFF)
    assert (s.received, s.lost) == (20, 0)


def test_duplicates_and_reordering() -> None:
    s = ReceiverStats()
    for seq in [1, 2, 4, 3, 5, 5]:
        s.update(seq, seq * 160, seq * 0.02)
    assert s.max_seq == 5
    assert s.received == 6
    assert s.lost == -1  # a duplicate makes cumulative loss negative, as RFC 3550 says


def test_big_jump_needs_two_packets_to_resync() -> None:
    s = ReceiverStats()
    feed(s, list(range(10)))
    assert s.update(40000, 0, 1.0) is False
    assert s.update(40001, 160, 1.02) is True
    assert s.base_seq == 40001
    assert s.received == 1


def test_probation() -> None:
    s = ReceiverStats(probation=2)
    assert s.update(10, 0, 0.0) is False
    assert s.update(11, 160, 0.02) is True
    assert s.update(12, 320, 0.04) is True
    assert s.received == 2
    assert s.base_seq == 11


def test_jitter_converges_to_constant_deviation() -> None:
    # packets alternate 0 and 10 ms late: |D| is 80 timestamp units each time, so the
    # running estimate J += (|D| - J)/16 converges to 80
    s = ReceiverStats()
    for i in range(400):
        late = 0.010 if i % 2 else 0.0
        s.update(i, i * 160, i * 0.02 + late)
    assert 78 <= s.jitter <= 80
    assert abs(s.jitter_ms - s.jitter / 8.0) < 0.2


def test_report_block_uses_last_sr() -> None:
    s = ReceiverStats(ssrc=77)
    feed(s, list(range(50)))
    sr = SenderReport(77, 0x0001_2345_6789_0000, 0, 0, 0)
    s.on_sender_report(sr, arrival=10.0)
    block = s.report_block(now=10.5)
    assert block.ssrc == 77
    assert block.lsr == 0x2345_6789
    assert block.dlsr == 32768
    assert block.highest_seq == 49
    assert block.cumulative_lost == 0
