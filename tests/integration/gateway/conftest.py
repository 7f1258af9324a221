"""Fixtures for gateway integration tests: a running gateway, tokens, tone tracks."""

from __future__ import annotations

import asyncio
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
from gateway.media.ice import configure_ice
from gateway.settings import GatewaySettings
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
                              "pbx_control_url": "http://127.0.0.1:9"}
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
async def gateway_server(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    gw, runner = await start_gateway(tmp_path)
    try:
        yield gw
    finally:
        await runner.cleanup()
        configure_ice(["127.0.0.1"], None)


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


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    samples = samples.astype(np.float64)
    samples = samples - samples.mean()
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples * window))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    spectrum[freqs < 100] = 0
    return float(freqs[int(np.argmax(spectrum))])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


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
            if len(data) > self.rate * seconds * 0.5 and rms(data) > 300:
                last = dominant_frequency(data, self.rate)
                if abs(last - freq) <= tolerance:
                    return last
        raise AssertionError(f"tone {freq} Hz not heard (last dominant {last:.1f} Hz)")

    async def wait_silence(self, seconds: float = 1.0, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await asyncio.sleep(seconds)
            data = self.take()
            if rms(data) < 100:
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


@pytest.fixture
def dominant() -> Any:
    return dominant_frequency
