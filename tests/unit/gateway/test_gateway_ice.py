"""ICE policy: host candidates only on the configured addresses and inside the port range;
``nat_1_1`` rewrites host candidates in what the browser receives."""

from __future__ import annotations

import time

from aiortc import RTCPeerConnection

from gateway.media.ice import configure_ice, reset_ice, rtc_configuration
from gateway.media.webrtc import WebRtcLeg
from tests.support.net import free_port_block
from webfon.rtp.packet import build_header
from webfon.sip.sdp import SessionDescription


async def test_candidates_use_configured_address_and_port_range() -> None:
    low = free_port_block(100)  # a fixed range may be held by anything else on the machine
    configure_ice(["127.0.0.1"], (low, low + 99))
    pc = RTCPeerConnection(rtc_configuration())
    try:
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        lines = [line for line in pc.localDescription.sdp.splitlines()
                 if line.startswith("a=candidate:")]
        assert lines
        for line in lines:
            fields = line.split()
            assert fields[4] == "127.0.0.1"
            assert low <= int(fields[5]) <= low + 99
    finally:
        await pc.close()
        reset_ice()


def test_nat_1_1_rewrites_host_candidates() -> None:
    leg = WebRtcLeg(rtc_configuration(), nat_1_1="203.0.113.7", host_addresses=["127.0.0.1"])
    text = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
            "m=audio 40000 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.1\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=candidate:abc 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
            "a=candidate:def 1 udp 1694498815 198.51.100.1 50000 typ relay raddr 0.0.0.0 "
            "rport 0\r\n")
    out = leg._outgoing(SessionDescription.parse(text))
    assert "203.0.113.7 40000 typ host" in out
    assert "198.51.100.1 50000 typ relay" in out
    assert "c=IN IP4 203.0.113.7" in out
    assert "127.0.0.1" not in out


def test_leg_counts_browser_loss_and_notices_silence() -> None:
    events: list[tuple[str, bool]] = []
    leg = WebRtcLeg(rtc_configuration(), on_media=lambda kind, on: events.append((kind, on)))
    leg.stream.audio_pts = {0}
    got: list[bytes] = []
    leg.on_rtp(got.append)
    for seq in (65534, 65535, 0, 3, 2, 4):  # wraps; 1 and 2 late/missing; 2 arrives late
        leg.stream.deliver(bytes(build_header(0, seq, seq * 160, 7)) + b"\xff" * 160)
    leg.stream.deliver(bytes(build_header(96, 5, 0, 7)))  # not an audio payload type: ignored
    assert len(got) == 6 and events == [("audio", True)]
    assert leg.lost_in == 2
    change, lost = leg.watchdog(leg.last_in + 0.5)
    assert (change, lost) == (None, 2)
    change, lost = leg.watchdog(leg.last_in + 1.5)
    assert (change, lost) == (False, 0)


def test_leg_relayed_by_a_worker_stays_receiving_after_it_resumes() -> None:
    events: list[tuple[str, bool]] = []
    leg = WebRtcLeg(rtc_configuration(), on_media=lambda kind, on: events.append((kind, on)))
    before = time.monotonic() - 5
    leg.worker_message("stats", ({"last_in": before, "lost_in": 0},))
    leg.worker_message("resume", ())  # the browser sends again; counters not reported yet
    assert events == [("audio", True)]
    change, _ = leg.watchdog(time.monotonic() + 0.4)
    assert change is None and events == [("audio", True)]
    change, _ = leg.watchdog(time.monotonic() + 1.5)  # then silent for real
    assert change is False
