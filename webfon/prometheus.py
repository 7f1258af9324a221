"""Prometheus text exposition of a component's counters and gauges (``GET /metrics``)."""

from __future__ import annotations


def render_prometheus(counters: dict[str, float], gauges: dict[str, float],
                      prefix: str = "webfon_gateway") -> str:
    lines: list[str] = []
    for name, value in sorted(counters.items()):
        metric = f"{prefix}_{name}_total"
        lines += [f"# TYPE {metric} counter", f"{metric} {value}"]
    for name, value in sorted(gauges.items()):
        metric = f"{prefix}_{name}"
        lines += [f"# TYPE {metric} gauge", f"{metric} {value}"]
    return "\n".join(lines) + "\n"
