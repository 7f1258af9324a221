"""What a load test run is asked to do (the ramps, their limits, where the SIP side is), and
what the workers are told of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest.figures import Limits

LOOPBACK = "127.0.0.1"


@dataclass
class Plan:
    calls: Sequence[int] = (10, 25, 50, 100, 150, 200, 300)
    hold_s: float = 15.0
    warmup_s: float = 2.0
    setup_rate: float = 10.0  # calls set up per second, over all workers
    budget_s: float = 900.0
    users: Sequence[int] = (100, 250, 500, 1000)
    users_hold_s: float = 10.0
    connect_rate: float = 100.0
    users_budget_s: float = 900.0
    register_expires: int = 60
    keepalive_s: float = 25.0
    limits: Limits = field(default_factory=Limits)
    media: str = "pcmu"  # the callers' codec: pcmu, or opus (transcoded by the gateway)
    echo_uri: str = ""  # empty: start a sipp echo here
    sip_user: str = ""
    sip_secret: str = ""
    sip_proxy: str = ""
    sip_host: str = LOOPBACK
    ice_addresses: list[str] | None = None


def call_settings(url: str, echo: str, plan: Plan) -> dict[str, Any]:
    """What the workers are told about the calls: no token and no SIP password (Locust's
    channel is not authenticated); a worker has those from its own environment or files."""
    return {"url": url, "uri": echo, "plugin": "janus.plugin.sip", "username": plan.sip_user,
            "proxy": plan.sip_proxy, "codec": plan.media}


