"""The per-packet SRTP path shared by the gateway and its media workers."""

from __future__ import annotations

import os

from pylibsrtp import Policy, Session

from gateway.media.srtp_stream import SrtpStream
from webfon.rtp.packet import build_header
from webfon.rtp.rebase import StreamRebaser


def srtp_session(profile: int, key: bytes, inbound: bool) -> Session:
    return Session(Policy(key=key, srtp_profile=profile,
                          ssrc_type=Policy.SSRC_ANY_INBOUND if inbound
                          else Policy.SSRC_ANY_OUTBOUND))


def packet(seq: int, pt: int = 0, ssrc: int = 7) -> bytes:
    return bytes(build_header(pt, seq, seq * 160, ssrc)) + b"\xd5" * 160


def test_srtp_in_is_relayed_and_everything_else_is_left_to_aiortc() -> None:
    key = os.urandom(30)
    browser = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    stream = SrtpStream({0})
    stream.rx = srtp_session(Policy.SRTP_PROFILE_AES128_CM_SHA1_80, key, inbound=True)
    got: list[bytes] = []
    stream.handler = got.append
    resumed: list[bool] = []
    stream.on_resume = lambda: resumed.append(True)
    assert stream.receive(browser.protect(packet(10)))
    assert stream.receive(browser.protect(packet(11)))
    assert got == [packet(10), packet(11)] and resumed == [True]
    stun = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    assert not stream.receive(stun)  # STUN: aiortc's
    assert not stream.receive(b"\x16\xfe\xfd" + os.urandom(40))  # DTLS: aiortc's
    rtcp = bytearray(browser.protect_rtcp(b"\x80\xc9\x00\x01" + (7).to_bytes(4, "big")))
    assert stream.receive(bytes(rtcp)) and stream.rtcp_in == 1  # SRTCP: counted, dropped
    assert not stream.receive(os.urandom(8) + b"\x80")  # too short to be RTP
    assert stream.receive(browser.protect(packet(12, pt=96)))  # not audio: dropped
    assert len(got) == 2 and stream.packets_in == 2


def test_srtp_out_is_restamped_protected_and_readable_by_the_browser() -> None:
    key = os.urandom(30)
    stream = SrtpStream({0}, ssrc=0x1234)
    stream.tx = srtp_session(Policy.SRTP_PROFILE_AES128_CM_SHA1_80, key, inbound=False)
    sent: list[bytes] = []
    stream.send_datagram = sent.append
    assert stream.send_rtp(bytearray(packet(100, ssrc=99)))
    browser = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    plain = browser.unprotect(sent[0])
    assert int.from_bytes(plain[8:12], "big") == 0x1234
    assert plain[12:] == b"\xd5" * 160 and stream.packets_out == 1


def test_a_wrapped_sequence_is_noticed() -> None:
    stream = SrtpStream({0})
    for seq in (65530, 65531):
        stream.deliver(packet(seq))
    assert not stream.wrapped()
    stream.deliver(packet(2))
    assert stream.wrapped()  # the browser's rollover counter is now 1
    out = SrtpStream({0})
    out.prepare(bytearray(packet(65535)))
    assert not out.wrapped()
    out.prepare(bytearray(packet(0)))
    assert out.wrapped()


def test_rebaser_state_carries_over_to_another_process() -> None:
    first = StreamRebaser()
    for seq in (100, 101):
        first.apply(bytearray(packet(seq, ssrc=1)))
    copy = StreamRebaser.from_state(first.state())
    a, b = bytearray(packet(5000, ssrc=2)), bytearray(packet(5000, ssrc=2))
    first.apply(a)
    copy.apply(b)
    assert a == b and int.from_bytes(a[2:4], "big") == 102
