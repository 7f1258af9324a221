"""Read-only admin listing (sessions, handles, calls) and Prometheus ``/metrics``.

``GET /admin/sessions`` needs ``Authorization: Bearer <token>`` with an admin role.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.media import rtp_leg
from gateway.metrics import render_prometheus
from gateway.transports.websocket import GATEWAY_KEY
from webfon import gcwatch
from webfon.http import json_error
from webfon.tokens import TokenError

GC_KEY = web.AppKey("gc", gcwatch.GcWatch)


async def _require_admin(request: web.Request) -> web.Response | None:
    from gateway.app import TOKENS_KEY

    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return json_error(401, "admin token required")
    try:
        claims = await request.app[TOKENS_KEY].verify(header[7:].strip())
    except TokenError as exc:
        return json_error(401, str(exc))
    if not claims.has_role("admin"):
        return json_error(403, "admin role required")
    return None


async def sessions(request: web.Request) -> web.Response:
    denied = await _require_admin(request)
    if denied is not None:
        return denied
    gateway = request.app[GATEWAY_KEY]
    listing = [s.describe() for s in list(gateway.sessions.values())]
    calls: list[dict[str, Any]] = []
    for plugin in gateway.registry.unique():
        lister = getattr(plugin, "list_calls", None)
        if lister is not None:
            calls.extend(lister())
    workers = gateway.media_workers.describe() if gateway.media_workers else []
    gc_figures = request.app[GC_KEY].figures() if GC_KEY in request.app else {}
    return web.json_response({"sessions": listing, "calls": calls, "media_workers": workers,
                              "gc": gc_figures})


def gauges(request: web.Request) -> dict[str, float]:
    gateway = request.app[GATEWAY_KEY]
    handles = [h for s in gateway.sessions.values() for h in s.handles.values()]
    values: dict[str, float] = {"sessions": len(gateway.sessions), "handles": len(handles),
                                "webrtc_connected": sum(
                                    1 for h in handles if h.has_media and h.media.connected)}
    if gateway.media_workers is not None:
        workers = gateway.media_workers.describe()
        values["media_workers_alive"] = sum(1 for w in workers if w["alive"])
        values["media_worker_legs"] = sum(w["legs"] for w in workers)
    for plugin in gateway.registry.unique():
        for key, value in plugin.metrics().items():
            values[key] = value
    return values


def gc_metrics(figures: dict[str, Any], prefix: str = "") -> tuple[dict[str, float],
                                                                   dict[str, float]]:
    """Counters and gauges of :meth:`GcWatch.figures` (per generation), named ``gc_*``."""
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}
    for gen in range(3):
        if "gc_collections" not in figures:
            break
        counters[f"{prefix}gc_collections_gen{gen}"] = figures["gc_collections"][gen]
        counters[f"{prefix}gc_collected_gen{gen}"] = figures["gc_collected"][gen]
        counters[f"{prefix}gc_pause_ms_gen{gen}"] = figures["gc_pause_total_ms"][gen]
        gauges[f"{prefix}gc_pause_max_ms_gen{gen}"] = figures["gc_pause_max_ms"][gen]
    if "gc_pause_buckets" in figures:
        over = [n for bound, n in zip(gcwatch.PAUSE_BUCKETS_MS, figures["gc_pause_buckets"],
                                      strict=True) if bound > 20.0]
        counters[f"{prefix}gc_pauses_over_20ms"] = sum(over)
    return counters, gauges


async def metrics(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY_KEY]
    counters = {**gateway.metrics.counters(), "rtp_dropped": rtp_leg.DROPPED[0]}
    values = gauges(request)
    if GC_KEY in request.app:
        mine, pauses = gc_metrics(request.app[GC_KEY].figures())
        counters.update(mine)
        values.update(pauses)
    if gateway.media_workers is not None:
        healths = [w["health"] for w in gateway.media_workers.describe() if w.get("health")]
        theirs, pauses = gc_metrics(gcwatch.merge(healths), "media_workers_")
        counters.update(theirs)
        values.update(pauses)
    text = render_prometheus(counters, values)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/admin/sessions", sessions)
    app.router.add_get("/metrics", metrics)
