"""Sessions end with the account, against the whole node ``webfon up`` starts (separate
processes sharing a bus): a logged-in user with a gateway session, a webphone login at the PBX
and a Socket.IO connection loses all three within seconds of logging out elsewhere, of an
administrator disabling the account, and their old token opens nothing any more."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from launcher.embedded_config import write_embedded_config
from tests.support.net import free_port
from tests.support.procs import ROOT

ENDS_WITHIN_S = 5.0


@dataclass
class Node:
    web: str
    pbx_port: int
    data: Path


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    """``webfon up`` with the demo; logins from this machine are one-factor for the test."""
    data = tmp_path / "data"
    write_embedded_config(data / "etc")
    with (data / "etc" / "sercen.conf").open("a") as fh:
        fh.write('f1factor_90_ip = "127.0.0.1"\nf1factor_90_msk = "255.255.255.255"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
    ports = {name: free_port("tcp") for name in ("web", "sercen", "gateway", "fonbo", "pbx")}
    for name, port in ports.items():
        env[f"WEBFON_{name.upper()}_PORT"] = str(port)
        env[f"WEBFON_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    rtp = free_port("udp")
    env.update(WEBFON_DATA_DIR=str(data), WEBFON_LOG_LEVEL="info",
               WEBFON_PBX_SIP_PORT=str(free_port("both")),
               WEBFON_PBX_RTP_PORT_MIN=str(rtp), WEBFON_PBX_RTP_PORT_MAX=str(rtp + 100),
               WEBFON_GATEWAY_MEDIA_WORKERS="0",
               WEBFON_SERCEN_RESPONSE_DELAY="0.01", WEBFON_SERCEN_RESPONSE_JITTER="0")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "launcher.cli", "up", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    assert proc.stdout is not None
    banner = ""
    try:
        async with asyncio.timeout(60):
            while "Ctrl-C stops everything" not in banner:
                line = await proc.stdout.readline()
                assert line, f"webfon up exited:\n{banner[-3000:]}"
                banner += line.decode()
        yield Node(f"http://127.0.0.1:{ports['web']}", ports["pbx"], data)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 30)


async def login(http: aiohttp.ClientSession, node: Node, who: str) -> dict[str, Any]:
    async with http.post(f"{node.web}/sercen/login",
                         json={"login": who, "password": f"webfon-{who}"}) as r:
        body = await r.json()
    assert r.status == 200 and body["status"] == "ok", body
    return body


class Janus:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def call(self, **msg: Any) -> dict[str, Any]:
        tx = secrets.token_hex(6)
        await self.ws.send_str(json.dumps({**msg, "transaction": tx}))
        return await self.wait(lambda m: m.get("transaction") == tx and m["janus"] != "ack")

    async def wait(self, match: Any, timeout: float = 15.0) -> dict[str, Any]:
        for m in self.seen:
            if match(m):
                self.seen.remove(m)
                return m
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"socket closed: {msg}")
                m = json.loads(msg.data)
                if match(m):
                    return m
                self.seen.append(m)


@dataclass
class Open:
    """What a logged-in user has open: gateway session + webphone login, Socket.IO socket."""

    janus: Janus
    session: int
    extension: str
    sio: socketio.AsyncClient
    ended: asyncio.Future[Any]


@contextlib.asynccontextmanager
async def everything_open(http: aiohttp.ClientSession, node: Node,
                          token: str) -> AsyncIterator[Open]:
    ws = await http.ws_connect(f"{node.web.replace('http', 'ws')}/janus",
                               protocols=("janus-protocol",))
    sio = socketio.AsyncClient(reconnection=False)
    ended: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sio.on("session.ended", lambda data: ended.done() or ended.set_result(data))
    try:
        janus = Janus(ws)
        created = await janus.call(janus="create", token=token)
        session = created["data"]["id"]
        attached = await janus.call(janus="attach", session_id=session, token=token,
                                    plugin="vivait.plugin.webfon")
        handle = attached["data"]["id"]
        await janus.call(janus="message", session_id=session, handle_id=handle,
                         body={"request": "register", "type": "webfon", "token": token})
        registered = await janus.wait(lambda m: m.get("plugindata", {}).get("data", {}).get(
            "result", {}).get("event") == "registered")
        extension = registered["plugindata"]["data"]["result"]["extension"]
        await sio.connect(node.web, socketio_path="socket.io", transports=["websocket"],
                          auth={"token": token})
        yield Open(janus, session, str(extension), sio, ended)
    finally:
        with contextlib.suppress(Exception):
            await sio.disconnect()
        await ws.close()


async def pbx_bindings(node: Node) -> set[str]:
    key = (node.data / "keys" / "pbx_control.key").read_text().strip()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http, \
            http.get(f"http://127.0.0.1:{node.pbx_port}/control/registrations") as r:
        return {str(b.get("aor") or b.get("extension")) for b in await r.json()}


async def assert_all_ended(node: Node, opened: Open, reason: str) -> None:
    timeout = await opened.janus.wait(lambda m: m["janus"] == "timeout", ENDS_WITHIN_S)
    assert timeout["session_id"] == opened.session and timeout["ended"] is True
    assert reason in timeout["reason"]
    gone = await opened.janus.call(janus="keepalive", session_id=opened.session)
    assert gone["janus"] == "error" and gone["error"]["code"] == 458
    data = await asyncio.wait_for(opened.ended, ENDS_WITHIN_S)
    assert reason in data["reason"]
    for _ in range(int(ENDS_WITHIN_S * 10)):
        if not opened.sio.connected and opened.extension not in await pbx_bindings(node):
            break
        await asyncio.sleep(0.1)
    assert not opened.sio.connected, "the Socket.IO connection outlived the session"
    assert opened.extension not in await pbx_bindings(node), "webphone still logged in"


async def assert_token_dead(http: aiohttp.ClientSession, node: Node, token: str) -> None:
    async with http.ws_connect(f"{node.web.replace('http', 'ws')}/janus",
                               protocols=("janus-protocol",)) as ws:
        refused = await Janus(ws).call(janus="create", token=token)
        assert refused["janus"] == "error" and refused["error"]["code"] == 403
    async with http.get(f"{node.web}/fonbo/me",
                        headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(node.web, socketio_path="socket.io", transports=["websocket"],
                          auth={"token": token}, wait_timeout=5)


async def test_logout_elsewhere_ends_gateway_webphone_and_socketio(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        tokens = await login(http, node, "1002")
        access = tokens["access_token"]
        async with everything_open(http, node, access) as opened:
            assert opened.extension in await pbx_bindings(node)
            # another tab / device logs this session out (here: with the refresh token)
            async with http.post(f"{node.web}/sercen/logout",
                                 json={"refresh_token": tokens["refresh_token"]}) as r:
                assert r.status == 200
            await assert_all_ended(node, opened, "logged out")
        await assert_token_dead(http, node, access)
        # nothing legitimate is lost: a new login works at once
        fresh = await login(http, node, "1002")
        async with everything_open(http, node, fresh["access_token"]) as again:
            assert again.extension in await pbx_bindings(node)


async def test_disabling_a_user_ends_everything_they_have_open(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        admin = (await login(http, node, "1001"))["access_token"]
        user = await login(http, node, "1003")
        user_id = user["user"]["id"]
        async with everything_open(http, node, user["access_token"]) as opened:
            async with http.patch(f"{node.web}/fonbo/admin/users/{user_id}",
                                  json={"enabled": False},
                                  headers={"Authorization": f"Bearer {admin}"}) as r:
                assert r.status == 200, await r.text()
            await assert_all_ended(node, opened, "account disabled")
        await assert_token_dead(http, node, user["access_token"])
        async with http.post(f"{node.web}/sercen/refresh",
                             json={"refresh_token": user["refresh_token"]}) as r:
            assert r.status == 401
