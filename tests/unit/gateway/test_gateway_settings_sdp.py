"""Gateway settings from the seed's jcfg, and the SDP rewriting the media legs rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.media import sdp
from gateway.settings import GatewaySettings
from webfon.config import ConfigError


def test_seed_keys_and_ours_load_from_jcfg(tmp_path: Path) -> None:
    path = tmp_path / "vivait.plugin.webfon.jcfg"
    path.write_text('general: {\n  local_nodo_id = 4\n  colas_limpiar_siempre = true\n'
                    '  local_ip = "10.0.0.5"\n  max_digi_llam_sal = 12\n}\n'
                    'media: {\n  rtp_port_range = "20000-20999"\n  nat_1_1 = "203.0.113.7"\n}\n')
    s = GatewaySettings.load(path, environ={})
    assert (s.local_nodo_id, s.colas_limpiar_siempre, s.local_ip, s.max_digi_llam_sal) == (
        4, True, "10.0.0.5", 12)
    assert s.port_range() == (20000, 20999)
    assert s.host_addresses == ["10.0.0.5"]
    assert s.session_timeout == 60 and s.allow_guest is False


def test_bad_port_range_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        GatewaySettings.load(None, environ={}, rtp_port_range="9-3")


OFFER = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
         "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\nc=IN IP4 0.0.0.0\r\n"
         "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\na=rtcp-fb:111 nack\r\n"
         "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:126 telephone-event/8000\r\na=sendrecv\r\n")


def test_keep_formats_drops_other_codecs_and_their_attributes() -> None:
    desc = sdp.Sdp.parse(OFFER)
    audio = desc.audio()
    assert audio is not None
    assert sdp.telephone_event_pt(audio) == 126
    sdp.keep_formats(audio, [8, 126])
    text = desc.render()
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 8 126" in text
    assert "opus" not in text and "a=fmtp:111" not in text and "rtcp-fb:111" not in text
    assert [c.name for c in sdp.Sdp.parse(text).audio().codecs()] == ["PCMA",
                                                                      "telephone-event"]


def test_add_telephone_event_and_directions() -> None:
    desc = sdp.Sdp.parse(OFFER.replace(" 126\r\n", "\r\n").replace(
        "a=rtpmap:126 telephone-event/8000\r\n", ""))
    audio = desc.audio()
    pt = sdp.free_dynamic_pt(audio)
    sdp.add_telephone_event(audio, pt)
    assert sdp.telephone_event_pt(sdp.Sdp.parse(desc.render()).audio()) == pt
    held = sdp.Sdp.parse(sdp.build_audio_sdp("0.0.0.0", 4000, [sdp.Codec(0, "PCMU", 8000)]))
    assert sdp.audio_direction(held) == "sendonly"
    assert sdp.reverse_direction("sendonly") == "recvonly"


@pytest.mark.parametrize("garbage", ["", "hello", "v=0\r\nm=audio x RTP/AVP 0\r\n",
                                     "v=0\r\ns=-\r\n", "v=0\r\nbad line\r\nm=audio 1 RTP 0"])
def test_garbage_sdp_is_refused(garbage: str) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.Sdp.parse(garbage)
