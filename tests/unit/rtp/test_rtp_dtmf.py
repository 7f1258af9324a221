"""RFC 4733 payloads and the DTMF sender/receiver state machine."""

from __future__ import annotations

import pytest

from webfon.rtp.dtmf import (
    DtmfError,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
)


def test_payload_layout() -> None:
    # event 5, E=1, R=0, volume 10, duration 800 → 05 8a 03 20 (RFC 4733 §2.3)
    assert TelephoneEvent(5, True, 10, 800).encode() == bytes.fromhex("058a0320")
    ev = TelephoneEvent.decode(bytes.fromhex("0b3f00a0"))
    assert (ev.event, ev.end, ev.volume, ev.duration) == (11, False, 63, 160)
    with pytest.raises(DtmfError):
        TelephoneEvent.decode(b"\x01\x02")
    with pytest.raises(DtmfError):
        TelephoneEvent(1, volume=64).encode()


def test_digit_codes() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert digit_to_event("a") == 12
    assert event_to_digit(11) == "#"
    for bad in ("E", "", "12"):
        with pytest.raises(DtmfError):
            digit_to_event(bad)
    with pytest.raises(DtmfError):
        event_to_digit(16)


def test_sender_plan() -> None:
    plan = DtmfSender().packets("7", timestamp=1000, duration_ms=100)
    events = [TelephoneEvent.decode(p.payload) for p in plan]
    assert all(p.timestamp == 1000 for p in plan)
    assert [p.marker for p in plan] == [True] + [False] * (len(plan) - 1)
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert all(e.event == 7 for e in events)


def test_sender_short_digit_marks_end_packet() -> None:
    plan = DtmfSender().packets("#", timestamp=5, duration_ms=20)
    assert len(plan) == 3
    assert plan[0].marker and not plan[1].marker
    assert all(p.end for p in plan)


def test_receiver_reports_each_digit_once() -> None:
    rx = DtmfReceiver()
    sender = DtmfSender()
    notes = []
    for digit, ts in (("1", 0), ("1", 1600), ("#", 3200)):
        for p in sender.packets(digit, ts, 100):
            notes += rx.feed(p.timestamp, p.payload)
            notes += rx.feed(p.timestamp, p.payload)  # duplicated by the network
    assert [(n.kind, n.digit) for n in notes] == [
        ("start", "1"), ("end", "1"), ("start", "1"), ("end", "1"), ("start", "#"), ("end", "#")]
    assert notes[1].duration == 800
    assert rx.digits == ["1", "1", "#"]


def test_receiver_lost_start_and_lost_end() -> None:
    rx = DtmfReceiver()
    plan = DtmfSender().packets("9", 100, 100)
    # only the end packets arrive
    out = rx.feed(100, plan[-1].payload)
    assert [(n.kind, n.digit) for n in out] == [("start", "9"), ("end", "9")]
    # the next digit loses its end packets; the one after closes it
    plan2 = DtmfSender().packets("4", 2000, 100)
    rx.feed(2000, plan2[0].payload)
    rx.feed(2000, plan2[1].payload)
    plan3 = DtmfSender().packets("5", 4000, 100)
    out = rx.feed(4000, plan3[0].payload)
    assert [(n.kind, n.digit) for n in out] == [("end", "4"), ("start", "5")]
    assert out[0].duration == 320
    assert [(n.kind, n.digit) for n in rx.finish()] == [("end", "5")]
    assert rx.finish() == []
    assert rx.digits == ["9", "4", "5"]


def test_receiver_ignores_flash() -> None:
    rx = DtmfReceiver()
    assert rx.feed(1, TelephoneEvent(16, True).encode()) == []
