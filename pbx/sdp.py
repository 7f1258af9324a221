"""SDP rewriting for the B2BUA: the PBX puts its own address and ports in both directions.

The caller's offer is filtered to what the media relay carries (G.711 A-law/µ-law and RFC 4733
telephone-event) before it is offered to the callee; the callee's answer goes back to the
caller with the PBX's address and port, mirroring every m= line of the caller's offer (other
streams rejected with port 0), as RFC 3264 requires.

Each leg's SRTP is its own (SDES, :mod:`webfon.rtp.srtp`): an offer's supported ``a=crypto``
line is answered with the PBX's own key (in the profile offered: RTP/SAVP, or RTP/AVP for a
"best effort" offer), and the callee is offered SRTP (RTP/SAVP with the PBX's key) or plain
RTP as its leg requires, whatever the caller did.
"""

from __future__ import annotations

from dataclasses import dataclass

from webfon.rtp.srtp import Crypto, add_crypto, crypto_lines, is_secure_profile, offers_crypto
from webfon.sip.sdp import Codec, Media, SessionDescription, _session_id

from .errors import Refusal

RELAYED = frozenset({"PCMA", "PCMU", "TELEPHONE-EVENT"})


class SdpError(Refusal, ValueError):
    """The description cannot be relayed (``status`` 400 unparsable, 488 nothing usable)."""


@dataclass(frozen=True)
class MediaInfo:
    host: str | None
    port: int
    payload_type: int | None
    dtmf_payload_type: int | None
    direction: str
    rtcp_port: int | None = None
    """Where RTCP goes when the SDP says so (``a=rtcp``, RFC 3605). An offered
    ``a=rtcp-mux`` is not taken up: our answers never accept it, so RFC 5761 has the peer
    listen for RTCP apart."""
    crypto: Crypto | None = None
    """The first supported ``a=crypto`` line (the peer's key)."""
    secure_profile: bool = False
    """RTP/SAVP(F): the peer will not do without SRTP."""
    offers_crypto: bool = False
    """Any ``a=crypto`` line, supported or not."""


def parse(body: bytes) -> SessionDescription:
    from webfon.sip import ParseError

    try:
        sd = SessionDescription.parse(body)
    except ParseError as exc:
        raise SdpError(400, f"Bad SDP: {exc.reason if hasattr(exc, 'reason') else exc}") from None
    return sd


def info(sd: SessionDescription) -> MediaInfo:
    audio = sd.audio
    if audio is None or not audio.port:
        return MediaInfo(None, 0, None, None, "inactive")
    voice = [c for c in audio.codecs if c.name.upper() in ("PCMA", "PCMU")]
    dtmf = audio.codec("telephone-event")
    host = sd.address_of(audio)
    rtcp_port = audio.rtcp[0] if audio.rtcp else None
    cryptos = crypto_lines(audio)
    return MediaInfo(None if host == "0.0.0.0" else host, audio.port,
                     voice[0].pt if voice else None, dtmf.pt if dtmf else None,
                     sd.direction_of(audio), rtcp_port, cryptos[0] if cryptos else None,
                     is_secure_profile(audio.proto), offers_crypto(audio))


def check_srtp(info: MediaInfo) -> None:
    """An offer (or answer) asking for SRTP must carry a key we can use."""
    if info.secure_profile and info.crypto is None:
        raise SdpError(488, "No supported SRTP crypto suite offered"
                       if info.offers_crypto else "SRTP without a=crypto (SDES) offered")


def _ours(host: str) -> SessionDescription:
    sid = _session_id()
    return SessionDescription(origin_user="webfon-pbx", session_id=sid, session_version=sid,
                              origin_address=host, session_name="webfon", connection=host)


def check_relayable(offer: SessionDescription) -> None:
    """Refuse (:class:`SdpError`) an offer :func:`relay_offer` could not relay: no audio
    stream, or no G.711 codec in it."""
    audio = offer.audio
    if audio is None or not audio.port:
        raise SdpError(488, "No audio stream offered")
    if not any(c.name.upper() in ("PCMA", "PCMU") and c.rate == 8000 for c in audio.codecs):
        raise SdpError(488, "No G.711 codec offered (PCMA or PCMU required)")


def relay_offer(offer: SessionDescription, host: str, port: int,
                crypto: Crypto | None = None) -> SessionDescription:
    """The offer sent to the callee: relayed codecs only, our address and port; RTP/SAVP
    with our key ``crypto`` for an SRTP leg, else RTP/AVP."""
    check_relayable(offer)
    audio = offer.audio
    assert audio is not None
    media = Media(kind="audio", port=port, proto="RTP/SAVP" if crypto else "RTP/AVP",
                  ptime=audio.ptime, direction=offer.direction_of(audio))
    for codec in audio.codecs:
        if codec.name.upper() in RELAYED and codec.rate == 8000:
            media.add_codec(Codec(codec.pt, codec.name, codec.rate, codec.channels, codec.fmtp))
    if crypto is not None:
        add_crypto(media, crypto)
    sd = _ours(host)
    sd.media = [media]
    return sd


def relay_answer(offer: SessionDescription, answer: SessionDescription, host: str,
                 port: int, crypto: Crypto | None = None) -> SessionDescription:
    """The answer sent to the caller: the callee's choice, our address, the offer's m= lines
    (and profile), our key ``crypto`` when the caller's leg is SRTP."""
    chosen = answer.audio
    out = _ours(host)
    target = offer.audio
    for m in offer.media:
        if m is target and chosen is not None and chosen.port:
            am = Media(kind="audio", port=port, proto=m.proto, ptime=chosen.ptime,
                       direction=answer.direction_of(chosen))
            for codec in chosen.codecs:
                am.add_codec(Codec(codec.pt, codec.name, codec.rate, codec.channels,
                                   codec.fmtp))
            if crypto is not None:
                add_crypto(am, crypto)
            out.media.append(am)
        else:
            out.media.append(Media(kind=m.kind, port=0, proto=m.proto,
                                   formats=list(m.formats[:1]) or [0]))
    return out


def local_answer(offer: SessionDescription, host: str, port: int,
                 direction: str = "sendrecv", crypto: Crypto | None = None
                 ) -> SessionDescription:
    """Our own answer (voicemail, prompts): first offered G.711 codec plus telephone-event
    (and our key ``crypto`` when the leg is SRTP)."""
    from webfon.sip.sdp import make_answer

    answer, chosen = make_answer(offer, host, port, direction=direction,
                                 secure=crypto is not None)
    if chosen is None:
        raise SdpError(488, "No G.711 codec offered (PCMA or PCMU required)")
    if crypto is not None and answer.audio is not None:
        add_crypto(answer.audio, crypto)
    answer.origin_user = "webfon-pbx"
    return answer
