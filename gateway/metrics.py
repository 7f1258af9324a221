"""Counters kept by the core and rendered, with live gauges, in Prometheus text format."""

from __future__ import annotations

from dataclasses import dataclass, fields

from webfon.prometheus import render_prometheus

__all__ = ["Metrics", "render_prometheus"]


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
    limit_refusals: int = 0
    slow_connections_closed: int = 0
    sessions_ended_by_account: int = 0

    def counters(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
