"""Turns sizing measurements into the printed report and the JSON document."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from loadtest import capacity
from loadtest.capacity import CallModel, UserModel
from loadtest.emodel import CODECS, estimate_mos, one_way_from_round_trip

STEP_HEADERS = ("calls", "CPU %", "%/call", "RSS MB", "setup p50 ms", "setup p95 ms", "loss %",
                "late %", "jitter ms", "RTT p50 ms", "RTT p99 ms", "MOS", "WebRTC kbit/s",
                "SIP kbit/s")


def _num(step: Mapping[str, Any], key: str) -> float:
    value = step.get(key)
    return float(value) if isinstance(value, int | float) else math.nan


def fill_mos(steps: Sequence[dict[str, Any]], jitter_buffer_ms: float, codec: str) -> None:
    """Add R and MOS to steps that have loss and RTT but no MOS (e.g. gateway_bench lines)."""
    for step in steps:
        if "mos" in step or step.get("loss_pct") is None or step.get("rtt_ms_p50") is None:
            continue
        # saved benchmark lines carry no per-packet delays: late packets cannot be counted
        loss, delay = one_way_from_round_trip(float(step["loss_pct"]), float(step["rtt_ms_p50"]))
        r, mos, m2e = estimate_mos(loss, delay, jitter_buffer_ms, CODECS[codec])
        step.update({"loss_pct_one_way": round(loss, 3), "delay_ms_one_way": round(delay, 2),
                     "r_factor": round(r, 1), "mos": round(mos, 2),
                     "mouth_to_ear_ms": round(m2e, 1)})


def steps_table(steps: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for s in steps:
        n = int(s.get("established", s.get("calls", 0)) or 0)
        if n == 0:
            continue
        label = f"{n}*" if s.get("valid") is False else f"{n}!" if s.get("over_limit") else n
        rows.append([label, _num(s, "cpu_pct"), _num(s, "cpu_pct") / n, _num(s, "rss_mb"),
                     _num(s, "setup_ms_p50"), _num(s, "setup_ms_p95"), _num(s, "loss_pct"),
                     _num(s, "late_pct"),
                     _num(s, "jitter_ms_mean"), _num(s, "rtt_ms_p50"), _num(s, "rtt_ms_p99"),
                     _num(s, "mos"), _num(s, "webrtc_kbit_per_call"),
                     _num(s, "sip_kbit_per_call")])
    return capacity.render_table(STEP_HEADERS, rows)


def call_summary(model: CallModel, target: str, behind: int = 0, over: int = 0) -> str:
    per_core = 100.0 / model.cpu_pct_per_call if model.cpu_pct_per_call > 0 else math.inf
    notes = ([f"{behind} step(s) * left out: load generator behind"] if behind else []) + (
        [f"{over} step(s) ! left out: loss over the limit"] if over else [])
    note = "".join(f"; {n}" for n in notes)
    return "\n".join([
        f"{target}, fitted over {model.steps_used} ramp points (idle included, up to "
        f"{model.max_calls_measured} calls{note}):",
        f"  CPU     {model.cpu_pct_per_call:.3f} % of a core per call (base "
        f"{model.base_cpu_pct:.1f} %, R^2 {model.cpu_r2:.2f}) -> {per_core:.0f} calls per "
        f"fully busy core; the seed's formula allows 33 per core",
        f"  memory  {model.rss_mb_per_call * 1024:.0f} KiB per call (base "
        f"{model.base_rss_mb:.0f} MB, R^2 {model.rss_r2:.2f})",
        f"  network WebRTC leg {model.webrtc_kbit_per_call:.1f} kbit/s and SIP leg "
        f"{model.sip_kbit_per_call:.1f} kbit/s per call, each way (IP level); the seed "
        f"assumes {capacity.SEED_MBIT_PER_CALL * 1000:.0f} kbit/s per call"])


def user_summary(model: UserModel) -> str:
    at_limit = model.base_rss_mb + capacity.SEED_USERS_PER_MACHINE * model.rss_mb_per_user
    return "\n".join([
        f"connected users (idle session + registered SIP handle), up to "
        f"{model.max_users_measured} measured:",
        f"  memory  {model.rss_mb_per_user * 1024:.1f} KiB per user (base "
        f"{model.base_rss_mb:.0f} MB, R^2 {model.rss_r2:.2f}); the seed's "
        f"{capacity.SEED_USERS_PER_MACHINE} users per machine -> {at_limit:.0f} MB of gateway",
        f"  CPU     {model.cpu_pct_per_user * 1000:.2f} % of a core per 1000 idle users "
        f"(keepalives and re-registrations)"])


def build_report(doc: dict[str, Any], targets: Sequence[int], user_targets: Sequence[int],
                 headroom: float, base_cores: float) -> str:
    """Fills doc["model"] and doc["sizing"] and returns the text report."""
    parts: list[str] = []
    doc.setdefault("model", {})
    doc.setdefault("sizing", {})
    calls = doc.get("calls")
    if calls and calls.get("steps"):
        try:
            model = capacity.call_model(calls["steps"])
        except ValueError as exc:
            parts.append(f"calls: no model ({exc})")
        else:
            single = "janus" not in str(calls.get("target", "")).lower()
            rows = [capacity.sizing_row(t, model, headroom, base_cores, single) for t in targets]
            doc["model"]["calls"] = asdict(model)
            doc["sizing"]["calls"] = [asdict(r) for r in rows]
            parts += ["## Measured steps", steps_table(calls["steps"]),
                      f"(ramp ended: {calls.get('stopped', 'n/a')})", "",
                      "## Per-call model",
                      call_summary(model, calls.get("target", "gateway"),
                                   sum(1 for st in calls["steps"] if st.get("valid") is False),
                                   sum(1 for st in calls["steps"] if st.get("valid") is not False
                                       and st.get("over_limit"))),
                      "", f"## Sizing (headroom x{headroom:g}, base {base_cores:g} cores; "
                      "seed: cores = ((calls/100)*3)+2, 0.1 Mbit/s per call)",
                      capacity.call_table(rows), ""]
    users = doc.get("users")
    if users and users.get("steps"):
        try:
            umodel = capacity.user_model(users["steps"])
        except ValueError as exc:
            parts.append(f"users: no model ({exc})")
        else:
            urows = [capacity.user_row(t, umodel) for t in user_targets]
            doc["model"]["users"] = asdict(umodel)
            doc["sizing"]["users"] = [asdict(r) for r in urows]
            parts += ["## Connected users", user_summary(umodel), capacity.user_table(urows), ""]
    return "\n".join(parts)
