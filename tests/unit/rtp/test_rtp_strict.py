"""Strict RTP: which source a call's media socket accepts, and when it moves."""

from __future__ import annotations

import time

import pytest

from webfon.rtp.packet import build_header
from webfon.rtp.strict import Admit, SourceState, StrictSource

SDP = ("10.0.0.5", 4000)
NAT = ("198.51.100.7", 61000)
EVIL = ("203.0.113.66", 5004)


def pkt(seq: int, ssrc: int = 7) -> bytes:
    return bytes(build_header(8, seq & 0xFFFF, 160 * seq, ssrc)) + b"\xd5" * 160


def feed(strict: StrictSource, addr: tuple, packet: bytes) -> Admit:
    """What the relay does: the tuple compare, then admit() when it differs."""
    return Admit.ACCEPT if addr == strict.source else strict.admit(packet, addr)


def test_negotiated_address_locks_at_once_and_strangers_are_dropped() -> None:
    s = StrictSource(SDP)
    assert feed(s, EVIL, pkt(1)) is Admit.DROP
    assert feed(s, SDP, pkt(1)) is Admit.NEW_SOURCE
    assert feed(s, SDP, pkt(2)) is Admit.ACCEPT
    for seq in range(10):  # even a stranger in perfect sequence, inside the window
        assert feed(s, EVIL, pkt(seq, ssrc=99)) is Admit.DROP
    assert s.source == SDP and s.dropped == 11


def test_nat_source_is_learned_from_packets_in_sequence() -> None:
    s = StrictSource(SDP, probation=4)
    verdicts = [feed(s, NAT, pkt(seq)) for seq in range(100, 104)]
    assert verdicts == [Admit.DROP] * 3 + [Admit.NEW_SOURCE]
    assert s.source == NAT
    # broken sequences (what a spraying attacker sends to many ports) do not qualify
    t = StrictSource(SDP, probation=4)
    assert {feed(t, EVIL, pkt(seq)) for seq in (1, 5, 9, 13, 2, 7)} == {Admit.DROP}
    assert t.source is None


def test_negotiated_address_wins_inside_the_window_then_the_source_locks() -> None:
    s = StrictSource(SDP, window=0.05)
    for seq in range(4):
        feed(s, NAT, pkt(seq))
    assert s.source == NAT
    assert feed(s, SDP, pkt(50)) is Admit.NEW_SOURCE  # the target address speaks: it wins
    assert feed(s, NAT, pkt(5)) is Admit.DROP
    time.sleep(0.06)
    for seq in range(6, 12):
        assert feed(s, NAT, pkt(seq)) is Admit.DROP
    assert s.state is SourceState.LOCKED


def test_locked_source_stays_until_signalling_moves_it() -> None:
    s = StrictSource(SDP, window=0.0)
    feed(s, SDP, pkt(1))
    assert feed(s, ("10.0.0.9", 4000), pkt(2)) is Admit.DROP  # now locked
    s.expect(("10.0.0.9", 4000))                               # a re-INVITE moves it
    assert feed(s, ("10.0.0.9", 4000), pkt(3)) is Admit.NEW_SOURCE
    assert feed(s, SDP, pkt(4)) is Admit.DROP and s.state is SourceState.LOCKED
    s.expect(("10.0.0.9", 4000))           # a re-INVITE with the same address: stays locked
    assert s.state is SourceState.LOCKED and feed(s, SDP, pkt(5)) is Admit.DROP


def test_rtcp_only_from_the_source_host_and_off_means_follow() -> None:
    s = StrictSource(SDP)
    assert not s.rtcp_ok((SDP[0], 4001))  # nothing locked yet
    feed(s, SDP, pkt(1))
    assert s.rtcp_ok((SDP[0], 4001)) and not s.rtcp_ok((EVIL[0], 4001))
    off = StrictSource(SDP, enabled=False)
    assert feed(off, EVIL, pkt(1)) is Admit.NEW_SOURCE and off.source == EVIL


@pytest.mark.parametrize("locked", [True, False])
def test_snapshot_restores_in_another_process(locked: bool) -> None:
    s = StrictSource(SDP, window=0.0 if locked else 5.0)
    feed(s, SDP, pkt(1))
    feed(s, EVIL, pkt(2))
    r = StrictSource.restore(s.snapshot())
    assert r.source == SDP and r.expected == SDP
    assert (r.state is SourceState.LOCKED) == (s.state is SourceState.LOCKED)
