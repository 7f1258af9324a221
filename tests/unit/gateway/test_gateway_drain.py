"""Draining a node (SIGTERM's work): no new sessions or sockets, idle sessions closed at once
with «node draining», a session with a call closed when its call ends, health says draining;
and the drain's deadline."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.plugins.base import HandleContext, MessageResult, Plugin, PluginSession
from gateway.settings import GatewaySettings
from webfon.runner import DRAIN_KEY, STORE_KEY
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key


class CallSession(PluginSession):
    """Stands for a plugin with calls: ``call`` starts one, ``hangup`` ends it."""

    def __init__(self, ctx: HandleContext) -> None:
        super().__init__(ctx)
        self.in_call = False

    async def handle_message(self, transaction: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> MessageResult | None:
        self.in_call = body.get("request") == "call"
        return MessageResult({"in_call": self.in_call})

    def describe(self) -> dict[str, Any]:
        return {"call": {"state": "incall"}} if self.in_call else {}


class CallPlugin(Plugin):
    package = "test.plugin.call"
    name = "calls"

    def create_session(self, ctx: HandleContext) -> PluginSession:
        return CallSession(ctx)


class Node:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token
        self._tx = 0

    async def ask(self, ws: aiohttp.ClientWebSocketResponse, msg: dict[str, Any]
                  ) -> dict[str, Any]:
        self._tx += 1
        tx = f"t{self._tx}"
        await ws.send_json({**msg, "transaction": tx, "token": self.token})
        while True:
            reply = await ws.receive_json(timeout=5)
            if reply.get("transaction") == tx:
                return reply

    async def session(self, call: bool) -> tuple[aiohttp.ClientWebSocketResponse, int, int]:
        ws = await self.client.ws_connect("/janus", protocols=("janus-protocol",))
        created = await self.ask(ws, {"janus": "create"})
        assert created["data"]["node"] == 4, created
        sid = created["data"]["id"]
        hid = (await self.ask(ws, {"janus": "attach", "session_id": sid,
                                   "plugin": "test.plugin.call"}))["data"]["id"]
        if call:
            await self.ask(ws, {"janus": "message", "session_id": sid, "handle_id": hid,
                                "body": {"request": "call"}})
        return ws, sid, hid


@pytest.fixture
async def node(tmp_path: Path) -> Any:
    data_dir = tmp_path / "data"
    private, _ = ensure_keypair(data_dir)
    settings = GatewaySettings.load(None, environ={}, data_dir=data_dir, media_workers=0,
                                    local_nodo_id=4, drain_timeout_s=3.0,
                                    node_heartbeat_s=0.2)
    app = await build_app(settings, plugins=[CallPlugin()])
    client = TestClient(TestServer(app))
    await client.start_server()
    token = TokenIssuer(load_private_key(private), settings.token_issuer).issue(
        1001, audience=["gateway"], roles=["user"], ttl=300)[0]
    try:
        yield Node(client, token)
    finally:
        await client.close()


async def _closed(ws: aiohttp.ClientWebSocketResponse, within: float) -> aiohttp.WSMessage:
    while True:
        msg = await ws.receive(timeout=within)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING):
            return msg


async def test_drain_closes_idle_sessions_and_waits_for_calls(node: Node) -> None:
    idle, _, _ = await node.session(call=False)
    busy, sid, hid = await node.session(call=True)
    app = node.client.server.app
    assert (await node.client.get("/healthz")).status == 200
    drain = asyncio.ensure_future(app[DRAIN_KEY]())
    msg = await _closed(idle, 3)
    assert msg.data == 1001 and msg.extra == "node draining"
    health = await node.client.get("/healthz")
    assert health.status == 503 and (await health.json())["status"] == "draining"
    # no new sockets (nginx moves the browser on) and no new sessions
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await node.client.ws_connect("/janus", protocols=("janus-protocol",))
    assert refused.value.status == 503
    created = await (await node.client.post("/janus", json={
        "janus": "create", "transaction": "x", "token": node.token})).json()
    assert created["error"]["code"] == 472
    lease = await app[STORE_KEY].fetchone(
        "SELECT state FROM gateway_nodes WHERE node_id = 4")
    assert lease == {"state": "draining"}
    # the call goes on until it ends; then its session goes too and the drain is over
    await asyncio.sleep(0.8)
    assert not busy.closed and not drain.done()
    await node.ask(busy, {"janus": "message", "session_id": sid, "handle_id": hid,
                          "body": {"request": "hangup"}})
    msg = await _closed(busy, 3)
    assert msg.data == 1001
    assert await asyncio.wait_for(drain, 3) is None


async def test_drain_deadline_ends_calls_still_up(node: Node) -> None:
    busy, _, _ = await node.session(call=True)
    app = node.client.server.app
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(app[DRAIN_KEY](), 10)
    assert asyncio.get_running_loop().time() - started >= 2.9  # drain_timeout_s
    assert not busy.closed, "the process stop (after the drain) ends what is left"

