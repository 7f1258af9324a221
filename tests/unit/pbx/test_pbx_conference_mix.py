"""The conference mix and its jitter buffers, without sockets."""

from __future__ import annotations

import numpy as np

from pbx.conference.jitter import FRAME, PREFILL, JitterBuffer, payload_bounds
from pbx.conference.mixer import Mixer
from webfon.rtp import g711
from webfon.rtp.detect import tone_levels
from webfon.rtp.packet import build_header
from webfon.rtp.tones import sine


def packet(samples: np.ndarray, ts: int, *, pt: int = g711.PT_PCMA, ssrc: int = 7,
           seq: int = 0) -> bytes:
    return build_header(pt, seq, ts & 0xFFFFFFFF, ssrc) + g711.encode(samples, pt)


def frames_of(buffer: JitterBuffer, count: int) -> np.ndarray:
    out = np.zeros((count, FRAME), dtype=np.int32)
    for i in range(count):
        buffer.read(out[i])
    return out


def test_frames_come_out_in_timestamp_order_after_the_prefill() -> None:
    tone = sine(440, 0.12)
    buf = JitterBuffer()
    chunks = [tone[i:i + FRAME] for i in range(0, len(tone), FRAME)]
    order = [0, 2, 1, 3, 5, 4]  # reordered in pairs
    for i in order:
        buf.put(packet(chunks[i], 1000 + i * FRAME), g711.PT_PCMA)
    out = frames_of(buf, PREFILL + len(chunks))
    played = out[PREFILL:].reshape(-1)
    expected = g711.alaw_decode(g711.alaw_encode(tone))
    assert np.array_equal(played, expected)
    assert not out[:PREFILL].any()


def test_a_lost_packet_is_silence_and_a_late_one_is_dropped() -> None:
    tone = sine(440, 0.1)
    buf = JitterBuffer()
    chunks = [tone[i:i + FRAME] for i in range(0, len(tone), FRAME)]
    for i in (0, 1, 3, 4):
        buf.put(packet(chunks[i], i * FRAME), g711.PT_PCMA)
    out = frames_of(buf, PREFILL + 5)
    assert out[PREFILL + 1].any() and not out[PREFILL + 2].any() and out[PREFILL + 3].any()
    buf.put(packet(chunks[2], 2 * FRAME), g711.PT_PCMA)  # far too late now
    assert buf.dropped_late == 1


def test_any_packet_size_and_the_timestamp_wrap() -> None:
    tone = sine(700, 0.12)
    buf = JitterBuffer()
    start = 0xFFFFFFFF - 200  # wraps inside the second packet
    for i in range(0, len(tone), 240):  # 30 ms packets
        buf.put(packet(tone[i:i + 240], start + i, pt=g711.PT_PCMU), g711.PT_PCMU)
    out = frames_of(buf, PREFILL + len(tone) // FRAME)
    played = out[PREFILL:].reshape(-1)
    assert np.array_equal(played, g711.ulaw_decode(g711.ulaw_encode(tone))[:len(played)])


def test_a_sender_behind_our_clock_or_on_a_new_ssrc_starts_again() -> None:
    buf = JitterBuffer()
    tone = sine(440, 0.02)
    buf.put(packet(tone, 0), g711.PT_PCMA)
    frames_of(buf, 10)  # our clock ran 200 ms; the sender sent 20 ms
    buf.put(packet(tone, FRAME), g711.PT_PCMA)  # newest ever, behind the read position
    assert buf.resyncs == 1 and buf.waiting == FRAME * (PREFILL + 1)
    buf.put(packet(tone, 5_000_000, ssrc=9), g711.PT_PCMA)
    assert buf.resyncs == 2
    out = frames_of(buf, PREFILL + 1)
    assert out[PREFILL].any()


def test_a_fast_sender_loses_a_frame_past_the_high_water_mark() -> None:
    buf = JitterBuffer()
    tone = sine(440, 0.02)
    for i in range(12):  # 240 ms arrive at once
        buf.put(packet(tone, i * FRAME, seq=i), g711.PT_PCMA)
    frames_of(buf, 1)
    assert buf.skipped == 1


def test_telephone_events_and_malformed_packets_are_not_audio() -> None:
    buf = JitterBuffer()
    buf.put(build_header(101, 0, 0, 7) + b"\x01\x0a\x00\xa0", 101)
    buf.put(b"\x80\x08", g711.PT_PCMA)
    assert not buf.anchored
    # a header extension longer than the packet
    assert payload_bounds(b"\x90\x08" + bytes(10) + b"\x00\x00\x00\x09") == (0, 0)


def test_each_hears_the_others_never_itself() -> None:
    mixer = Mixer(capacity=1)
    mixer.resize(3)
    freqs = [440.0, 700.0, 1050.0]
    laws = [g711.PT_PCMA, g711.PT_PCMU, g711.PT_PCMA]
    for i, pt in enumerate(laws):
        mixer.set_payload_type(i, pt)
    signals = [sine(f, 0.4, amplitude=0.3) for f in freqs]
    heard: list[list[np.ndarray]] = [[], [], []]
    for start in range(0, len(signals[0]), FRAME):
        for i, s in enumerate(signals):
            mixer.frames[i] = s[start:start + FRAME]
        encoded = mixer.mix(3)
        for i, pt in enumerate(laws):
            heard[i].append(g711.decode(encoded[i].tobytes(), pt))
    for i, own in enumerate(freqs):
        levels = tone_levels(np.concatenate(heard[i]), 8000, freqs)
        others = [lv for j, lv in enumerate(levels) if j != i]
        assert min(others) > -20, levels
        assert levels[i] < -45, (own, levels)


def test_a_loud_room_clips_instead_of_wrapping_and_beeps_reach_everyone() -> None:
    mixer = Mixer()
    mixer.resize(3)
    for i in range(3):
        mixer.set_payload_type(i, g711.PT_PCMU)
    mixer.frames[:3] = 30_000
    beep = np.full(FRAME, 1000, dtype=np.int16)
    out = g711.ulaw_decode(mixer.mix(3, beep)[0].tobytes())
    assert out.min() > 30_000  # 61 000 saturates at full scale, it does not wrap negative
    mixer.frames[:3] = 0
    out = g711.ulaw_decode(mixer.mix(3, beep)[2].tobytes())
    assert abs(int(out.mean()) - 1000) < 40
