"""Simplified ITU-T G.107 E-model: transmission rating R and estimated MOS for a voice path.

Used by the load tester's sizing report and by the call-quality figures the PBX stores with
each call's CDR (:mod:`webfon.rtp.quality`).

Only the terms a VoIP relay changes are modelled; everything else keeps G.107's defaults:

    R   = R0 - Is - Id - Ie_eff + A          with R0 - Is = 93.2 (G.107 defaults), A = 0
    Id  = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)      d = one-way mouth-to-ear delay, ms
    Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)    Ppl = packet loss, %
    MOS = 1                                        if R <= 0
        = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)   if 0 < R < 100 (at least 1)
        = 4.5                                      if R >= 100

``Id`` is the usual linear approximation of G.107's delay impairment (Cole and Rosenbluth,
2001); H is the step function. Codec figures come from ITU-T G.113 Appendix I: G.711 has
Ie = 0 and a packet-loss robustness Bpl = 4.3 without packet-loss concealment, 25.1 with it.
BurstR = 1 means random (not bursty) loss.
"""

from __future__ import annotations

from dataclasses import dataclass

R_DEFAULT = 93.2  # R0 - Is with every G.107 default


@dataclass(frozen=True)
class Codec:
    name: str
    ie: float  # equipment impairment factor
    bpl: float  # packet-loss robustness factor
    frame_ms: float  # packetisation (and algorithmic) delay added to the path


G711 = Codec("G.711", ie=0.0, bpl=4.3, frame_ms=20.0)
G711_PLC = Codec("G.711+PLC", ie=0.0, bpl=25.1, frame_ms=20.0)
CODECS = {"g711": G711, "g711-plc": G711_PLC}
_BY_SDP_NAME = {"PCMA": G711, "PCMU": G711, "OPUS": G711_PLC}
"""Codecs by their SDP encoding name. G.113 gives Opus no narrowband figures: it is rated as
G.711 with packet-loss concealment (Opus conceals loss too), so a loss costs it less."""


def codec_for(name: str | None) -> Codec:
    """The E-model figures for an SDP encoding name (G.711 for anything unknown)."""
    return _BY_SDP_NAME.get((name or "").upper(), G711)


def delay_impairment(one_way_ms: float) -> float:
    """Id for a one-way mouth-to-ear delay in milliseconds."""
    d = max(0.0, one_way_ms)
    return 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)


def effective_equipment_impairment(codec: Codec, loss_pct: float, burst_r: float = 1.0) -> float:
    """Ie_eff for a packet loss in percent (0..100)."""
    ppl = min(100.0, max(0.0, loss_pct))
    if ppl == 0.0:
        return codec.ie
    return codec.ie + (95.0 - codec.ie) * ppl / (ppl / burst_r + codec.bpl)


def r_factor(codec: Codec, loss_pct: float, one_way_ms: float, burst_r: float = 1.0,
             advantage: float = 0.0) -> float:
    return (R_DEFAULT - delay_impairment(one_way_ms)
            - effective_equipment_impairment(codec, loss_pct, burst_r) + advantage)


def mos_from_r(r: float) -> float:
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    # the polynomial dips just below 1 for R under about 6.5: MOS is 1 at worst
    return max(1.0, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))


def one_way_from_round_trip(loss_rt_pct: float, rtt_ms: float) -> tuple[float, float]:
    """Per-direction loss (%) and delay (ms) from a loop that crossed the relay twice.

    Independent loss on the two halves: (1 - L_rt) = (1 - L)^2."""
    frac = min(1.0, max(0.0, loss_rt_pct / 100.0))
    return 100.0 * (1.0 - (1.0 - frac) ** 0.5), max(0.0, rtt_ms) / 2.0


def estimate_mos(loss_pct: float, network_one_way_ms: float, jitter_buffer_ms: float = 40.0,
                 codec: Codec = G711) -> tuple[float, float, float]:
    """(R, MOS, mouth-to-ear delay) for a one-way network loss and delay.

    Mouth-to-ear delay = network one-way + codec frame + jitter buffer."""
    mouth_to_ear = network_one_way_ms + codec.frame_ms + jitter_buffer_ms
    r = r_factor(codec, loss_pct, mouth_to_ear)
    return r, mos_from_r(r), mouth_to_ear
