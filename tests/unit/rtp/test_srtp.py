"""SDES-SRTP: ``a=crypto`` lines as offered and answered, endpoints that protect and
unprotect around the plain path, and what a stranger without the key gets (nothing)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from pbx import sdp as sdpx
from webfon.rtp import RtpEndpoint, RtpRecorder, g711
from webfon.rtp.srtp import SUITES, Crypto, SrtpContext, crypto_lines
from webfon.rtp.tones import g711_frames, sine
from webfon.sip.sdp import SessionDescription

KEY = base64.b64encode(bytes(range(30))).decode()


@pytest.mark.parametrize(("value", "ok"), [
    (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}", True),
    (f"7 aes_cm_128_hmac_sha1_32 inline:{KEY}|2^31", True),   # a lifetime is fine
    (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4", False),  # an MKI is not
    (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP", False),
    (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY};inline:{KEY}", False),
    (f"1 F8_128_HMAC_SHA1_80 inline:{KEY}", False),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", False),     # a key of the wrong length
    ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64", False),
    ("x AES_CM_128_HMAC_SHA1_80", False),
])
def test_crypto_lines_we_take_up(value: str, ok: bool) -> None:
    crypto = Crypto.parse(value)
    assert (crypto is not None) is ok
    if crypto is not None:
        assert Crypto.parse(crypto.encode()) == crypto
        assert KEY not in repr(crypto)


def test_every_suite_keys_both_directions() -> None:
    for name in SUITES:
        ours, theirs = Crypto.generate(name), Crypto.generate(name)
        a, b = SrtpContext(ours, theirs), SrtpContext(theirs, ours)
        packet = bytes([0x80, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9]) + b"\xd5" * 160
        assert b.rx.unprotect(a.tx.protect(packet)) == packet
    with pytest.raises(ValueError, match="suites differ"):
        SrtpContext(Crypto.generate("AES_CM_128_HMAC_SHA1_80"),
                    Crypto.generate("AEAD_AES_128_GCM"))


def test_the_pbx_answers_an_offered_key_with_its_own_and_offers_srtp_only_when_asked() -> None:
    offer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
        "m=audio 4000 RTP/SAVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        f"a=crypto:1 F8_128_HMAC_SHA1_80 inline:{KEY}\r\n"
        f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}\r\n")
    info = sdpx.info(offer)
    assert info.secure_profile and info.crypto is not None and info.crypto.tag == 2
    ours = info.crypto.answer()
    answer = sdpx.local_answer(offer, "10.0.0.1", 30000, crypto=ours)
    assert answer.audio is not None and answer.audio.proto == "RTP/SAVP"
    assert crypto_lines(answer.audio) == [ours] and ours.key != info.crypto.key
    # to the callee: plain RTP, or RTP/SAVP with our key, whatever the caller did
    plain = sdpx.relay_offer(offer, "10.0.0.1", 30002)
    assert plain.audio is not None and plain.audio.proto == "RTP/AVP"
    assert crypto_lines(plain.audio) == [] and "crypto" not in plain.encode().decode()
    key = Crypto.generate()
    secure = sdpx.relay_offer(offer, "10.0.0.1", 30002, key)
    assert secure.audio is not None and secure.audio.proto == "RTP/SAVP"
    assert crypto_lines(secure.audio) == [key]
    # SAVP with nothing we can use: refused with a reason
    unusable = SessionDescription.parse(str(offer).replace(
        f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}\r\n", ""))
    with pytest.raises(sdpx.SdpError, match="No supported SRTP crypto suite"):
        sdpx.check_srtp(sdpx.info(unusable))


async def test_srtp_endpoints_carry_audio_and_a_stranger_is_dropped() -> None:
    a_key, b_key = Crypto.generate(), Crypto.generate()
    recorder = RtpRecorder()
    a = await RtpEndpoint.open("127.0.0.1", rtcp=True)
    b = await RtpEndpoint.open("127.0.0.1", rtcp=True, on_rtp=recorder)
    stranger = await RtpEndpoint.open("127.0.0.1")
    try:
        a.enable_srtp(SrtpContext(a_key, b_key))
        b.enable_srtp(SrtpContext(b_key, a_key))
        a.remote_addr = b.local_addr
        a.rtcp_remote_addr = (b.local_addr[0], b.local_addr[1] + 1)
        frames = list(g711_frames(sine(1000.0, 0.4), g711.PT_PCMA))
        sent = await a.play(frames, g711.PT_PCMA)
        a.send_rtcp(a.build_report())
        # someone without the key sends plain RTP to the same port
        stranger.remote_addr = b.local_addr
        stranger.send(b"\xd5" * 160, g711.PT_PCMA)
        await asyncio.sleep(0.1)
        assert recorder.count == sent == len(frames)
        assert abs(recorder.samples().size - 0.4 * 8000) < 200
        assert b.srtp_failed == 1 and b.rtcp_received == 1
        assert b.last_sender_report is not None and b.last_sender_report.ssrc == a.ssrc
        a.enable_srtp(None)   # plain again: b cannot authenticate it
        a.send(b"\xd5" * 160, g711.PT_PCMA)
        await asyncio.sleep(0.05)
        assert recorder.count == sent and b.srtp_failed == 2
    finally:
        a.close()
        b.close()
        stranger.close()
