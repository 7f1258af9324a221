"""Tone generation, FFT/Goertzel detection, WAV files and prompts."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from webfon.rtp import detect, g711, prompts, tones, wav


@pytest.mark.parametrize("freq, rate", [(440, 8000), (660, 8000), (1000, 48000),
                                        (3333.3, 8000), (250, 16000)])
def test_dominant_frequency_of_generated_sine(freq: float, rate: int) -> None:
    assert abs(detect.dominant_frequency(tones.sine(freq, 0.5, rate), rate) - freq) < 1.0


def test_dominant_frequency_survives_g711_and_noise() -> None:
    x = tones.sine(440, 1.0, amplitude=0.3)
    noisy = np.clip(x + np.random.default_rng(0).normal(0, 1500, len(x)), -32768, 32767)
    y = g711.alaw_decode(g711.alaw_encode(noisy.astype(np.int16)))
    assert abs(detect.dominant_frequency(y, 8000) - 440) < 2


def test_dominant_frequency_of_silence_is_zero() -> None:
    assert detect.dominant_frequency(np.zeros(800, np.int16), 8000) == 0.0
    assert detect.dominant_frequency(np.zeros(0, np.int16), 8000) == 0.0


def test_levels_and_activity() -> None:
    x = np.concatenate([tones.sine(500, 1.0, amplitude=0.5), tones.silence(0.5)])
    assert abs(detect.rms_dbfs(tones.sine(500, 1.0, amplitude=1.0)) - (-3.01)) < 0.1
    assert detect.active_seconds(x, 8000) == pytest.approx(1.0, abs=0.021)
    assert detect.tone_seconds(x, 8000, 500) == pytest.approx(1.0, abs=0.11)
    assert detect.tone_seconds(x, 8000, 700) == 0.0


def test_goertzel_separates_frequencies() -> None:
    p = detect.goertzel_power(tones.sine(697, 0.05, amplitude=1.0), 8000, [697, 770, 1209])
    assert p[0] == pytest.approx(0.25, rel=0.05)
    assert p[1] < p[0] / 20 and p[2] < p[0] / 100


def test_detect_dtmf_all_digits_through_ulaw() -> None:
    digits = "0123456789*#ABCD"
    x = g711.ulaw_decode(g711.ulaw_encode(tones.dtmf_sequence(digits, 0.08, 0.06)))
    assert detect.detect_dtmf(x) == digits


def test_detect_dtmf_repeated_digit_needs_gap_and_ignores_tones() -> None:
    assert detect.detect_dtmf(tones.dtmf_sequence("55", 0.1, 0.1)) == "55"
    assert detect.detect_dtmf(tones.dtmf_tone("5", 0.5)) == "5"
    assert detect.detect_dtmf(tones.sine(697, 1.0)) == ""
    assert detect.detect_dtmf(tones.tone_sequence([((697.0, 900.0), 0.5)])) == ""
    noise = np.random.default_rng(3).normal(0, 4000, 16000).astype(np.int16)
    assert detect.detect_dtmf(noise) == ""


def test_frames() -> None:
    x = tones.sine(440, 0.05)  # 400 samples → 3 frames of 160, last padded
    pcm = tones.pcm_frames(x)
    assert [len(f) for f in pcm] == [320, 320, 320]
    g = tones.g711_frames(x, g711.PT_PCMA)
    assert [len(f) for f in g] == [160, 160, 160]
    assert g[-1][-1] == 0xD5
    assert len(tones.tone_frames(1000, 1.0)) == 50
    with pytest.raises(ValueError):
        tones.dtmf_tone("X")


def test_wav_roundtrip_formats(tmp_path: Path) -> None:
    x = tones.sine(440, 0.25, 8000)
    for enc in ("pcm16", "ulaw", "alaw"):
        p = wav.write_wav(tmp_path / f"{enc}.wav", x, 8000, encoding=enc)
        y, rate = wav.read_wav(p)
        assert rate == 8000 and len(y) == len(x)
        assert np.max(np.abs(y.astype(int) - x.astype(int))) <= (0 if enc == "pcm16" else 1100)
    info = wav.read_wav_info(tmp_path / "ulaw.wav")
    assert (info.format_tag, info.bits, info.channels) == (7, 8, 1)


def test_wav_stereo_is_mixed_to_mono_and_48k_tone(tmp_path: Path) -> None:
    left = tones.sine(440, 0.1, 48000)
    stereo = np.stack([left, left], axis=1)
    y, rate = wav.read_wav(wav.write_wav(tmp_path / "s.wav", stereo, 48000))
    assert rate == 48000 and np.array_equal(y, left)
    p = wav.write_tone_wav(tmp_path / "chromium.wav", 880, 2.0, rate=48000)
    info = wav.read_wav_info(p)
    assert (info.rate, info.channels, info.bits, info.frames) == (48000, 1, 16, 96000)
    z, _ = wav.read_wav(p)
    assert abs(detect.dominant_frequency(z, 48000) - 880) < 1


def test_wav_header_fields(tmp_path: Path) -> None:
    data = (tmp_path / "h.wav")
    wav.write_wav(data, np.zeros(3, np.int16), 8000)
    raw = data.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:16] == b"WAVEfmt "
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    assert struct.unpack_from("<HHIIHH", raw, 20) == (1, 1, 8000, 16000, 2, 16)


def test_wav_reader_rejects_garbage(tmp_path: Path) -> None:
    with pytest.raises(wav.WavError):
        wav.decode_wav_bytes(b"not a wav at all")
    with pytest.raises(wav.WavError):
        wav.decode_wav_bytes(b"RIFF\x04\x00\x00\x00WAVE")


def test_raw_g711_for_sipp(tmp_path: Path) -> None:
    p = wav.write_raw_g711(tmp_path / "t.pcmu", tones.sine(440, 1.0), g711.PT_PCMU)
    assert p.stat().st_size == 8000
    assert abs(detect.dominant_frequency(g711.ulaw_decode(p.read_bytes()), 8000) - 440) < 1


def test_prompts(tmp_path: Path) -> None:
    beep = prompts.prompt("beep")
    assert abs(detect.dominant_frequency(beep, 8000) - 1000) < 2
    p = prompts.write_prompt(tmp_path / "greeting.wav", "voicemail_greeting")
    y, rate = wav.read_wav(p)
    assert rate == 8000
    assert detect.tone_seconds(y[-2000:], 8000, 1000, window_s=0.05) >= 0.2
    assert len(prompts.prompt("busy", repeat=3)) == 3 * 8000
    with pytest.raises(ValueError, match="unknown prompt"):
        prompts.prompt("nope")
