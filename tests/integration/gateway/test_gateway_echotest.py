"""Echo test through the gateway with janus-client's JanusEchoTestPlugin and real audio."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
from aiortc import RTCConfiguration
from janus_client import JanusEchoTestPlugin, JanusSession


def write_tone(path: Path, freq: float, seconds: float, rate: int = 48000) -> None:
    t = np.arange(int(rate * seconds)) / rate
    data = (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        channels = wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    return data.reshape(-1, channels)[:, 0], rate


async def test_echotest_returns_the_tone(gateway_server, tmp_path: Path, dominant) -> None:
    source = tmp_path / "tone.wav"
    record = tmp_path / "echo.wav"
    write_tone(source, 700.0, 8.0)
    session = JanusSession(base_url=gateway_server.ws_url, token=gateway_server.token())
    plugin = JanusEchoTestPlugin(pc_config=RTCConfiguration(iceServers=[]))
    await plugin.attach(session)
    try:
        await plugin.start(play_from=str(source), record_to=str(record))
        await asyncio.wait_for(plugin.wait_webrtcup(), 15)
        await asyncio.sleep(4)
        await plugin.close_stream()
    finally:
        await plugin.destroy()
        await session.destroy()
    samples, rate = read_wav(record)
    assert len(samples) > rate  # more than a second of echoed audio
    tail = samples[-rate * 2:]
    assert np.sqrt(np.mean(tail.astype(np.float64) ** 2)) > 300
    assert abs(dominant(tail, rate) - 700.0) < 10


async def test_echotest_over_http_long_poll(gateway_server, tmp_path: Path, dominant) -> None:
    source = tmp_path / "tone.wav"
    record = tmp_path / "echo.wav"
    write_tone(source, 500.0, 8.0)
    session = JanusSession(base_url=gateway_server.url, token=gateway_server.token())
    plugin = JanusEchoTestPlugin(pc_config=RTCConfiguration(iceServers=[]))
    await plugin.attach(session)
    try:
        info = await session.transport.info()
        assert info["janus"] == "server_info"
        await plugin.start(play_from=str(source), record_to=str(record))
        await asyncio.wait_for(plugin.wait_webrtcup(), 15)
        await asyncio.sleep(4)
        await plugin.close_stream()
    finally:
        await plugin.destroy()
        await session.destroy()
    samples, rate = read_wav(record)
    tail = samples[-rate * 2:]
    assert len(samples) > rate and abs(dominant(tail, rate) - 500.0) < 10
