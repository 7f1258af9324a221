"""Opus (browser, 48 kHz) <-> G.711 (SIP, 8 kHz) for browsers that refuse G.711.

Only used as a fallback: normally both legs agree on G.711 and payloads are relayed untouched.
Decoding and encoding use aiortc's codec wrappers (libopus through PyAV) and webfon's G.711.
"""

from __future__ import annotations

import fractions
import random

import numpy as np
from aiortc.codecs.opus import OpusDecoder, OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from av import AudioFrame, AudioResampler

from webfon.rtp import g711
from webfon.rtp.packet import HEADER_SIZE, build_header, peek_header

G711_FRAME = 160  # 20 ms at 8 kHz


def _payload(data: bytes) -> bytes:
    start = HEADER_SIZE + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
    end = len(data) - (data[-1] if data[0] & 0x20 else 0)
    return data[start:end]


class OpusG711Transcoder:
    def __init__(self, sip_pt: int, opus_pt: int) -> None:
        self.sip_pt = sip_pt
        self.opus_pt = opus_pt
        self.decoder = OpusDecoder()
        self.encoder = OpusEncoder()
        self.down = AudioResampler(format="s16", layout="mono", rate=8000)
        self.pending = np.zeros(0, dtype=np.int16)
        self.sip_seq = random.randrange(65536)
        self.sip_ts = random.randrange(2**32)
        self.web_seq = random.randrange(65536)
        self.web_ts = random.randrange(2**32)
        self.pts_in = 0

    def to_sip(self, data: bytes) -> list[bytes]:
        """One Opus RTP packet from the browser -> zero or more G.711 packets."""
        _, _, _, ts, _ = peek_header(data)
        frames = self.decoder.decode(JitterFrame(_payload(data), ts))
        chunks = [self.pending]
        for frame in frames:
            for mono in self.down.resample(frame):
                chunks.append(mono.to_ndarray().reshape(-1).astype(np.int16))
        samples = np.concatenate(chunks)
        out = []
        while len(samples) >= G711_FRAME:
            chunk, samples = samples[:G711_FRAME], samples[G711_FRAME:]
            out.append(build_header(self.sip_pt, self.sip_seq, self.sip_ts, 0)
                       + g711.encode(chunk, self.sip_pt))
            self.sip_seq = (self.sip_seq + 1) & 0xFFFF
            self.sip_ts = (self.sip_ts + G711_FRAME) & 0xFFFFFFFF
        self.pending = samples
        return out

    def to_webrtc(self, data: bytes) -> list[bytes]:
        """One G.711 RTP packet from the SIP side -> zero or more Opus packets."""
        pt = data[1] & 0x7F
        samples = np.asarray(g711.decode(_payload(data), pt), dtype=np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        frame.pts = self.pts_in
        frame.time_base = fractions.Fraction(1, 8000)
        self.pts_in += len(samples)
        payloads, _ = self.encoder.encode(frame)
        out = []
        for payload in payloads:
            out.append(build_header(self.opus_pt, self.web_seq, self.web_ts, 0) + payload)
            self.web_seq = (self.web_seq + 1) & 0xFFFF
            self.web_ts = (self.web_ts + 960) & 0xFFFFFFFF
        return out
