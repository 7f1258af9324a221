"""The recording writer: packets placed by timestamp, stereo WAV, private files."""

from __future__ import annotations

import stat
import time
import wave
from pathlib import Path

import numpy as np

from pbx.recording.writer import WINDOW, Channel, private_dir, write_stereo
from tests.support.clock import ManualClock
from webfon.rtp import g711
from webfon.rtp.packet import build_header
from webfon.rtp.tones import sine


def packet(samples: np.ndarray, ts: int, pt: int = g711.PT_PCMU, ssrc: int = 1) -> bytes:
    return build_header(pt, 0, ts, ssrc) + g711.encode(samples, pt)


def test_packets_land_by_timestamp_lost_ones_stay_silent(tmp_path: Path) -> None:
    tone = sine(440, 0.1)
    frames = [tone[i:i + 160] for i in range(0, len(tone), 160)]
    ch = Channel(tmp_path / "c.raw", time.monotonic() + 0.5)  # the first packet at sample 0
    for i in (0, 2, 1, 4):  # reordered, 3 lost
        ch.feed(packet(frames[i], 5000 + 160 * i))
    ch.feed(build_header(101, 0, 5000, 1) + b"\x01\x8a\x00\xa0")  # a DTMF event: not audio
    ch.close()
    raw = np.fromfile(tmp_path / "c.raw", dtype="<i2")
    expected = g711.ulaw_decode(g711.ulaw_encode(tone))
    assert len(raw) == 800
    assert np.array_equal(raw[:480], expected[:480])
    assert not raw[480:640].any()
    assert np.array_equal(raw[640:], expected[640:])


def test_long_channels_go_to_disk_and_a_new_ssrc_starts_at_the_wall_clock(
        tmp_path: Path) -> None:
    clock = ManualClock()
    ch = Channel(tmp_path / "c.raw", clock(), clock)
    silence = np.zeros(160, dtype=np.int16)
    for i in range(3 * WINDOW // 160):  # 12 s of audio, in real time
        ch.feed(packet(silence + 1000, 160 * i))
        clock.advance(0.02)
    clock.advance(1.0)  # a second of nothing, then the phone changed (a new SSRC)
    ch.feed(packet(silence + 2000, 99_999, ssrc=2))
    ch.close()
    raw = np.fromfile(tmp_path / "c.raw", dtype="<i2")
    first = g711.ulaw_decode(g711.ulaw_encode(silence + 1000))[0]
    second = g711.ulaw_decode(g711.ulaw_encode(silence + 2000))[0]
    assert len(raw) == 3 * WINDOW + 8000 + 160
    assert (raw[:3 * WINDOW] == first).all() and not raw[3 * WINDOW:-160].any()
    assert (raw[-160:] == second).all()


def test_stereo_wav_and_private_modes(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    (tmp_path / "l.raw").write_bytes(np.full(800, 100, dtype="<i2").tobytes())
    (tmp_path / "r.raw").write_bytes(np.full(400, -100, dtype="<i2").tobytes())
    target = folder / "x.wav"
    assert write_stereo(tmp_path / "l.raw", tmp_path / "r.raw", target) == 0.1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with wave.open(str(target), "rb") as wav:
        data = np.frombuffer(wav.readframes(800), dtype="<i2").reshape(-1, 2)
    assert (data[:, 0] == 100).all()
    assert (data[:400, 1] == -100).all() and not data[400:, 1].any()
