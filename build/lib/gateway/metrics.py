"""Counters kept by the core and rendered, with live gauges, in Prometheus text format."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Metrics:
    requests: int = 0
    errors: int = 0
    auth_failures: int = 0
    sessions_created: int = 0
    sessions_timed_out: int = 0
    sessions_claimed: int = 0
    sessions_not_reclaimed: int = 0
    handles_attached: int = 0
    handles_detached: int = 0
    webrtc_up: int = 0
    media_renewed: int = 0

    def counters(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
