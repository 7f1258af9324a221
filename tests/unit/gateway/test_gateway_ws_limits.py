"""Per-connection limits of the WebSocket transport: requests in progress, and events a client
does not read."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration

from gateway.core import Gateway
from gateway.limits import Limits
from gateway.plugins.base import MessageResult, Plugin, PluginRegistry, PluginSession
from gateway.transports.websocket import GATEWAY_KEY, MAX_MESSAGE_KEY, websocket_handler


class Slow(PluginSession):
    """Answers a message only when the test says so; ``spam`` pushes many events."""

    release = asyncio.Event()

    async def handle_message(self, transaction: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> MessageResult | None:
        if body.get("request") == "spam":
            for i in range(int(body["count"])):
                self.ctx.push_event(None, {"n": i, "pad": "x" * 200})
            return MessageResult({"spammed": True})
        await self.release.wait()
        return MessageResult({"ok": True})


class SlowPlugin(Plugin):
    package = "test.plugin.slow"

    def create_session(self, ctx: Any) -> PluginSession:
        return Slow(ctx)


async def _server(limits: Limits) -> tuple[TestServer, Gateway]:
    registry = PluginRegistry()
    registry.add(SlowPlugin())
    gw = Gateway(registry, None, RTCConfiguration(iceServers=[]), require_token=False,
                 limits=limits)
    app = web.Application()
    app[GATEWAY_KEY] = gw
    app[MAX_MESSAGE_KEY] = 1 << 20
    app.router.add_get("/janus", websocket_handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, gw


async def _handle(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, int]:
    await ws.send_json({"janus": "create", "transaction": "c"})
    sid = (await ws.receive_json())["data"]["id"]
    await ws.send_json({"janus": "attach", "transaction": "a", "session_id": sid,
                        "plugin": "test.plugin.slow"})
    return sid, (await ws.receive_json())["data"]["id"]


async def test_requests_in_progress_are_bounded_per_connection() -> None:
    Slow.release = asyncio.Event()
    server, gw = await _server(Limits(ws_max_inflight=4))
    try:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(f"http://127.0.0.1:{server.port}/janus") as ws:
            sid, hid = await _handle(ws)
            for i in range(6):
                await ws.send_json({"janus": "message", "transaction": f"m{i}",
                                    "session_id": sid, "handle_id": hid, "body": {}})
            refused = []
            for _ in range(2):
                reply = await ws.receive_json(timeout=5)
                refused.append(reply)
            assert [r["transaction"] for r in refused] == ["m4", "m5"]
            assert all(r["error"]["code"] == 429 and "in progress" in r["error"]["reason"]
                       for r in refused)
            Slow.release.set()  # the four in progress all complete
            done = [await ws.receive_json(timeout=5) for _ in range(4)]
            assert sorted(r["transaction"] for r in done) == ["m0", "m1", "m2", "m3"]
            await ws.send_json({"janus": "ping", "transaction": "p"})
            assert (await ws.receive_json(timeout=5))["janus"] == "pong"
        assert gw.metrics.limit_refusals == 2
    finally:
        await server.close()


async def test_a_client_that_stops_reading_is_disconnected() -> None:
    server, gw = await _server(Limits(ws_max_pending_events=50))
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"http://127.0.0.1:{server.port}/janus",
                                       max_msg_size=0, autoclose=False)
            sid, hid = await _handle(ws)
            # tens of thousands of events in one go, read by nobody
            await ws.send_json({"janus": "message", "transaction": "s", "session_id": sid,
                                "handle_id": hid, "body": {"request": "spam",
                                                           "count": 200_000}})
            for _ in range(200):
                if gw.metrics.slow_connections_closed:
                    break
                await asyncio.sleep(0.05)
            assert gw.metrics.slow_connections_closed == 1
            # ... and the process goes on for others
            async with http.ws_connect(f"http://127.0.0.1:{server.port}/janus") as other:
                await other.send_str(json.dumps({"janus": "ping", "transaction": "p"}))
                assert (await other.receive_json(timeout=5))["janus"] == "pong"
            await ws.close()
    finally:
        await server.close()
