"""A SIP desk phone for browser tests: webfon's SIP user agent and an RTP endpoint, run on
their own event loop in a background thread so synchronous Playwright tests can drive it.

It registers as one of the demo desk phones, answers or places calls, sends a tone, and
reports what it hears (dominant frequency of the last stretch of audio) and the DTMF digits
that reached it, by RFC 4733 events or SIP INFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from webfon.rtp import RtpEndpoint, RtpRecorder
from webfon.rtp.detect import dominant_frequency, rms_dbfs
from webfon.rtp.tones import tone_frames
from webfon.sip import SipEndpoint
from webfon.sip.sdp import SessionDescription, make_answer, make_offer
from webfon.sip.ua import Account, Call, UserAgent

T = TypeVar("T")
HOST = "127.0.0.1"


class SipPhone:
    def __init__(self, ext: str, password: str, pbx_port: int, tone_hz: float) -> None:
        self.ext = ext
        self.password = password
        self.pbx_port = pbx_port
        self.tone_hz = tone_hz
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"sip-{ext}",
                                       daemon=True)
        self.thread.start()
        self.endpoint: SipEndpoint | None = None
        self.ua: UserAgent | None = None
        self.rtp: RtpEndpoint | None = None
        self.rec = RtpRecorder()
        self.call: Call | None = None
        self.info_digits = ""
        self.ended = threading.Event()
        self._tone: asyncio.Task[Any] | None = None
        self._watch: asyncio.Task[Any] | None = None
        self.payload_type = 8
        self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.endpoint = SipEndpoint(HOST, 0)
        await self.endpoint.start()
        proxy = f"sip:{HOST}:{self.pbx_port}"
        self.ua = UserAgent(self.endpoint, Account(
            aor=f"sip:{self.ext}@webfon", username=self.ext, password=self.password,
            registrar=proxy, outbound_proxy=proxy, expires=300))
        self.rtp = await RtpEndpoint.open(HOST)
        self.rtp.on_rtp = self.rec

    def register(self) -> None:
        assert self.ua is not None
        response = self.run(self.ua.register())
        if response.status != 200:
            raise AssertionError(f"{self.ext} REGISTER answered {response.status}")

    # --- calls ---------------------------------------------------------------------------
    def _offer(self) -> bytes:
        assert self.rtp is not None
        return make_offer(HOST, self.rtp.port, codecs=("PCMA", "PCMU"),
                          telephone_event=101).encode()

    def _point_media(self, sdp: bytes) -> None:
        assert self.rtp is not None
        sd = SessionDescription.parse(sdp)
        audio = sd.audio
        assert audio is not None, "no audio in the far end's SDP"
        self.rtp.remote_addr = (sd.address_of(audio) or HOST, audio.port)
        self.payload_type = next(c.pt for c in audio.codecs if c.name in ("PCMA", "PCMU"))
        event = next((c.pt for c in audio.codecs if c.name.lower() == "telephone-event"), 101)
        self.rec.dtmf_payload_type = event

    async def _watch_call(self, call: Call) -> None:
        while True:
            name, data = await call.events.get()
            if name == "info":
                body = (data.get("body") or b"").decode(errors="replace")
                match = re.search(r"Signal\s*=\s*([0-9A-D*#])", body, re.I)
                if match:
                    self.info_digits += match.group(1)
            elif name in ("accepted", "updating") and data.get("sdp"):
                self._point_media(data["sdp"])
            elif name == "hangup":
                self.ended.set()
                return

    def _send_tone(self) -> None:
        assert self.rtp is not None
        if self._tone is not None:
            self._tone.cancel()
        self._tone = asyncio.ensure_future(
            self.rtp.play(tone_frames(self.tone_hz, 120.0, self.payload_type),
                          self.payload_type))

    def answer_incoming(self, timeout: float = 15.0) -> str:
        """Wait for a call, answer it and start sending the tone; returns the caller."""

        async def answer() -> str:
            assert self.ua is not None and self.rtp is not None
            call = await asyncio.wait_for(self.ua.incoming.get(), timeout)
            self.call = call
            self.ended.clear()
            assert call.remote_sdp is not None
            sdp, codec = make_answer(SessionDescription.parse(call.remote_sdp), HOST,
                                     self.rtp.port)
            assert codec is not None, "no G.711 in the offer"
            call.accept(sdp.encode())
            self._point_media(call.remote_sdp)
            self._watch = asyncio.ensure_future(self._watch_call(call))
            self._send_tone()
            return str(call.remote_party)

        return self.run(answer(), timeout + 5)

    def dial(self, number: str, timeout: float = 20.0) -> None:
        """Call ``number`` through the PBX and send the tone once answered."""

        async def dial() -> None:
            assert self.ua is not None
            call = self.ua.invite(f"sip:{number}@{HOST}:{self.pbx_port}", self._offer())
            self.call = call
            self.ended.clear()
            self._watch = asyncio.ensure_future(self._watch_call(call))

        self.run(dial())

    def wait_answered(self, timeout: float = 20.0) -> None:
        async def wait() -> None:
            assert self.call is not None
            response = await self.call.wait_answer(timeout)
            if response.status != 200:
                raise AssertionError(f"call answered {response.status}")
            if response.body:
                self._point_media(response.body)
            self._send_tone()

        self.run(wait(), timeout + 5)

    def hangup(self) -> None:
        async def hang() -> None:
            if self._tone is not None:
                self._tone.cancel()
            if self.call is not None and not self.ended.is_set():
                with contextlib.suppress(Exception):
                    await self.call.hangup()

        self.run(hang())

    # --- what arrives --------------------------------------------------------------------
    def listen(self, seconds: float = 1.0) -> tuple[float, float]:
        """Dominant frequency and level (dBFS) of what arrives during the next ``seconds``."""

        async def record() -> tuple[float, float]:
            assert self.rtp is not None
            rec = RtpRecorder(self.rec.dtmf_payload_type)
            previous = self.rec
            self.rtp.on_rtp = lambda pkt, *a: (rec(pkt, *a), previous(pkt, *a))
            await asyncio.sleep(seconds)
            self.rtp.on_rtp = previous
            samples = rec.samples()
            if len(samples) < 400:
                return 0.0, -120.0
            return dominant_frequency(samples, 8000), rms_dbfs(samples)

        return self.run(record(), seconds + 5)

    def wait_hearing(self, hz: float, tolerance: float = 12.0, timeout: float = 15.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        last = (0.0, -120.0)
        while time.monotonic() < deadline:
            last = self.listen(0.6)
            if last[1] > -45 and abs(last[0] - hz) <= tolerance:
                return
        raise AssertionError(f"{self.ext} did not hear {hz} Hz; last heard {last[0]:.1f} Hz "
                             f"at {last[1]:.1f} dBFS")

    def wait_not_hearing(self, hz: float, tolerance: float = 12.0, timeout: float = 15.0
                         ) -> None:
        import time

        deadline = time.monotonic() + timeout
        last = (0.0, -120.0)
        while time.monotonic() < deadline:
            last = self.listen(0.6)
            if last[1] <= -45 or abs(last[0] - hz) > tolerance:
                return
        raise AssertionError(f"{self.ext} still hears {hz} Hz")

    def digits(self) -> str:
        return self.rec.digits + self.info_digits

    def close(self) -> None:
        async def close() -> None:
            if self._tone is not None:
                self._tone.cancel()
            if self._watch is not None:
                self._watch.cancel()
            if self.ua is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ua.close(), 5)
            if self.rtp is not None:
                self.rtp.close()
            if self.endpoint is not None:
                with contextlib.suppress(Exception):
                    await self.endpoint.close()

        with contextlib.suppress(Exception):
            self.run(close(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
