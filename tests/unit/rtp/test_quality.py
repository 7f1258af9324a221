"""Call quality from RTCP passing through a relay: round trip, reported loss and jitter, the
peer's header, the call's MOS."""

from __future__ import annotations

import json

import pytest

from webfon.rtp.quality import CallQuality, LegQuality, RtcpWatch, rate, summarize
from webfon.rtp.rtcp import ReceiverReport, ReportBlock, SenderReport, ntp_timestamp


def _sr(ssrc: int, unix: float) -> SenderReport:
    return SenderReport(ssrc, ntp_timestamp(unix), 0, 100, 16000)


def test_round_trip_from_a_report_echoing_a_sender_report_that_went_to_the_endpoint() -> None:
    watch = RtcpWatch()
    sr = _sr(0x1111, 1_700_000_000.25)
    watch.sent(RtcpWatch.parse(sr.build()), now=100.0)
    # the endpoint held the SR 0.5 s before reporting; its report arrives 0.54 s after the SR
    # left: 40 ms round trip
    rr = ReceiverReport(0x2222, [ReportBlock(0x1111, 0, 0, 5000, 80, sr.lsr, 32768)])
    watch.received(RtcpWatch.parse(rr.build()), now=100.54)
    assert watch.rtt_ms == pytest.approx(40.0, abs=0.01)
    # a report echoing an SR we never saw (or none) gives no round trip
    other = ReceiverReport(0x2222, [ReportBlock(0x1111, 0, 0, 5100, 80, 12345, 65536)])
    watch.received(RtcpWatch.parse(other.build()), now=101.0)
    assert watch.rtt_count == 1


def test_a_millisecond_clock_below_zero_counts_as_no_delay_but_a_wild_report_is_ignored(
        ) -> None:
    watch = RtcpWatch()
    sr = _sr(0x1111, 1_700_000_000.25)
    watch.sent(RtcpWatch.parse(sr.build()), now=100.0)
    # a 0.3 ms path, and a receiver that rounded its 52.6 ms hold up to 53 ms: -0.1 ms
    rounded = ReceiverReport(0x2222, [ReportBlock(0x1111, 0, 0, 5000, 80, sr.lsr,
                                                  round(0.053 * 65536))])
    watch.received(RtcpWatch.parse(rounded.build()), now=100.0529)
    assert watch.rtt_count == 1 and watch.rtt_ms == 0.0
    # a report claiming it held our SR 50 ms longer than we have been waiting: not believed
    wild = ReceiverReport(0x2222, [ReportBlock(0x1111, 0, 0, 5100, 80, sr.lsr,
                                               round(0.150 * 65536))])
    watch.received(RtcpWatch.parse(wild.build()), now=100.1)
    assert watch.rtt_count == 1


def test_reported_loss_counts_the_whole_call_when_the_first_sequence_number_is_known() -> None:
    watch = RtcpWatch(clock_rate=8000)
    for highest, cumulative, jitter in ((1000 + 249, 10, 40), (1000 + 499, 50, 120)):
        block = ReportBlock(0xABC, 20, cumulative, highest, jitter)
        watch.received([ReceiverReport(1, [block])], now=1.0)
    assert watch.loss_pct({0xABC: 1000}) == pytest.approx(10.0)
    # without it: the span between the first and last report (40 lost of 250)
    assert watch.loss_pct() == pytest.approx(16.0)
    assert watch.jitter_ms() == pytest.approx(1000 * (40 + 120) / 2 / 8000)


def test_unparsable_rtcp_is_counted_and_streams_are_bounded() -> None:
    watch = RtcpWatch()
    watch.received(RtcpWatch.parse(b"\x80\xc9\x00"), now=0.0)
    assert watch.errors == 1 and watch.loss_pct() is None and watch.jitter_ms() is None
    for ssrc in range(50):
        watch.block(ssrc, 0, 0, 10, 0, 0, 0, 0.0)
    assert len(watch.streams) == 8


def test_a_peers_header_is_read_back_and_cannot_smuggle_anything() -> None:
    leg = LegQuality(node="gateway-4", leg="webrtc", address="192.0.2.7:50000",
                     network="srflx", codec="opus", srtp=True, rx_packets=480,
                     rx_loss_pct=2.5, tx_packets=470, remote_loss_pct=1.0,
                     remote_jitter_ms=12.5, rtt_ms=80.0)
    back = LegQuality.from_header(leg.header())
    assert back is not None and back.as_dict() == leg.as_dict()

    hostile = ("node=<script>alert(1)</script>;rx=-5;rxloss=nan;rloss=1e9;rtt=inf;"
               "codec=PCMA\r\nX-Evil: 1;leg=" + "a" * 500 + ";tx=7;unknown=3;=;junk")
    read = LegQuality.from_header(hostile)
    assert read is not None
    assert read.node == "scriptalert1/script"
    assert read.rx_packets == 0 and read.rx_loss_pct is None and read.rtt_ms is None
    assert read.remote_loss_pct == 100.0
    assert read.codec == "PCMAX-Evil:1" and len(read.leg) == 64
    assert LegQuality.from_header("node=x;codec=PCMA") is None  # nothing measured
    assert LegQuality.from_header(None) is None


def test_the_call_takes_the_worst_loss_and_the_sum_of_the_round_trips() -> None:
    clean = LegQuality(leg="caller", codec="PCMA", rx_packets=500, rx_loss_pct=0.0,
                       remote_loss_pct=0.0, rtt_ms=40.0, rx_jitter_ms=5.0)
    lossy = LegQuality(leg="callee", codec="PCMA", rx_packets=500, rx_loss_pct=0.0,
                       remote_loss_pct=8.0, rtt_ms=100.0, remote_jitter_ms=30.0)
    call = summarize([clean, lossy])
    assert (call.loss_pct, call.rtt_ms, call.jitter_ms) == (8.0, 140.0, 30.0)
    assert call.mos == rate(8.0, 140.0, 30.0, ["PCMA"])
    assert call.mos is not None and call.mos < 3.0 < summarize([clean]).mos  # type: ignore
    legs = CallQuality.legs_from_details(call.details())
    assert [leg["leg"] for leg in legs] == ["caller", "callee"]
    assert legs[1]["mos"] == lossy.mos
    assert CallQuality.legs_from_details("not json") == []
    assert CallQuality.legs_from_details(json.dumps({"a": 1})) == []


def test_no_media_no_mos() -> None:
    call = summarize([LegQuality(leg="caller", codec="PCMA")])
    assert call.mos is None and call.loss_pct is None
    assert call.details() != ""  # the leg is still there for the admin


def test_opus_is_rated_with_concealment_and_delay_costs() -> None:
    assert rate(5.0, 0.0, 0.0, ["opus"]) > rate(5.0, 0.0, 0.0, ["PCMU"])
    assert rate(0.0, 600.0, 0.0, ["PCMA"]) < rate(0.0, 50.0, 0.0, ["PCMA"])
