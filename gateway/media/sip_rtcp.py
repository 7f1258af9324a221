"""RTCP on a call's SIP leg, the same in the gateway's loop and in a media worker: our
compound report (a sender report of what we relayed to SIP, a reception report of what we
received, our CNAME) and the peer's sender reports read into the leg's receiver statistics.

The relay reads no SSRC per packet: the peer's sender reports name the stream it sends (our
own, echoed back by a test peer, is not one). No asyncio here: media workers import it."""

from __future__ import annotations

import time

from webfon.rtp.rtcp import RtcpError, SenderReport, compound_report, parse_rtcp
from webfon.rtp.stats import ReceiverStats

CNAME = "webfon-gateway"


def report(ssrc: int, packets_sent: int, stats: ReceiverStats) -> bytes:
    """Our compound report: a sender report (a receiver report while nothing was sent) with a
    block on what ``stats`` received, and our CNAME."""
    blocks = [stats.report_block(time.monotonic())] if stats.received and stats.ssrc else []
    return compound_report(ssrc, CNAME, blocks, packets_sent)


def read_peer_report(data: bytes, own_ssrc: int, stats: ReceiverStats) -> None:
    """The peer's RTCP: its sender reports give ``stats`` the stream's SSRC and the time of
    its last report (for the delay since it in ours)."""
    try:
        packets = parse_rtcp(data)
    except RtcpError:
        return
    now = time.monotonic()
    for packet in packets:
        if isinstance(packet, SenderReport) and packet.ssrc != own_ssrc:
            stats.ssrc = packet.ssrc
            stats.on_sender_report(packet, now)
