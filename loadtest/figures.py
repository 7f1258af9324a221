"""The figures of one ramp step, from the window counters of every worker and the server's CPU
and memory over the same window (pure functions: everything they need is passed in).

Calls: loss, late packets (echoes later than the assumed jitter buffer), round trip, jitter,
MOS by the E-model, setup time, bandwidth of each leg per call (IP level: 28 bytes of IPv4/UDP
header per datagram), server CPU per call, and whether the generators kept pace. Idle users:
users connected, registrations refreshed on time (from the registrar), server and generator
memory per user.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest.histogram import Histogram
from webfon.rtp.emodel import CODECS, estimate_mos, one_way_from_round_trip

IP_UDP = 28
NOMINAL_PPS = 50
MIN_PPS_RATIO = 0.9  # below this a generator fell behind: the step is not valid
GENERATOR_LIMIT_PCT = 95.0  # a worker using this much of a core measures itself


@dataclass(frozen=True)
class Limits:
    max_loss_pct: float = 1.0
    cpu_limit_pct: float = 90.0  # of one core per server process (x cores for threaded ones)
    server_cores: int = 1
    jitter_buffer_ms: float = 40.0
    codec: str = "g711"


def _pct(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))]


def _rate_kbit(byte_count: float, packets: float, seconds: float, calls: int) -> float:
    if seconds <= 0 or calls <= 0:
        return math.nan
    return (byte_count + IP_UDP * packets) * 8 / seconds / calls / 1000.0


def _r(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def merge_windows(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum the workers' window counters; keep the per-worker generator figures as lists."""
    merged: dict[str, Any] = {"workers": len(windows), "rtt": Histogram(), "setups": [],
                              "generator_cpu_pct": [], "generator_rss_mb": [],
                              "generator_open_files": [], "first_failure": ""}
    summed = ("calls", "connected", "sent", "received", "jitter_sum", "tx_bytes", "tx_packets",
              "rx_bytes", "rx_packets", "rtp_bytes", "rtp_packets", "setup_failures", "phones",
              "phones_alive", "phone_failures", "keepalive_failures")
    for key in summed:
        merged[key] = 0
    merged["window_s"] = 0.0
    for w in windows:
        for key in summed:
            merged[key] += w.get(key, 0) or 0
        merged["rtt"].merge(Histogram.from_dict(w.get("rtt") or {}))
        merged["setups"].extend(w.get("setups") or [])
        for key in ("generator_cpu_pct", "generator_rss_mb", "generator_open_files"):
            merged[key].append(w.get(key, 0))
        merged["window_s"] = max(merged["window_s"], float(w.get("window_s", 0.0)))
        merged["first_failure"] = merged["first_failure"] or w.get("first_failure", "")
    return merged


def call_step(merged: Mapping[str, Any], server: Mapping[str, Any], limits: Limits
              ) -> dict[str, Any]:
    """Figures of a calls step. ``server``: ``cpu_pct`` and ``rss_mb`` over the window (either
    may be missing for a remote server without an agent)."""
    n = int(merged["calls"])
    window = float(merged["window_s"])
    sent, received = int(merged["sent"]), int(merged["received"])
    rtt: Histogram = merged["rtt"]
    loss = 100 * max(0, sent - received) / sent if sent else math.nan
    rtt_p50 = rtt.percentile(50) * 1000
    # a packet is late for the receiver's jitter buffer when its delay exceeds the fastest
    # one's by more than the buffer; half the round-trip variation is one direction's
    late = rtt.count_above(rtt.minimum + 2 * limits.jitter_buffer_ms / 1000) if sent else 0
    late_pct = 100 * late / sent if sent else 0.0
    effective = min(100.0, loss + late_pct) if sent else math.nan
    basis = "loss, late packets and delay"
    if sent and math.isfinite(rtt_p50):
        loss_1w, delay_1w = one_way_from_round_trip(effective, rtt_p50)
        r, mos, m2e = estimate_mos(loss_1w, delay_1w, limits.jitter_buffer_ms,
                                   CODECS[limits.codec])
    elif sent:  # transcoded media: no send time comes back, only the packets
        loss_1w, _ = one_way_from_round_trip(effective, 0.0)
        delay_1w = math.nan
        r, mos, m2e = estimate_mos(loss_1w, 0.0, limits.jitter_buffer_ms, CODECS[limits.codec])
        basis = "loss only (transcoded: no round trip measured)"
    else:
        loss_1w = delay_1w = r = mos = m2e = math.nan
    setups = sorted(merged.get("setups") or [])
    pps = sent / window / n if n and window > 0 else 0.0
    webrtc_tx = _rate_kbit(merged["tx_bytes"], merged["tx_packets"], window, n)
    webrtc_rx = _rate_kbit(merged["rx_bytes"], merged["rx_packets"], window, n)
    sip = _rate_kbit(merged["rtp_bytes"], merged["rtp_packets"], window, n)
    cpu = server.get("cpu_pct")
    gen_cpu = list(merged.get("generator_cpu_pct") or [])
    step: dict[str, Any] = {
        "established": n, "connected": int(merged.get("connected", n)),
        "setup_ms_p50": _r(_pct(setups, 50) * 1000, 1),
        "setup_ms_p95": _r(_pct(setups, 95) * 1000, 1),
        "setup_failures_step": int(merged.get("setup_failures_step", 0)),
        "loss_pct": _r(loss, 3), "late_pct": round(late_pct, 3),
        "effective_loss_pct": _r(effective, 3), "loss_pct_one_way": _r(loss_1w, 3),
        "rtt_ms_p50": _r(rtt_p50, 2), "rtt_ms_p99": _r(rtt.percentile(99) * 1000, 2),
        "delay_ms_one_way": _r(delay_1w, 2),
        "jitter_ms_mean": _r(merged["jitter_sum"] / n * 1000, 3) if n else None,
        "r_factor": _r(r, 1), "mos": _r(mos, 2), "mouth_to_ear_ms": _r(m2e, 1),
        "mos_basis": basis,
        "cpu_pct": _r(cpu, 1) if isinstance(cpu, int | float) else None,
        "cpu_pct_per_call": _r(cpu / n, 3) if isinstance(cpu, int | float) and n else None,
        "rss_mb": _r(server["rss_mb"], 1) if isinstance(server.get("rss_mb"),
                                                        int | float) else None,
        "webrtc_kbit_tx_per_call": _r(webrtc_tx, 1), "webrtc_kbit_rx_per_call": _r(webrtc_rx, 1),
        "webrtc_kbit_per_call": _r((webrtc_tx + webrtc_rx) / 2, 1),
        "sip_kbit_per_call": _r(sip, 1),
        "sent_pps_per_call": round(pps, 1),
        "workers": merged.get("workers", 1),
        "generator_cpu_pct": [round(c, 1) for c in gen_cpu],
        "generator_cpu_pct_max": round(max(gen_cpu), 1) if gen_cpu else None,
        "generator_rss_mb": [round(m, 1) for m in merged.get("generator_rss_mb") or []],
        # the per-call model only uses steps where every call really sent its 50 packets/s
        "valid": bool(n) and pps >= NOMINAL_PPS * MIN_PPS_RATIO
        and (max(gen_cpu) if gen_cpu else 0) < GENERATOR_LIMIT_PCT,
    }
    step["over_limit"] = step["loss_pct"] is not None and step["loss_pct"] > limits.max_loss_pct
    if merged.get("first_failure"):
        step["first_failure"] = merged["first_failure"]
    return step


def stop_reason(step: Mapping[str, Any], limits: Limits) -> str | None:
    """Why the calls ramp stops after this step (None: go on)."""
    if step.get("valid") is False:
        return (f"load generator fell behind ({step.get('sent_pps_per_call')} packets/s per "
                f"call instead of {NOMINAL_PPS}, worker CPU {step.get('generator_cpu_pct')} %); "
                "this step is left out of the model: add workers or machines")
    loss = step.get("loss_pct")
    if loss is not None and loss > limits.max_loss_pct:
        return f"loss {loss}% > {limits.max_loss_pct}%"
    limit = limits.cpu_limit_pct * max(1, limits.server_cores)
    cpu = step.get("cpu_pct")
    if cpu is not None and cpu >= limit:
        return f"server CPU {cpu}% >= {limit:g}% of a core"
    if step.get("setup_failures_step"):
        return f"{step['setup_failures_step']} call setups failed"
    return None


def user_step(merged: Mapping[str, Any], server: Mapping[str, Any],
              registrar: Mapping[str, Any] | None) -> dict[str, Any]:
    """Figures of an idle-users step."""
    users = int(merged["phones"])
    gen_rss = sum(merged.get("generator_rss_mb") or [])
    setups = sorted(merged.get("setups") or [])
    cpu = server.get("cpu_pct")
    rss = server.get("rss_mb")
    step: dict[str, Any] = {
        "users": users, "users_alive": int(merged.get("phones_alive", users)),
        "failures": int(merged.get("failures_step", 0)),
        "keepalive_failures": int(merged.get("keepalive_failures", 0)),
        "connect_ms_p50": _r(_pct(setups, 50) * 1000, 1),
        "connect_ms_p95": _r(_pct(setups, 95) * 1000, 1),
        "cpu_pct": _r(cpu, 2) if isinstance(cpu, int | float) else None,
        "rss_mb": _r(rss, 1) if isinstance(rss, int | float) else None,
        "generator_rss_mb": round(gen_rss, 1),
        "generator_open_files": sum(merged.get("generator_open_files") or []),
        "generator_cpu_pct": [round(c, 1) for c in merged.get("generator_cpu_pct") or []],
    }
    if registrar is not None:
        step["registrar"] = dict(registrar)
    if merged.get("first_failure"):
        step["first_failure"] = merged["first_failure"]
    return step


def per_user_memory(steps: Sequence[Mapping[str, Any]], key: str) -> float | None:
    """KiB per user of ``key`` (server or generator RSS), from the first and last step."""
    pts = [(s["users"], s[key]) for s in steps
           if isinstance(s.get(key), int | float) and isinstance(s.get("users"), int)]
    if len(pts) < 2 or pts[-1][0] == pts[0][0]:
        return None
    return (pts[-1][1] - pts[0][1]) * 1024 / (pts[-1][0] - pts[0][0])


def mean(values: Sequence[float]) -> float:
    vals = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return statistics.fmean(vals) if vals else math.nan
