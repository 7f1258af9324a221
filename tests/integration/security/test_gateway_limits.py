"""Resource exhaustion against real gateway and front processes: one user opening sessions and
handles without end gets a clear Janus error at the limit while another user is served as
usual, and an oversized WebSocket message is stopped at the front (it never reaches the
gateway) without harming the next connection."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.support import procs
from tests.support.net import free_port
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key


@dataclass
class Node:
    gateway: procs.Component
    web: procs.Component
    issuer: TokenIssuer

    def token(self, sub: int) -> str:
        return self.issuer.issue(sub, audience=["gateway"], roles=["user"], ttl=600)[0]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    data = tmp_path / "data"
    private, _ = ensure_keypair(data)
    gateway = await procs.start("gateway", "gateway", free_port("tcp"), procs.base_env(
        data, WEBFON_GATEWAY_MEDIA_WORKERS="0", WEBFON_GATEWAY_SIP_PORT=str(free_port()),
        WEBFON_GATEWAY_MAX_SESSIONS_PER_USER="3", WEBFON_GATEWAY_MAX_HANDLES_PER_SESSION="2",
        WEBFON_GATEWAY_MAX_HANDLES_PER_USER="4"), tmp_path / "logs")
    try:
        web = await procs.start("web", "launcher.front", free_port("tcp"), procs.base_env(
            data, WEBFON_WEB_GATEWAY_URL=gateway.url, WEBFON_WEB_SERCEN_URL=gateway.url,
            WEBFON_WEB_FONBO_URL=gateway.url), tmp_path / "logs")
        try:
            yield Node(gateway, web, TokenIssuer(load_private_key(private)))
        finally:
            await procs.stop(web)
    finally:
        await procs.stop(gateway)


class Janus:
    """A raw Janus WebSocket client: request, then the reply with the same transaction."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def call(self, **msg: Any) -> dict[str, Any]:
        tx = secrets.token_hex(6)
        await self.ws.send_str(json.dumps({**msg, "transaction": tx}))
        while True:
            reply = await self.ws.receive_json(timeout=10)
            if reply.get("transaction") == tx and reply.get("janus") != "ack":
                return reply


async def _session(janus: Janus, token: str) -> int | dict[str, Any]:
    reply = await janus.call(janus="create", token=token)
    return reply["data"]["id"] if reply["janus"] == "success" else reply


async def _attach(janus: Janus, session: int, token: str) -> int | dict[str, Any]:
    reply = await janus.call(janus="attach", session_id=session, token=token,
                             plugin="janus.plugin.echotest")
    return reply["data"]["id"] if reply["janus"] == "success" else reply


async def test_one_user_cannot_exhaust_sessions_and_handles(node: Node) -> None:
    greedy, polite = node.token(1001), node.token(1002)
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"ws://127.0.0.1:{node.gateway.port}/janus",
                            protocols=("janus-protocol",)) as ws:
        janus = Janus(ws)
        sessions = [await _session(janus, greedy) for _ in range(3)]
        assert all(isinstance(s, int) for s in sessions)
        refused = await _session(janus, greedy)
        assert isinstance(refused, dict) and refused["error"]["code"] == 429
        assert "too many sessions for this user" in refused["error"]["reason"]
        # handles: two per session ...
        handles = [await _attach(janus, sessions[0], greedy) for _ in range(2)]
        assert all(isinstance(h, int) for h in handles)
        refused = await _attach(janus, sessions[0], greedy)
        assert isinstance(refused, dict) and refused["error"]["code"] == 429
        assert "handles in this session" in refused["error"]["reason"]
        # ... and four per user, whatever the session
        more = [await _attach(janus, sessions[1], greedy) for _ in range(2)]
        assert all(isinstance(h, int) for h in more)
        refused = await _attach(janus, sessions[2], greedy)
        assert isinstance(refused, dict) and "handles for this user" in \
            refused["error"]["reason"]
        # someone else is served as usual
        other = await _session(janus, polite)
        assert isinstance(other, int) and isinstance(await _attach(janus, other, polite), int)
        # nothing legitimate is lost: closing a session makes room again
        assert (await janus.call(janus="destroy", session_id=sessions[2]))["janus"] == \
            "success"
        assert isinstance(await _session(janus, greedy), int)
    async with aiohttp.ClientSession() as http, \
            http.get(f"{node.gateway.url}/metrics") as resp:
        assert "webfon_gateway_limit_refusals_total 3" in await resp.text()


async def test_oversized_websocket_message_stops_at_the_front(node: Node) -> None:
    """The front refuses a frame over its limit from the frame's header: it closes with 1009
    (message too big), or — when the client is still writing the megabyte — the connection is
    gone under the client's feet. Either way nothing of it reaches the gateway."""
    url = f"ws://127.0.0.1:{node.web.port}/janus"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, protocols=("janus-protocol",)) as ws:
            try:
                await ws.send_str(json.dumps({"janus": "ping",
                                              "transaction": "x" * (1 << 20)}))
                cut_while_sending = False
            except (ConnectionError, aiohttp.ClientOSError):
                cut_while_sending = True
            msg = await ws.receive(timeout=10)
            closed = (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
            if cut_while_sending:
                assert msg.type in (*closed, WSMsgType.ERROR)
            else:
                assert msg.type in closed
                assert ws.close_code == 1009  # message too big
        async with http.ws_connect(url, protocols=("janus-protocol",)) as ws:
            janus = Janus(ws)
            assert (await janus.call(janus="ping"))["janus"] == "pong"
    gateway_log = node.gateway.tail(100_000)  # the gateway never received it
    assert "exceeds limit" not in gateway_log and "message too big" not in gateway_log
