"""Echo test through the gateway with janus-client's JanusEchoTestPlugin and real audio."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiortc import RTCConfiguration
from janus_client import JanusEchoTestPlugin, JanusSession

from webfon.rtp.detect import dominant_frequency, rms_dbfs
from webfon.rtp.wav import read_wav, write_tone_wav


def write_tone(path: Path, freq: float, seconds: float) -> None:
    """What the browser side sends: 48 kHz, 0.3 of full scale."""
    write_tone_wav(path, freq, seconds, rate=48000, amplitude=0.3)


async def test_echotest_returns_the_tone(gateway_server, tmp_path: Path) -> None:
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
    assert rms_dbfs(tail) > -40.0
    assert abs(dominant_frequency(tail, rate, fmin=100) - 700.0) < 10


async def test_echotest_over_http_long_poll(gateway_server, tmp_path: Path) -> None:
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
    assert len(samples) > rate and abs(dominant_frequency(tail, rate, fmin=100) - 500.0) < 10
