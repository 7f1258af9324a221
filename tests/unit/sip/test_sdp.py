"""SDP parsing, offer/answer and hold direction."""

from __future__ import annotations

import pytest

from webfon.sip import (
    ParseError,
    SessionDescription,
    answer_direction,
    make_answer,
    make_offer,
    with_direction,
)
from webfon.sip.sdp import reverse_direction

WEBRTC_LIKE = """v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=audio 9 UDP/TLS/RTP/SAVPF 111 8 0 101
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=mid:0
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:101 telephone-event/8000
a=sendrecv
a=rtcp-mux
"""

PHONE = """v=0\r
o=phone 123 456 IN IP4 10.0.0.5\r
s=call\r
c=IN IP4 10.0.0.5\r
t=0 0\r
m=audio 40000 RTP/AVP 0 8 18 101\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=ptime:20\r
a=sendonly\r
"""


def test_parse_webrtc_offer_keeps_unknown_lines() -> None:
    sd = SessionDescription.parse(WEBRTC_LIKE)
    audio = sd.audio
    assert audio is not None
    assert audio.proto == "UDP/TLS/RTP/SAVPF" and audio.formats == [111, 8, 0, 101]
    assert [c.name for c in audio.codecs] == ["opus", "PCMA", "PCMU", "telephone-event"]
    assert audio.codec("opus").channels == 2 and audio.fmtp[111].startswith("minptime")
    assert audio.rtcp == (9, "0.0.0.0") and audio.rtcp_mux
    assert "a=mid:0" in audio.other and "a=group:BUNDLE 0" in sd.other
    again = SessionDescription.parse(str(sd))
    assert str(again) == str(sd)


def test_parse_phone_sdp_and_answer() -> None:
    offer = SessionDescription.parse(PHONE.encode())
    assert offer.session_id == 123 and offer.address_of(offer.audio) == "10.0.0.5"
    assert offer.direction_of(offer.audio) == "sendonly"
    answer, codec = make_answer(offer, "127.0.0.1", 5000)
    assert codec is not None and codec.name == "PCMU"  # the offer's order wins
    am = answer.audio
    assert am.port == 5000 and am.formats == [0, 101]
    assert am.fmtp[101] == "0-15" and am.direction == "recvonly" and am.ptime == 20


def test_answer_without_common_codec_and_extra_streams() -> None:
    text = PHONE.replace("m=audio 40000 RTP/AVP 0 8 18 101", "m=audio 40000 RTP/AVP 18") + \
        "m=video 50000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    answer, codec = make_answer(SessionDescription.parse(text), "127.0.0.1", 5000)
    assert codec is None
    assert [m.port for m in answer.media] == [0, 0]


def test_offer_and_hold() -> None:
    offer = make_offer("192.0.2.1", 4000, codecs=("PCMU",), telephone_event=101)
    text = str(offer)
    assert "m=audio 4000 RTP/AVP 0 101\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\n" in text and "c=IN IP4 192.0.2.1" in text
    held = with_direction(offer, "sendonly")
    assert held.session_version == offer.session_version + 1
    assert held.direction_of(held.audio) == "sendonly"
    assert offer.audio.direction == "sendrecv"  # the original is untouched
    assert answer_direction("sendonly") == "recvonly"
    assert answer_direction("inactive") == "inactive"
    assert answer_direction("sendrecv", "sendonly") == "sendonly"
    old_hold = SessionDescription.parse(PHONE.replace("a=sendonly\r\n", "")
                                        .replace("c=IN IP4 10.0.0.5", "c=IN IP4 0.0.0.0"))
    assert old_hold.direction_of(old_hold.audio) == "sendonly"


@pytest.mark.parametrize("text", [
    "", "v=1\r\n", "v=0\r\nm=audio 1 RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio 99999 RTP/AVP 0\r\nc=IN IP4 1.1.1.1\r\n",
    "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nc=IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP x\r\n",
    "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP 0\r\n",
    "v=0\r\no=- x 1 IN IP4 1.1.1.1\r\n", "v=0\r\ngarbage\r\n",
    "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nc=IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:x\r\n",
])
def test_bad_sdp(text: str) -> None:
    with pytest.raises(ParseError):
        SessionDescription.parse(text)


BROWSER_OFFER = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                 "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\nc=IN IP4 0.0.0.0\r\n"
                 "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\n"
                 "a=rtcp-fb:111 nack\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                 "a=rtpmap:126 telephone-event/8000\r\na=sendrecv\r\n")


def test_keep_formats_drops_other_codecs_and_their_attributes() -> None:
    desc = SessionDescription.parse(BROWSER_OFFER)
    audio = desc.audio
    assert audio is not None and audio.telephone_event == 126
    audio.keep_formats([8, 126])
    text = str(desc)
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 8 126" in text
    assert "opus" not in text and "a=fmtp:111" not in text and "rtcp-fb:111" not in text
    assert [c.name for c in SessionDescription.parse(text).audio.codecs] == [
        "PCMA", "telephone-event"]


def test_add_telephone_event_on_a_free_payload_type() -> None:
    desc = SessionDescription.parse(BROWSER_OFFER.replace(" 126\r\n", "\r\n").replace(
        "a=rtpmap:126 telephone-event/8000\r\n", ""))
    audio = desc.audio
    assert audio is not None and audio.telephone_event is None
    pt = audio.free_dynamic_pt()
    assert pt == 101
    audio.add_telephone_event(pt)
    assert SessionDescription.parse(str(desc)).audio.telephone_event == pt


def test_old_style_hold_and_reverse_direction() -> None:
    held = make_offer("0.0.0.0", 4000, codecs=("PCMU",))
    assert held.direction_of(held.audio) == "sendonly"
    assert reverse_direction("sendonly") == "recvonly"
    assert reverse_direction("sendrecv") == "sendrecv"


@pytest.mark.parametrize("garbage", ["", "hello", "v=0\r\nm=audio x RTP/AVP 0\r\n",
                                     "v=0\r\ns=-\r\n", "v=0\r\nbad line\r\nm=audio 1 RTP 0"])
def test_garbage_sdp_is_refused(garbage: str) -> None:
    with pytest.raises(ParseError):
        SessionDescription.parse(garbage)
