"""The scripted SIP phone of the tests: webfon's SIP user agent plus an RTP endpoint.

It registers, places and answers calls (G.711 with RFC 4733 events), sends a tone, and
reports what it hears: the dominant frequency and level of the audio that reached it, and the
DTMF digits, by RFC 4733 events or SIP INFO. A phone with its own SIP endpoint
(:meth:`Phone.open`) also keeps every request it received (``received("REFER")``), and can
answer every call by itself (``auto_answer``), as a far end that just has to be there.

:class:`Phone` is for asyncio tests; :class:`ThreadedPhone` runs one on its own event loop
in a thread, for synchronous (Playwright) tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from webfon.rtp import RtpEndpoint, RtpRecorder
from webfon.rtp.detect import dominant_frequency, rms_dbfs, tone_levels
from webfon.rtp.tones import tone_frames
from webfon.sip import Request, ServerTransaction, SipEndpoint
from webfon.sip.dtmf_info import parse_dtmf_info
from webfon.sip.sdp import SessionDescription, make_answer, make_offer
from webfon.sip.ua import Account, Call, UserAgent

from .net import HOST

T = TypeVar("T")

AUDIBLE_DBFS = -45.0
"""Audio louder than this counts as heard (silence and comfort noise stay below)."""


class Phone:
    """A SIP phone on ``ua`` with its own RTP endpoint."""

    __test__ = False

    def __init__(self, ua: UserAgent, rtp: RtpEndpoint, *, tone_hz: float = 0.0,
                 auto_answer: bool = False, own_endpoint: SipEndpoint | None = None) -> None:
        self.ua = ua
        self.rtp = rtp
        self.tone_hz = tone_hz
        self.rec = RtpRecorder()
        rtp.on_rtp = self.rec
        self.call: Call | None = None
        self.calls: dict[str, Call] = {}
        """Every incoming call by Call-ID."""
        self.requests: list[Request] = []
        self.info_digits = ""
        self.payload_type = 8
        self.ended = asyncio.Event()
        """Set when the current call ends."""
        self.on_hangup: Callable[[], None] | None = None
        self._own_endpoint = own_endpoint
        self._tone: asyncio.Task[Any] | None = None
        if auto_answer:
            ua.on_event = self._auto_answer

    @classmethod
    async def create(cls, ua: UserAgent, *, tone_hz: float = 0.0,
                     auto_answer: bool = False) -> Phone:
        """A phone on an existing user agent (whose endpoint the caller closes)."""
        rtp = await RtpEndpoint.open(ua.endpoint.host)
        return cls(ua, rtp, tone_hz=tone_hz, auto_answer=auto_answer)

    @classmethod
    async def open(cls, user: str, host: str = HOST, *, password: str | None = None,
                   proxy: str | None = None, domain: str = "webfon", tone_hz: float = 0.0,
                   auto_answer: bool = False, expires: int = 300) -> Phone:
        """A phone with its own SIP endpoint on ``host``; ``proxy`` (``sip:host:port``) is
        its registrar and outbound proxy."""
        endpoint = SipEndpoint(host, 0)
        await endpoint.start()
        ua = UserAgent(endpoint, Account(aor=f"sip:{user}@{domain}", username=user,
                                         password=password, registrar=proxy,
                                         outbound_proxy=proxy, expires=expires))
        rtp = await RtpEndpoint.open(host)
        phone = cls(ua, rtp, tone_hz=tone_hz, auto_answer=auto_answer, own_endpoint=endpoint)
        endpoint.handler = phone._keeping(endpoint.handler)
        return phone

    def _keeping(self, handler: Any) -> Any:
        """``handler`` (the user agent's), keeping each request received first."""

        async def keep(request: Request, tx: ServerTransaction | None) -> None:
            self.requests.append(request)
            await handler(request, tx)

        return keep

    # ------------------------------------------------------------------ identity
    @property
    def uri(self) -> str:
        """Where to call this phone directly."""
        host, port = self.ua.endpoint.address("udp")
        return f"sip:{self.ua.contact_user}@{host}:{port}"

    def received(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    def local_tag(self, call_id: str) -> str | None:
        """The tag this phone gave the incoming call ``call_id``."""
        call = self.calls.get(call_id)
        return call.dialog.local_tag if call is not None and call.dialog is not None else None

    async def register(self) -> None:
        response = await self.ua.register()
        if response.status != 200:
            raise AssertionError(f"{self.ua.account.aor} REGISTER answered {response.status}")

    # ------------------------------------------------------------------ calls
    def offer(self, codecs: tuple[str, ...] = ("PCMA", "PCMU")) -> bytes:
        return make_offer(self.ua.endpoint.host, self.rtp.port, codecs=codecs,
                          telephone_event=101).encode()

    def dial(self, number: str, host: str, port: int) -> Call:
        """Call ``number`` at ``host:port``; returns at once (``await call.wait_answer()``)."""
        self.ended.clear()
        self.call = self.ua.invite(f"sip:{number}@{host}:{port}", self.offer(),
                                   on_event=self._on_call_event)
        return self.call

    async def wait_answered(self, timeout: float = 20.0) -> None:
        """Wait for the call placed to be answered, then send the phone's tone."""
        assert self.call is not None
        response = await self.call.wait_answer(timeout)
        if response.status != 200:
            raise AssertionError(f"call answered {response.status}")
        if response.body:
            self.point_media(response.body)
        if self.tone_hz:
            self.send_tone()

    async def incoming(self, timeout: float = 5.0) -> Call:
        call = await asyncio.wait_for(self.ua.incoming.get(), timeout)
        self._adopt(call)
        return call

    def answer(self, call: Call | None = None) -> None:
        call = call or self.call
        assert call is not None and call.remote_sdp is not None
        answer, codec = make_answer(SessionDescription.parse(call.remote_sdp),
                                    self.ua.endpoint.host, self.rtp.port)
        assert codec is not None, "no G.711 in the offer"
        call.accept(answer.encode())
        self.point_media(call.remote_sdp)

    async def answer_incoming(self, timeout: float = 15.0) -> str:
        """Wait for a call, answer it and send the phone's tone; the caller's address."""
        call = await self.incoming(timeout)
        self.answer(call)
        if self.tone_hz:
            self.send_tone()
        return str(call.remote_party)

    async def hangup(self) -> None:
        self.stop_tone()
        if self.call is not None and not self.ended.is_set():
            with contextlib.suppress(Exception):
                await self.call.hangup()

    def _adopt(self, call: Call) -> None:
        self.call = call
        self.calls[call.call_id] = call
        self.ended.clear()
        call.on_event = self._on_call_event

    def _auto_answer(self, name: str, data: dict[str, Any]) -> None:
        if name == "incoming":
            call = data["call"]
            self._adopt(call)
            self.answer(call)

    def _on_call_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "info":
            dtmf = parse_dtmf_info(data.get("content_type"), data.get("body") or b"")
            if dtmf is not None:
                self.info_digits += dtmf.digit
        elif name in ("accepted", "updating") and data.get("sdp"):
            self.point_media(data["sdp"])
        elif name == "hangup":
            self.ended.set()
            if self.on_hangup is not None:
                self.on_hangup()

    # ------------------------------------------------------------------ media
    def point_media(self, sdp: bytes | None = None) -> None:
        """Send RTP to the address in the far end's SDP, in its first G.711 codec."""
        body = sdp or (self.call.remote_sdp if self.call else None)
        assert body is not None
        sd = SessionDescription.parse(body)
        audio = sd.audio
        assert audio is not None, "no audio in the far end's SDP"
        self.rtp.remote_addr = (sd.address_of(audio) or self.ua.endpoint.host, audio.port)
        self.payload_type = next(c.pt for c in audio.codecs if c.name in ("PCMA", "PCMU"))
        event = next((c.pt for c in audio.codecs if c.name.lower() == "telephone-event"), 101)
        self.rec.dtmf_payload_type = event

    def send_tone(self, hz: float | None = None, seconds: float = 120.0) -> None:
        self.stop_tone()
        pt = self.payload_type
        self._tone = asyncio.ensure_future(
            self.rtp.play(tone_frames(hz or self.tone_hz, seconds, pt), pt))

    def stop_tone(self) -> None:
        if self._tone is not None:
            self._tone.cancel()
            self._tone = None

    def heard(self, skip_s: float = 0.0) -> float:
        """Dominant frequency of everything received (after ``skip_s`` seconds)."""
        samples = self.rec.samples()[int(skip_s * 8000):]
        return dominant_frequency(samples, 8000)

    def reset_recording(self) -> None:
        self.rec = RtpRecorder(self.rec.dtmf_payload_type)
        self.rtp.on_rtp = self.rec

    async def listen(self, seconds: float = 1.0) -> tuple[float, float]:
        """Dominant frequency and level (dBFS) of what arrives during the next ``seconds``."""
        rec = RtpRecorder(self.rec.dtmf_payload_type)
        kept = self.rec
        self.rtp.on_rtp = lambda ep, data, addr: (rec(ep, data, addr), kept(ep, data, addr))
        try:
            await asyncio.sleep(seconds)
        finally:
            self.rtp.on_rtp = kept
        samples = rec.samples()
        if len(samples) < 400:
            return 0.0, -120.0
        return dominant_frequency(samples, 8000), rms_dbfs(samples)

    async def record(self, seconds: float) -> Any:
        """The samples that arrive during the next ``seconds``."""
        rec = RtpRecorder(self.rec.dtmf_payload_type)
        kept = self.rec
        self.rtp.on_rtp = lambda ep, data, addr: (rec(ep, data, addr), kept(ep, data, addr))
        try:
            await asyncio.sleep(seconds)
        finally:
            self.rtp.on_rtp = kept
        return rec.samples()

    async def wait_tones(self, present: tuple[float, ...], absent: tuple[float, ...] = (),
                         timeout: float = 15.0) -> None:
        """Wait until every tone of ``present`` arrives at once (a mix) and none of
        ``absent`` does."""
        deadline = time.monotonic() + timeout
        levels: list[float] = []
        while time.monotonic() < deadline:
            levels = tone_levels(await self.record(0.6), 8000, present + absent)
            if all(lv > AUDIBLE_DBFS for lv in levels[:len(present)]) and \
                    all(lv <= AUDIBLE_DBFS for lv in levels[len(present):]):
                return
        raise AssertionError(f"{self.ua.account.aor}: wanted {present} and not {absent}; "
                             f"levels {[round(v, 1) for v in levels]} dBFS")

    async def wait_hearing(self, hz: float, tolerance: float = 12.0,
                           timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        last = (0.0, -120.0)
        while time.monotonic() < deadline:
            last = await self.listen(0.6)
            if last[1] > AUDIBLE_DBFS and abs(last[0] - hz) <= tolerance:
                return
        raise AssertionError(f"{self.ua.account.aor} did not hear {hz} Hz; last heard "
                             f"{last[0]:.1f} Hz at {last[1]:.1f} dBFS")

    async def wait_not_hearing(self, hz: float, tolerance: float = 12.0,
                               timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            level_hz, level = await self.listen(0.6)
            if level <= AUDIBLE_DBFS or abs(level_hz - hz) > tolerance:
                return
        raise AssertionError(f"{self.ua.account.aor} still hears {hz} Hz")

    def digits(self) -> str:
        """DTMF digits received, by RFC 4733 and then by INFO."""
        return self.rec.digits + self.info_digits

    async def close(self) -> None:
        """Stop sending; with its own endpoint, also hang up, unregister and close it."""
        self.stop_tone()
        if self._own_endpoint is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ua.close(), 5)
            with contextlib.suppress(Exception):
                await self._own_endpoint.close()
        self.rtp.close()


class ThreadedPhone:
    """A :class:`Phone` registered at a PBX, driven from synchronous code: it runs on its own
    event loop in a background thread."""

    def __init__(self, ext: str, password: str, pbx_port: int, tone_hz: float,
                 host: str = HOST) -> None:
        self.ext = ext
        self.host = host
        self.pbx_port = pbx_port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"sip-{ext}",
                                       daemon=True)
        self.thread.start()
        self.ended = threading.Event()
        """Set when the current call ends."""
        self.phone = self.run(Phone.open(ext, host, password=password,
                                         proxy=f"sip:{host}:{pbx_port}", tone_hz=tone_hz))
        self.phone.on_hangup = self.ended.set

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def register(self) -> None:
        self.run(self.phone.register())

    def answer_incoming(self, timeout: float = 15.0) -> str:
        """Wait for a call, answer it and start sending the tone; returns the caller."""
        self.ended.clear()
        return self.run(self.phone.answer_incoming(timeout), timeout + 5)

    def dial(self, number: str) -> None:
        """Call ``number`` through the PBX (the tone starts once answered)."""
        self.ended.clear()

        async def dial() -> None:
            self.phone.dial(number, self.host, self.pbx_port)

        self.run(dial())

    def wait_answered(self, timeout: float = 20.0) -> None:
        self.run(self.phone.wait_answered(timeout), timeout + 5)

    def hangup(self) -> None:
        self.run(self.phone.hangup())

    def listen(self, seconds: float = 1.0) -> tuple[float, float]:
        return self.run(self.phone.listen(seconds), seconds + 5)

    def record(self, seconds: float) -> Any:
        return self.run(self.phone.record(seconds), seconds + 5)

    def wait_tones(self, present: tuple[float, ...], absent: tuple[float, ...] = (),
                   timeout: float = 15.0) -> None:
        self.run(self.phone.wait_tones(present, absent, timeout), timeout + 5)

    def wait_hearing(self, hz: float, tolerance: float = 12.0, timeout: float = 15.0) -> None:
        self.run(self.phone.wait_hearing(hz, tolerance, timeout), timeout + 5)

    def wait_not_hearing(self, hz: float, tolerance: float = 12.0,
                         timeout: float = 15.0) -> None:
        self.run(self.phone.wait_not_hearing(hz, tolerance, timeout), timeout + 5)

    def digits(self) -> str:
        return self.phone.digits()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.phone.close(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
