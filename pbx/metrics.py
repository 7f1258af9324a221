"""``GET /metrics`` of the PBX (Prometheus text): SIP and request counters, calls, RTP relayed,
lost and refused by strict RTP (``webfon_pbx_rtp_dropped_total``), SIP messages dropped over
their address's rate (``webfon_pbx_sip_rate_limited_total``) and requests of banned addresses
refused (``webfon_pbx_sip_banned_refused_total``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from webfon.prometheus import render_prometheus

from .control import CORE_KEY


def _numbers(prefix: str, values: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


async def metrics(request: web.Request) -> web.Response:
    core = request.app.get(CORE_KEY)
    engine = getattr(core, "engine", None) if core is not None else None
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}
    if engine is not None:
        snap = engine.stats_snapshot()
        media = snap["media"]
        counters.update(_numbers("sip_", snap["sip"]))
        counters.update(_numbers("requests_", snap["requests"]))
        counters.update({"rtp_received": media["received"], "rtp_sent": media["sent"],
                         "rtp_lost": media["lost"], "rtp_dropped": media["rtp_dropped"],
                         "media_legs": media["legs"],
                         "registrations_accepted": snap["registrations_accepted"]})
        guard = snap["guard"]
        counters["sip_banned_refused"] = guard["refused_banned"]
        gauges.update({"calls_active": snap["calls_active"],
                       "media_open_legs": media["open_legs"],
                       "sip_sources_tracked": guard["sources_tracked"],
                       "sip_sources_failing": guard["sources_failing"]})
    text = render_prometheus(counters, gauges, prefix="webfon_pbx")
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
