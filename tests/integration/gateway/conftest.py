"""Fixtures for gateway integration tests: a running gateway, tokens, tone tracks."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from aiortc import MediaStreamTrack
from av import AudioFrame

from gateway.app import build_app
from gateway.media.ice import reset_ice
from gateway.settings import GatewaySettings
from tests.support.fixtures import baresip_factory, phone_network, sipp_factory  # noqa: F401
from tests.support.phone import Phone
from tests.support.sipp import Sipp
from webfon.rtp.detect import dominant_frequency, rms_dbfs
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key


@dataclass
class RunningGateway:
    url: str
    ws_url: str
    settings: GatewaySettings
    app: web.Application
    issuer: TokenIssuer
    extra: dict[str, Any] = field(default_factory=dict)

    def token(self, sub: int | str = 1001, roles: tuple[str, ...] = ("user",),
              audience: tuple[str, ...] = ("gateway",), ttl: float = 300) -> str:
        return self.issuer.issue(sub, audience=audience, roles=roles, ttl=ttl)[0]


async def start_gateway(tmp_path: Path, **overrides: Any) -> tuple[RunningGateway,
                                                                   web.AppRunner]:
    data_dir = tmp_path / "data"
    private, _ = ensure_keypair(data_dir)
    values: dict[str, Any] = {"data_dir": data_dir, "port": 0, "local_ip": "127.0.0.1",
                              "pbx_control_url": "http://127.0.0.1:9",
                              # one worker relays the calls; tests of the relay in the
                              # gateway's own loop ask for 0
                              "media_workers": 1,
                              # the tests' SIP peers (sipp, baresip, test registrars, the
                              # PBX) listen on loopback ports of their own; the attacks on
                              # this setting ask for the default (the PBX only)
                              "sip_allowed_servers": ("127.0.0.1:*",)}
    values.update(overrides)
    settings = GatewaySettings.load(None, environ={}, **values)
    app = await build_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gw = RunningGateway(url=f"http://127.0.0.1:{port}/janus", ws_url=f"ws://127.0.0.1:{port}/janus",
                        settings=settings, app=app,
                        issuer=TokenIssuer(load_private_key(private), settings.token_issuer))
    return gw, runner


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[Any]:
    """``await gateway_factory(**settings)`` -> a running gateway (stopped after the test)."""
    runners: list[web.AppRunner] = []

    async def make(**overrides: Any) -> RunningGateway:
        gw, runner = await start_gateway(tmp_path / f"gw{len(runners)}", **overrides)
        runners.append(runner)
        return gw

    try:
        yield make
    finally:
        for runner in runners:
            await runner.cleanup()
        reset_ice()


@pytest.fixture
async def gateway_server(gateway_factory: Any) -> RunningGateway:
    return await gateway_factory()


class ToneTrack(MediaStreamTrack):
    """48 kHz mono sine frames, 20 ms each, paced in real time."""

    kind = "audio"

    def __init__(self, freq: float, rate: int = 48000, amplitude: float = 0.3) -> None:
        super().__init__()
        self.freq = freq
        self.rate = rate
        self.amplitude = amplitude
        self.samples = rate // 50
        self.pts = 0
        self.start: float | None = None
        self.enabled = True

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        target = self.start + self.pts / self.rate
        delay = target - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(self.samples) + self.pts) / self.rate
        amp = self.amplitude if self.enabled else 0.0
        data = (amp * 32767 * np.sin(2 * math.pi * self.freq * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, self.rate)
        self.pts += self.samples
        return frame


TONE_DBFS = -41.0
"""A tone is this loud at least (a 0.3 full-scale sine is about -13.5 dBFS)."""
SILENCE_DBFS = -50.0


class Recorder:
    """Pulls decoded frames from a remote aiortc track into a buffer."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.chunks: list[np.ndarray] = []
        self.rate = 48000
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self.rate = frame.sample_rate
                data = frame.to_ndarray()
                if data.ndim == 2 and data.shape[0] == 1 and frame.layout.nb_channels > 1:
                    data = data.reshape(-1, frame.layout.nb_channels)[:, 0]
                self.chunks.append(data.reshape(-1).astype(np.int16))
        except Exception:
            return

    def take(self) -> np.ndarray:
        chunks, self.chunks = self.chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    async def wait_tone(self, freq: float, seconds: float = 1.0, timeout: float = 10.0,
                        tolerance: float = 15.0) -> float:
        """Wait until the last ``seconds`` of audio have ``freq`` as dominant frequency."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = 0.0
        while loop.time() < deadline:
            await asyncio.sleep(seconds)
            data = self.take()
            if len(data) > self.rate * seconds * 0.5 and rms_dbfs(data) > TONE_DBFS:
                last = dominant_frequency(data, self.rate, fmin=100)
                if abs(last - freq) <= tolerance:
                    return last
        raise AssertionError(f"tone {freq} Hz not heard (last dominant {last:.1f} Hz)")

    async def wait_silence(self, seconds: float = 1.0, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await asyncio.sleep(seconds)
            data = self.take()
            if rms_dbfs(data) < SILENCE_DBFS:
                return
        raise AssertionError("audio did not stop")

    async def stop(self) -> None:
        self.task.cancel()


@pytest.fixture
def tone_track() -> type[ToneTrack]:
    return ToneTrack


@pytest.fixture
def recorder() -> type[Recorder]:
    return Recorder


# --- a Janus SIP plugin client on janus-client -------------------------------------------
from aiortc import RTCConfiguration, RTCSessionDescription  # noqa: E402
from janus_client import JanusPlugin, JanusSession  # noqa: E402


class SipClient(JanusPlugin):
    """Speaks the SIP plugin's requests; collects its events; owns an aiortc peer with a
    tone source and a recorder of what it hears."""

    name = "janus.plugin.sip"

    def __init__(self, tone_hz: float = 440.0, plugin_name: str | None = None) -> None:
        super().__init__(pc_config=RTCConfiguration(iceServers=[]))
        if plugin_name:
            self.name = plugin_name
        self.tone = ToneTrack(tone_hz)
        self.backlog: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        self.janus: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.recorder: Recorder | None = None

    async def on_receive(self, response: dict[str, Any]) -> None:
        self._dispatch(response)

    def _dispatch(self, response: dict[str, Any]) -> None:
        if response.get("janus") == "event":
            data = response["plugindata"]["data"]
            self.backlog.append((data, response.get("jsep")))
        else:
            self.janus.append(response)
        self.arrived.set()

    async def request(self, body: dict[str, Any], jsep: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        msg: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        tx = await self.send(msg)
        first = await tx.get(timeout=10)
        await tx.done()
        queue = tx._MessageTransaction__msg_in  # type: ignore[attr-defined]
        while not queue.empty():
            self._dispatch(queue.get_nowait())
        if first.get("janus") == "event":
            self._dispatch(first)
        return first

    async def wait_event(self, name: str, timeout: float = 15.0
                         ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The first unconsumed plugin event named ``name`` (errors raise)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, (data, jsep) in enumerate(self.backlog):
                if "error_code" in data:
                    del self.backlog[i]
                    raise AssertionError(f"plugin error while waiting for {name}: {data}")
                result = data.get("result") or {}
                if result.get("event") == name:
                    del self.backlog[i]
                    return data, jsep
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {name} event; backlog {self.backlog}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    async def wait_error(self, timeout: float = 10.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, (data, _) in enumerate(self.backlog):
                if "error_code" in data:
                    del self.backlog[i]
                    return data
            if loop.time() > deadline:
                raise AssertionError(f"no error event; backlog {self.backlog}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), deadline - loop.time())

    def _watch_tracks(self) -> None:
        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self.recorder = Recorder(track)

    async def make_offer(self) -> dict[str, Any]:
        self._watch_tracks()
        self.pc.addTrack(self.tone)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"type": "offer", "sdp": self.pc.localDescription.sdp}

    async def take_answer(self, jsep: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))

    async def answer_offer(self, jsep: dict[str, Any]) -> dict[str, Any]:
        self._watch_tracks()
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], "offer"))
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(self.tone)
                transceiver.direction = "sendrecv"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return {"type": "answer", "sdp": self.pc.localDescription.sdp}

    async def wait_recorder(self, timeout: float = 10.0) -> Recorder:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.recorder is None:
            if loop.time() > deadline:
                raise AssertionError("no remote audio track")
            await asyncio.sleep(0.05)
        return self.recorder

    async def close(self) -> None:
        if self.recorder is not None:
            await self.recorder.stop()
        if self.pc.signalingState != "closed":
            await self.pc.close()


@pytest.fixture
async def sip_clients(gateway_server: RunningGateway) -> AsyncIterator[Any]:
    """``await sip_clients(token=..., tone_hz=..., gw=...)`` -> attached SipClient."""
    sessions: list[JanusSession] = []
    clients: list[SipClient] = []

    async def make(token: str | None = None, tone_hz: float = 440.0,
                   session: JanusSession | None = None,
                   gw: RunningGateway | None = None) -> SipClient:
        gw = gw or gateway_server
        if session is None:
            session = JanusSession(base_url=gw.ws_url,
                                   token=token or gw.token(roles=("user", "test")))
            sessions.append(session)
        client = SipClient(tone_hz)
        await client.attach(session)
        client.session = session  # type: ignore[attr-defined]
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for session in sessions:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.destroy(), 10)


# --- a small registrar (digest auth, bindings) on webfon.sip ------------------------------
from webfon.sip import DigestServer, SipEndpoint, compute_ha1  # noqa: E402


class TestRegistrar:
    """Challenges REGISTERs (MD5 digest) and remembers each user's Contact."""

    __test__ = False

    def __init__(self, host: str, users: dict[str, str], realm: str = "webfon") -> None:
        self.users = users
        self.realm = realm
        self.digest = DigestServer(realm, algorithms=("MD5",))
        self.endpoint = SipEndpoint(host, 0, handler=self._handle)
        self.bindings: dict[str, str] = {}
        self.registers = 0
        self.unregisters = 0

    async def start(self) -> TestRegistrar:
        await self.endpoint.start()
        return self

    @property
    def address(self) -> str:
        host, port = self.endpoint.address("udp")
        return f"{host}:{port}"

    async def _lookup(self, username: str, algorithm: str) -> str | None:
        password = self.users.get(username)
        return compute_ha1(username, self.realm, password) if password else None

    async def _handle(self, request: Any, tx: Any) -> None:
        if tx is None:
            return
        if request.method != "REGISTER":
            tx.respond(405)
            return
        result = await self.digest.authenticate(request, self._lookup)
        if not result.ok:
            if result.status == "failed":
                tx.respond(403)
            else:
                tx.respond(self.digest.challenge(request, stale=result.status == "stale"))
            return
        user = request.to.uri.user or ""
        contact = request.contact
        expires = request.expires if request.expires is not None else 3600
        if contact is not None and contact.expires is not None:
            expires = int(contact.expires)
        self.registers += 1
        if expires == 0:
            self.unregisters += 1
            self.bindings.pop(user, None)
            tx.respond(200)
            return
        if contact is not None:
            self.bindings[user] = str(contact.uri)
        tx.respond(200, headers=[("Contact", f"<{contact.uri}>;expires={expires}")]
                   if contact is not None else [])

    async def close(self) -> None:
        await self.endpoint.close()


@pytest.fixture
async def registrar_factory() -> AsyncIterator[Any]:
    made: list[TestRegistrar] = []

    async def make(host: str = "127.0.0.1", users: dict[str, str] | None = None
                   ) -> TestRegistrar:
        reg = await TestRegistrar(host, users or {"alice": "alicepw"}).start()
        made.append(reg)
        return reg

    try:
        yield make
    finally:
        for reg in made:
            await reg.close()


@pytest.fixture
async def test_phones() -> AsyncIterator[Any]:
    """``await test_phones("bob")`` -> a phone at its own address that answers every call."""
    made: list[Phone] = []

    async def make(user: str) -> Phone:
        phone = await Phone.open(user, auto_answer=True)
        made.append(phone)
        return phone

    try:
        yield make
    finally:
        for phone in made:
            await phone.close()


async def echo_call(sip_clients: Any, gw: RunningGateway, sipp: Sipp, tone: float) -> Any:
    """A guest call to sipp's echo with ``tone`` heard back (audio verified), the client."""
    client = await sip_clients(tone_hz=tone, gw=gw)
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    await client.wait_event("registered")
    offer = await client.make_offer()
    await client.request({"request": "call", "uri": f"sip:echo@{sipp.sip_address}"}, offer)
    _, jsep = await client.wait_event("accepted")
    await client.take_answer(jsep)
    recorder = await client.wait_recorder()
    heard = await recorder.wait_tone(tone, timeout=15)
    assert abs(heard - tone) < 15
    return client
