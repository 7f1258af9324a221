"""A scriptable SIP phone for PBX tests: webfon's user agent plus an RTP endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

from webfon.rtp import RtpEndpoint, RtpRecorder
from webfon.rtp.detect import dominant_frequency
from webfon.rtp.tones import tone_frames
from webfon.sip.sdp import SessionDescription, make_answer, make_offer
from webfon.sip.ua import Call, UserAgent


class SoftPhone:
    def __init__(self, ua: UserAgent, rtp: RtpEndpoint) -> None:
        self.ua = ua
        self.rtp = rtp
        self.rec = RtpRecorder()
        rtp.on_rtp = self.rec
        self.call: Call | None = None
        self._tone: asyncio.Task[Any] | None = None

    @classmethod
    async def create(cls, ua: UserAgent) -> SoftPhone:
        rtp = await RtpEndpoint.open(ua.endpoint.host)
        return cls(ua, rtp)

    def offer(self, codecs: tuple[str, ...] = ("PCMA", "PCMU")) -> bytes:
        return make_offer(self.ua.endpoint.host, self.rtp.port, codecs=codecs).encode()

    def dial(self, number: str, host: str, port: int) -> Call:
        self.call = self.ua.invite(f"sip:{number}@{host}:{port}", self.offer())
        return self.call

    async def incoming(self, timeout: float = 5.0) -> Call:
        self.call = await asyncio.wait_for(self.ua.incoming.get(), timeout)
        return self.call

    def answer(self, call: Call | None = None) -> None:
        call = call or self.call
        assert call is not None and call.remote_sdp is not None
        answer, codec = make_answer(SessionDescription.parse(call.remote_sdp),
                                    self.ua.endpoint.host, self.rtp.port)
        assert codec is not None
        call.accept(answer.encode())
        self.point_media(call.remote_sdp)

    def point_media(self, sdp: bytes | None = None) -> None:
        """Send RTP to the address in the far end's SDP."""
        body = sdp or (self.call.remote_sdp if self.call else None)
        assert body is not None
        sd = SessionDescription.parse(body)
        audio = sd.audio
        assert audio is not None
        self.rtp.remote_addr = (sd.address_of(audio) or "", audio.port)
        self.payload_type = next(c.pt for c in audio.codecs if c.name in ("PCMA", "PCMU"))

    def send_tone(self, hz: float, seconds: float = 10.0) -> None:
        self.stop_tone()
        pt = getattr(self, "payload_type", 8)
        self._tone = asyncio.ensure_future(self.rtp.play(tone_frames(hz, seconds, pt), pt))

    def stop_tone(self) -> None:
        if self._tone is not None:
            self._tone.cancel()
            self._tone = None

    def heard(self, skip_s: float = 0.0) -> float:
        samples = self.rec.samples()[int(skip_s * 8000):]
        return dominant_frequency(samples, 8000)

    def reset_recording(self) -> None:
        self.rec = RtpRecorder()
        self.rtp.on_rtp = self.rec

    def close(self) -> None:
        self.stop_tone()
        self.rtp.close()
