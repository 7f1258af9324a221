"""Optional PNG of a sizing run (needs matplotlib: ``pip install -e .[loadtest]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plot(doc: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib: pip install -e '.[loadtest]'") from exc
    call_steps = [s for s in (doc.get("calls") or {}).get("steps", [])
                  if s.get("established", s.get("calls"))]
    user_steps = (doc.get("users") or {}).get("steps", [])
    model = doc.get("model", {})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    cpu_ax, mem_ax, user_ax = axes
    if call_steps:
        xs = [s.get("established", s["calls"]) for s in call_steps]
        top = max(xs)
        kept = [s for s in call_steps if s.get("valid") is not False and not s.get("over_limit")]
        out = [s for s in call_steps if s not in kept]
        cpu_ax.plot([s.get("established", s["calls"]) for s in kept],
                    [s["cpu_pct"] for s in kept], "o", label="measured")
        if out:
            cpu_ax.plot([s.get("established", s["calls"]) for s in out],
                        [s["cpu_pct"] for s in out], "x", color="red",
                        label="left out (loss over limit / generator behind)")
        cm = model.get("calls")
        if cm:
            cpu_ax.plot([0, top], [cm["base_cpu_pct"], cm["base_cpu_pct"]
                                   + top * cm["cpu_pct_per_call"]], "-", label="fit")
        cpu_ax.plot([0, top], [0, top * 3.0], "--", label="seed (3 % of a core per call)")
        cpu_ax.set(xlabel="concurrent calls", ylabel="gateway CPU, % of one core",
                   title="CPU")
        cpu_ax.legend()
        mem_ax.plot(xs, [s["rss_mb"] for s in call_steps], "o-")
        mem_ax.set(xlabel="concurrent calls", ylabel="gateway RSS, MB", title="Memory")
    if user_steps:
        user_ax.plot([s["users"] for s in user_steps], [s["rss_mb"] for s in user_steps], "o-")
        user_ax.axvline(1000, linestyle="--", color="grey")
        user_ax.set(xlabel="connected users", ylabel="gateway RSS, MB",
                    title="Connected users (seed limit 1000)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
