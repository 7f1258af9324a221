"""The report's plots (PNG, matplotlib): each figure against load, one series per gateway.

Calls: server CPU (with the fitted line and the seed's 3 % of a core per call), CPU per call,
memory, loss (and packets late for the jitter buffer), jitter, MOS, setup time, bandwidth per
leg (with the seed's 0.1 Mbit/s). Idle users: server and generator memory, server CPU,
registrations that lapsed. Steps left out of the model are drawn as crosses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MARKERS = ("o", "s", "^", "D")


def _matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("the plots need matplotlib: pip install -e '.[loadtest]'") from exc
    return plt


def _call_steps(target: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in (target.get("calls") or {}).get("steps", [])
            if s.get("established", s.get("calls"))]


def _user_steps(target: dict[str, Any]) -> list[dict[str, Any]]:
    return list((target.get("users") or {}).get("steps", []))


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _series(ax: Any, steps: Sequence[dict[str, Any]], x: str, y: Callable[[dict[str, Any]],
            Any], label: str, marker: str, style: str = "-") -> None:
    pts = [(s.get(x), _num(y(s)), s.get("valid") is False or bool(s.get("over_limit")))
           for s in steps]
    kept = [(a, b) for a, b, out in pts if b is not None and not out]
    left = [(a, b) for a, b, out in pts if b is not None and out]
    if kept:
        ax.plot([a for a, _ in kept], [b for _, b in kept], marker=marker, linestyle=style,
                label=label)
    if left:
        ax.plot([a for a, _ in left], [b for _, b in left], "x", color="red",
                label=f"{label}: left out")


def _per_call(step: dict[str, Any]) -> float | None:
    cpu, n = _num(step.get("cpu_pct")), step.get("established", step.get("calls"))
    return cpu / n if cpu is not None and n else None


def write_plots(doc: dict[str, Any], out: Path) -> list[tuple[str, Path]]:
    """Write the plots for ``doc["targets"]`` into ``out``; returns (title, path) pairs."""
    plt = _matplotlib()
    targets = doc.get("targets") or []
    written: list[tuple[str, Path]] = []

    def figure(name: str, title: str, xlabel: str, ylabel: str,
               draw: Callable[[Any], bool]) -> None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        if not draw(ax):
            plt.close(fig)
            return
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if name == "mos":
            ax.set_ylim(1.0, 4.6)
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append((title, path))

    def calls_plot(name: str, title: str, ylabel: str,
                   lines: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]],
                   extra: Callable[[Any, float], None] | None = None) -> None:
        def draw(ax: Any) -> bool:
            drawn = False
            top = 0.0
            for i, target in enumerate(targets):
                steps = _call_steps(target)
                if not steps:
                    continue
                top = max(top, max(s.get("established", 0) for s in steps))
                for j, (suffix, getter) in enumerate(lines):
                    if not any(_num(getter(s)) is not None for s in steps):
                        continue
                    label = target["name"] + (f" {suffix}" if suffix else "")
                    _series(ax, steps, "established", getter, label,
                            MARKERS[i % len(MARKERS)], "-" if j == 0 else "--")
                    drawn = True
            if drawn and extra is not None:
                extra(ax, top)
            return drawn

        figure(name, title, "concurrent calls", ylabel, draw)

    def cpu_extra(ax: Any, top: float) -> None:
        for target in targets:
            model = (target.get("model") or {}).get("calls")
            if model:
                ax.plot([0, top], [model["base_cpu_pct"],
                                   model["base_cpu_pct"] + top * model["cpu_pct_per_call"]],
                        ":", label=f"{target['name']} fit")
        ax.plot([0, top], [0, top * 3.0], "--", color="grey",
                label="seed: 3 % of a core per call")

    calls_plot("cpu", "Server CPU", "% of one core", [("", lambda s: s.get("cpu_pct"))],
               cpu_extra)
    calls_plot("cpu_per_call", "Server CPU per call", "% of one core per call",
               [("", _per_call)])
    calls_plot("memory", "Server memory (RSS, with its child processes)", "MB",
               [("", lambda s: s.get("rss_mb"))])
    calls_plot("loss", "Packet loss (round trip) and late packets", "%",
               [("lost", lambda s: s.get("loss_pct")), ("late", lambda s: s.get("late_pct"))])
    calls_plot("jitter", "Jitter (RFC 3550, of the echoes)", "ms",
               [("", lambda s: s.get("jitter_ms_mean"))])
    calls_plot("mos", "MOS (E-model, one direction)", "MOS",
               [("", lambda s: s.get("mos"))])
    calls_plot("setup", "Call setup time (call request to accepted)", "ms",
               [("p50", lambda s: s.get("setup_ms_p50")),
                ("p95", lambda s: s.get("setup_ms_p95"))])

    def bw_extra(ax: Any, top: float) -> None:
        ax.axhline(100, linestyle="--", color="grey", label="seed: 100 kbit/s per call")

    calls_plot("bandwidth", "Bandwidth per call and leg, each way (IP level)", "kbit/s",
               [("WebRTC", lambda s: s.get("webrtc_kbit_per_call")),
                ("SIP", lambda s: s.get("sip_kbit_per_call"))], bw_extra)

    def users_plot(name: str, title: str, ylabel: str,
                   lines: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]],
                   seed_line: bool = False) -> None:
        def draw(ax: Any) -> bool:
            drawn = False
            for i, target in enumerate(targets):
                steps = _user_steps(target)
                for j, (suffix, getter) in enumerate(lines):
                    if not any(_num(getter(s)) is not None for s in steps):
                        continue
                    _series(ax, steps, "users", getter, f"{target['name']} {suffix}".strip(),
                            MARKERS[i % len(MARKERS)], "-" if j == 0 else "--")
                    drawn = True
            if drawn and seed_line:
                ax.axvline(1000, linestyle="--", color="grey", label="seed: 1000 per machine")
            return drawn

        figure(name, title, "connected idle users", ylabel, draw)

    users_plot("users_memory", "Memory against connected users", "MB",
               [("server", lambda s: s.get("rss_mb")),
                ("load generators", lambda s: s.get("generator_rss_mb"))], seed_line=True)
    users_plot("users_cpu", "Server CPU against connected users", "% of one core",
               [("", lambda s: s.get("cpu_pct"))])
    users_plot("users_registrations", "Registrations not refreshed in time", "phones",
               [("lapsed", lambda s: (s.get("registrar") or {}).get("lapsed")),
                ("late refreshes", lambda s: (s.get("registrar") or {}).get("late_refreshes"))])
    return written
