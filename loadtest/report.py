"""Turns sizing measurements into the printed report and the JSON document."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtest import capacity
from loadtest.capacity import CallModel, UserModel
from webfon.rtp.emodel import CODECS, estimate_mos, one_way_from_round_trip

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
            cores = calls.get("server_cores")
            single = ("janus" not in str(calls.get("target", "")).lower() if cores is None
                      else cores <= 1)
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


# --- the whole run: JSON, plots, HTML -------------------------------------------------------

def plan_targets(doc: dict[str, Any], plan: Sequence[int], plan_users: Sequence[int],
                 headroom: float, base_cores: float, jitter_buffer_ms: float,
                 codec: str) -> str:
    """Fill each target's model and sizing; returns the text report of every target."""
    doc["planning"] = {"plan": list(plan), "plan_users": list(plan_users), "headroom": headroom,
                       "base_cores": base_cores, "jitter_buffer_ms": jitter_buffer_ms,
                       "codec": codec}
    parts = []
    for target in doc.get("targets") or []:
        if target.get("calls"):
            fill_mos(target["calls"]["steps"], jitter_buffer_ms, codec)
        sub = {k: target[k] for k in ("calls", "users") if target.get(k)}
        text = build_report(sub, plan, plan_users, headroom, base_cores)
        target["model"], target["sizing"] = sub.get("model", {}), sub.get("sizing", {})
        users = target.get("users")
        if users and users.get("steps"):
            target["users_summary"] = users_summary(users["steps"])
        parts.append(f"# {target.get('name')}\n{text}")
    return "\n".join(parts)


def users_summary(steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Memory per user (server, generators) and whether every registration was refreshed."""
    from loadtest.figures import per_user_memory

    last = steps[-1]
    reg = last.get("registrar") or {}
    return {"max_users": max(int(s.get("users", 0)) for s in steps),
            "server_kib_per_user": _round(per_user_memory(steps, "rss_mb"), 1),
            "generator_kib_per_user": _round(per_user_memory(steps, "generator_rss_mb"), 1),
            "registrations_lapsed": reg.get("lapsed"),
            "late_refreshes": reg.get("late_refreshes"),
            "refreshes": reg.get("refreshes"),
            "all_refreshed_in_time": (reg.get("lapsed") == 0 and reg.get("late_refreshes") == 0
                                      and (reg.get("refreshes") or 0) >= reg.get("bindings", 1))
            if reg else None}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def write_report(doc: dict[str, Any], out: Path, plan: Sequence[int],
                 plan_users: Sequence[int], headroom: float, base_cores: float,
                 jitter_buffer_ms: float, codec: str) -> Path:
    """report.json, the plots and report.html in ``out``; returns the HTML's path."""
    import json

    from loadtest.html_report import render_html
    from loadtest.plot import write_plots

    out.mkdir(parents=True, exist_ok=True)
    text = plan_targets(doc, plan, plan_users, headroom, base_cores, jitter_buffer_ms, codec)
    (out / "report.txt").write_text(text + "\n")
    plots = write_plots(doc, out)
    doc["plots"] = [{"title": t, "file": p.name} for t, p in plots]
    (out / "report.json").write_text(json.dumps(clean(doc), indent=1) + "\n")
    html = out / "report.html"
    html.write_text(render_html(doc, plots))
    return html


def clean(value: Any) -> Any:
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
