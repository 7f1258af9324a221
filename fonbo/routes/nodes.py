"""Admin view of the gateway nodes: their leases in the shared store (``gateway_nodes``), with
health, sessions, calls and media workers, as ``webfon status --all`` shows them."""

from __future__ import annotations

from aiohttp import web

from fonbo.api import Api, Ctx, Response, json_response
from fonbo.schema import array, enum, integer, number, obj, string
from webfon.nodes import list_nodes

api = Api()

COUNT = integer(0)
NODE = obj({
    "node_id": integer(0), "name": string(128), "host": string(255), "pid": COUNT,
    "api_url": string(255), "sip_address": string(255),
    "state": enum("up", "draining", "stopped", "lost"),
    "health": enum("ok", "late", "draining", "stopped", "lost"),
    "started_at": number(), "heartbeat_at": number(), "heartbeat_age_s": number(0),
    "ended_at": {**number(), "nullable": True},
    "sessions": COUNT, "registered": COUNT, "calls": COUNT, "media_workers": COUNT,
    "media_workers_alive": COUNT, "media_legs": COUNT, "released": COUNT,
}, required=("node_id", "name", "state", "health", "sessions", "calls", "media_workers",
             "media_workers_alive"))


@api.op("GET", "/fonbo/admin/nodes", summary="Gateway nodes and their health", tag="admin",
        auth="admin", responses={200: Response("Nodes", obj({"items": array(NODE)}))},
        description="One row per gateway node that ever started: ``ok`` while its heartbeat "
                    "is fresh, ``late`` when it stopped beating (the PBX is about to release "
                    "its web phones), ``lost`` once released, ``draining``, ``stopped``.")
async def admin_list_nodes(ctx: Ctx) -> web.Response:
    nodes = await list_nodes(ctx.store)
    return json_response({"items": [n.as_dict() for n in nodes]})
