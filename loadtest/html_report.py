"""The load test's report as one self-contained HTML page (plots embedded as PNG data URIs):
the machine and command, what was assumed (headroom, base cores, jitter buffer, codec), for
each gateway the measured steps, the per-call and per-user model and the sizing table beside
the seed's formula, and the plots. Every value from the run is HTML-escaped."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtest import capacity

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em} .plots figure{margin:0}
.plots img{width:520px} .note{color:#555;font-size:.9em} .bad{color:#b00}
"""

CALL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("calls", "established"), ("CPU % core", "cpu_pct"), ("CPU %/call", "cpu_pct_per_call"),
    ("RSS MB", "rss_mb"), ("setup p50 ms", "setup_ms_p50"), ("setup p95 ms", "setup_ms_p95"),
    ("loss %", "loss_pct"), ("late %", "late_pct"), ("jitter ms", "jitter_ms_mean"),
    ("RTT p50 ms", "rtt_ms_p50"), ("RTT p99 ms", "rtt_ms_p99"), ("MOS", "mos"),
    ("WebRTC kbit/s", "webrtc_kbit_per_call"), ("SIP kbit/s", "sip_kbit_per_call"),
    ("workers' CPU %", "generator_cpu_pct"))
USER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("users", "users"), ("CPU % core", "cpu_pct"), ("RSS MB", "rss_mb"),
    ("connect p50 ms", "connect_ms_p50"), ("generators MB", "generator_rss_mb"),
    ("generators' files", "generator_open_files"), ("failed", "failures"))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 \
            else f"{value:.0f}"
    if isinstance(value, list):
        return " / ".join(_fmt(v) for v in value)
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _dl(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th class=l>{html.escape(k)}</th><td class=l>{html.escape(_fmt(v))}"
                   f"</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _locust(ramp: Mapping[str, Any]) -> str:
    """Locust's own statistics of the ramp's setups (over every step)."""
    stats = ramp.get("locust") or {}
    rows = [[name, v.get("count"), v.get("failures"), v.get("p50_ms"), v.get("p95_ms"),
             v.get("max_ms")] for name, v in stats.items() if isinstance(v, dict)]
    if not rows:
        return ""
    errors = "".join(f"<li>{html.escape(str(e.get('count')))} × "
                     f"{html.escape(str(e.get('error')))}</li>"
                     for e in stats.get("errors") or [])
    return ("<p class=note>Locust's statistics over the whole ramp:</p>"
            + _table(["request", "count", "failures", "p50 ms", "p95 ms", "max ms"], rows)
            + (f"<ul class=bad>{errors}</ul>" if errors else ""))


def _call_section(target: Mapping[str, Any]) -> str:
    calls = target.get("calls") or {}
    steps = [s for s in calls.get("steps", []) if s.get("established")]
    if not steps:
        return ""
    rows = []
    for s in steps:
        mark = "*" if s.get("valid") is False else "!" if s.get("over_limit") else ""
        rows.append([f"{s.get('established')}{mark}", *(s.get(k) for _, k in CALL_COLUMNS[1:])])
    parts = ["<h3>Calls ramp</h3>", _table([h for h, _ in CALL_COLUMNS], rows),
             f"<p class=note>Ramp ended: {html.escape(str(calls.get('stopped', '')))}. "
             "<code>*</code> a load generator fell behind, <code>!</code> loss over the limit: "
             "both left out of the model. Far end: "
             f"{html.escape(str(calls.get('echo', '')))}.</p>", _locust(calls)]
    model = (target.get("model") or {}).get("calls")
    if model:
        per_core = 100 / model["cpu_pct_per_call"] if model["cpu_pct_per_call"] > 0 else math.inf
        parts.append("<h3>Per-call model</h3>" + _dl([
            ("CPU per call, % of a core", model["cpu_pct_per_call"]),
            ("idle CPU, % of a core", model["base_cpu_pct"]),
            ("calls per fully busy core (seed: 33)", per_core),
            ("memory per call, KiB", model["rss_mb_per_call"] * 1024),
            ("base memory, MB", model["base_rss_mb"]),
            ("WebRTC leg, kbit/s per call each way", model["webrtc_kbit_per_call"]),
            ("SIP leg, kbit/s per call each way", model["sip_kbit_per_call"]),
            ("fitted over steps (idle included)", model["steps_used"])]))
    sizing = (target.get("sizing") or {}).get("calls")
    if sizing:
        rows = [[r["calls"], r["seed_cores"], r["measured_cores"], r["gateway_processes"],
                 r["gateway_rss_mb"], r["seed_mbit"], r["webrtc_mbit"], r["sip_mbit"]]
                for r in sizing]
        parts.append("<h3>Sizing: measured beside the seed's formula</h3>"
                     + _table(capacity.CALL_HEADERS, rows))
    return "".join(parts)


def _user_section(target: Mapping[str, Any]) -> str:
    users = target.get("users") or {}
    steps = users.get("steps") or []
    if not steps:
        return ""
    rows = []
    for s in steps:
        reg = s.get("registrar") or {}
        rows.append([*(s.get(k) for _, k in USER_COLUMNS), reg.get("active"), reg.get("lapsed"),
                     reg.get("refreshes"), reg.get("late_refreshes")])
    headers = [h for h, _ in USER_COLUMNS] + ["registered", "lapsed", "refreshes",
                                              "late refreshes"]
    parts = ["<h3>Idle-users ramp</h3>", _table(headers, rows),
             f"<p class=note>Ramp ended: {html.escape(str(users.get('stopped', '')))}. "
             f"The registrar granted {html.escape(_fmt(users.get('register_expires_s')))} s; "
             "the last step is held past that, so every phone had to refresh. A lapsed "
             "registration expired without a refresh.</p>", _locust(users)]
    summary = target.get("users_summary") or {}
    if summary:
        ok = summary.get("all_refreshed_in_time")
        parts.append(_dl([
            ("connected users, at most", summary.get("max_users")),
            ("server memory per user, KiB", summary.get("server_kib_per_user")),
            ("load generator memory per user, KiB", summary.get("generator_kib_per_user")),
            ("every registration refreshed in time", ok)]))
    sizing = (target.get("sizing") or {}).get("users")
    if sizing:
        rows = [[r["users"], r["within_seed_limit"], r["gateway_rss_mb"], r["cpu_pct"]]
                for r in sizing]
        parts.append(_table(capacity.USER_HEADERS, rows))
    return "".join(parts)


def render_html(doc: Mapping[str, Any], plots: Sequence[tuple[str, Path]]) -> str:
    machine = doc.get("machine") or {}
    planning = doc.get("planning") or {}
    workers = doc.get("workers") or {}
    parts = ["<!doctype html><html><head><meta charset=utf-8>",
             "<title>webfon load test</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>Gateway capacity: load test report</h1>",
             _dl([("date", machine.get("date")), ("command", doc.get("command")),
                  ("machine", f"{machine.get('cpus')} CPUs, {machine.get('cpu_model')}, "
                              f"{machine.get('memory_gb')} GB, kernel {machine.get('kernel')}"),
                  ("load average at start", machine.get("loadavg_1m_at_start")),
                  ("load workers", f"{workers.get('local', 0)} here + "
                                   f"{workers.get('remote', 0)} elsewhere (Locust)")]),
             "<h2>Assumptions</h2>",
             _dl([("headroom: cores planned at most 1/headroom busy", planning.get("headroom")),
                  ("base cores (OS, PBX, database, web: the seed's +2)",
                   planning.get("base_cores")),
                  ("jitter buffer for MOS and late packets, ms",
                   planning.get("jitter_buffer_ms")),
                  ("E-model codec", planning.get("codec")),
                  ("seed rules", "at most 1000 connected users per machine; "
                                 "cores = ((calls/100)*3)+2; 0.1 Mbit/s per call")])]
    for target in doc.get("targets") or []:
        parts.append(f"<h2>{html.escape(str(target.get('name')))}</h2>")
        parts.append(f"<p class=note>{html.escape(str(target.get('url', '')))}; server CPU "
                     f"and memory {html.escape(str(target.get('server_usage_from', '')))}.</p>")
        parts.append(_call_section(target))
        parts.append(_user_section(target))
    if plots:
        parts.append("<h2>Plots</h2><div class=plots>")
        for title, path in plots:
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<figure><img alt='{html.escape(title, quote=True)}' "
                         f"src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(title)}</figcaption></figure>")
        parts.append("</div>")
    parts.append("<p class=note>Method: docs/SIZING.md.</p></body></html>")
    return "\n".join(parts)
