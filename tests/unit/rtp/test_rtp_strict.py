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


def stream(strict: StrictSource, addr: tuple, seqs: range, ssrc: int = 7) -> list[Admit]:
    """Packets at the pace of a phone (20 ms apart)."""
    out = []
    for seq in seqs:
        out.append(feed(strict, addr, pkt(seq, ssrc)))
        time.sleep(0.02)
    return out


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
    assert stream(s, NAT, range(100, 104)) == [Admit.DROP] * 3 + [Admit.NEW_SOURCE]
    assert s.source == NAT
    # broken sequences (what a spraying attacker sends to many ports) do not qualify ...
    t = StrictSource(SDP, probation=4)
    assert {feed(t, EVIL, pkt(seq)) for seq in (1, 5, 9, 13, 2, 7)} == {Admit.DROP}
    # ... nor does a burst in sequence, faster than any phone sends
    assert {feed(t, EVIL, pkt(seq)) for seq in range(20, 60)} == {Admit.DROP}
    assert t.source is None
    # and with probation 0 only the negotiated address is ever accepted
    u = StrictSource(SDP, probation=0)
    assert set(stream(u, NAT, range(6))) == {Admit.DROP}


def test_negotiated_address_wins_inside_the_window_then_the_source_locks() -> None:
    s = StrictSource(SDP, window=1.0)
    stream(s, NAT, range(4))
    assert s.source == NAT
    assert feed(s, SDP, pkt(50)) is Admit.NEW_SOURCE  # the target address speaks: it wins
    assert feed(s, NAT, pkt(5)) is Admit.DROP
    time.sleep(1.0)
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


def test_signalling_naming_the_learned_source_keeps_it_locked() -> None:
    """A re-INVITE naming the address a NAT'd phone already sends from (its public address)
    has nothing to learn: the source stays locked, and no stranger can be learned."""
    s = StrictSource(SDP, window=0.2, probation=4)
    stream(s, NAT, range(4))
    time.sleep(0.2)
    assert feed(s, EVIL, pkt(1)) is Admit.DROP and s.state is SourceState.LOCKED
    s.expect(NAT)
    assert s.state is SourceState.LOCKED and s.source == NAT
    assert set(stream(s, EVIL, range(10, 16), ssrc=5)) == {Admit.DROP}
    # and while still learning: the source is the one named, settled
    t = StrictSource(SDP, probation=4)
    stream(t, NAT, range(4))
    t.expect(NAT)
    assert t.state is SourceState.LEARNING and t.source == NAT
    assert set(stream(t, EVIL, range(10, 16), ssrc=5)) == {Admit.DROP}
    assert t.source == NAT


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


def test_a_learned_nat_source_is_not_taken_over_by_a_stranger() -> None:
    s = StrictSource(SDP, probation=4)
    stream(s, NAT, range(4))
    assert s.source == NAT
    assert set(stream(s, EVIL, range(8), ssrc=5)) == {Admit.DROP}
    assert s.source == NAT


def test_an_attacker_locked_before_the_answer_is_forgotten_when_the_sdp_arrives() -> None:
    s = StrictSource()                           # ringing: no SDP from the callee yet
    stream(s, EVIL, range(4))
    assert s.source == EVIL                      # sprayed the port in sequence first
    s.expect(SDP)                                # the 200 OK's SDP
    assert s.source is None
    assert feed(s, EVIL, pkt(5)) is Admit.DROP
    assert feed(s, SDP, pkt(1)) is Admit.NEW_SOURCE
