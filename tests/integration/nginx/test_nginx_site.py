"""The rendered nginx site in front of two gateway nodes, sercen and FONBO (real nginx, TLS)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from launcher.nginxconf import SiteConfig, render
from tests.support.net import free_port
from tests.support.nginx import make_pki, running_nginx

NAME = "webfon.test"



def _node_app(name: str) -> web.Application:
    """Stands in for a component: says who it is and what the proxy told it."""
    app = web.Application()

    async def janus_ws(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"node": name, "xff": request.headers.get(
                "X-Forwarded-For", "")})
        ws = web.WebSocketResponse(protocols=("janus-protocol",))
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_json({"node": name, "echo": msg.data})
        return ws

    async def anything(request: web.Request) -> web.Response:
        return web.json_response({"node": name, "path": request.path,
                                  "xff": request.headers.get("X-Forwarded-For", "")})

    app.router.add_get("/janus", janus_ws)
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


@dataclass
class Site:
    https: int
    http: int
    ca: Path
    runners: dict[str, web.AppRunner]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    ca, cert, key = make_pki(tmp_path, NAME)
    runners: dict[str, web.AppRunner] = {}
    ports: dict[str, int] = {}
    for name in ("gw1", "gw2", "sercen", "fonbo"):
        runner = web.AppRunner(_node_app(name))
        await runner.setup()
        ports[name] = free_port("tcp")
        await web.TCPSite(runner, "127.0.0.1", ports[name]).start()
        runners[name] = runner
    root = tmp_path / "webclient"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>VIVAit Call Web</title>")
    (root / "manifest.webmanifest").write_text('{"name": "VIVAit Call Web"}')
    (root / "sw.js").write_text("// service worker")
    https, http = free_port("tcp"), free_port("tcp")
    conf = render(SiteConfig(
        server_name=NAME, ssl_certificate=str(cert), ssl_certificate_key=str(key),
        gateways=[f"127.0.0.1:{ports['gw1']}", f"127.0.0.1:{ports['gw2']}"],
        sercen=[f"127.0.0.1:{ports['sercen']}"], fonbo=[f"127.0.0.1:{ports['fonbo']}"],
        webclient_root=str(root), https_listen=f"127.0.0.1:{https}",
        http_listen=f"127.0.0.1:{http}", https_port_suffix=f":{https}",
        access_log=str(tmp_path / "access.log"), error_log=str(tmp_path / "error.log"),
        login_rate="2r/s", login_burst=3))
    try:
        async with running_nginx(tmp_path, conf, ("127.0.0.1", https)):
            yield Site(https, http, ca, runners)
    finally:
        for runner in runners.values():
            await runner.cleanup()


def _client(site: Site) -> aiohttp.ClientSession:
    ctx = ssl.create_default_context(cafile=str(site.ca))
    resolver = {NAME: "127.0.0.1"}

    class Resolver(aiohttp.abc.AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
            return [{"hostname": host, "host": resolver.get(host, host), "port": port,
                     "family": family, "proto": 0, "flags": 0}]

        async def close(self) -> None:
            return None

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, resolver=Resolver()))


async def test_tls_static_client_and_security_headers(site: Site) -> None:
    async with _client(site) as s:
        async with s.get(f"https://{NAME}:{site.https}/") as r:
            assert r.status == 200
            assert "VIVAit Call Web" in await r.text()
            assert r.headers["Strict-Transport-Security"].startswith("max-age=")
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        # The installable app: manifest and service worker with their types, same headers.
        async with s.get(f"https://{NAME}:{site.https}/manifest.webmanifest") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/manifest+json"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with s.get(f"https://{NAME}:{site.https}/sw.js") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] in ("application/javascript", "text/javascript")
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        async with s.get(f"http://{NAME}:{site.http}/x", allow_redirects=False) as r:
            assert r.status == 301
            assert r.headers["Location"] == f"https://{NAME}:{site.https}/x"


async def test_janus_websocket_sticky_and_failover(site: Site) -> None:
    async with _client(site) as s:
        nodes = set()
        for _ in range(4):
            async with s.ws_connect(f"wss://{NAME}:{site.https}/janus",
                                    protocols=("janus-protocol",)) as ws:
                assert ws.protocol == "janus-protocol"
                await ws.send_str('{"janus":"info"}')
                reply = await ws.receive_json(timeout=5)
                assert reply["echo"] == '{"janus":"info"}'
                nodes.add(reply["node"])
        assert len(nodes) == 1  # one client address, one node
        first = nodes.pop()
        await site.runners[first].cleanup()  # that node dies
        async with s.ws_connect(f"wss://{NAME}:{site.https}/janus",
                                protocols=("janus-protocol",)) as ws:
            await ws.send_str("ping")
            reply = await ws.receive_json(timeout=5)
            assert reply["node"] != first


async def test_services_routed_with_client_address(site: Site) -> None:
    async with _client(site) as s:
        async with s.get(f"https://{NAME}:{site.https}/fonbo/history",
                         headers={"X-Forwarded-For": "172.25.1.9"}) as r:
            data = await r.json()
            assert data["node"] == "fonbo" and data["path"] == "/fonbo/history"
            assert data["xff"] == "127.0.0.1"  # the client nginx saw; never what it claimed
        async with s.get(f"https://{NAME}:{site.https}/socket.io/?EIO=4") as r:
            assert (await r.json())["node"] == "fonbo"


async def test_login_rate_limited(site: Site) -> None:
    async with _client(site) as s:
        statuses = []
        for _ in range(12):
            async with s.post(f"https://{NAME}:{site.https}/sercen/login", json={}) as r:
                statuses.append(r.status)
        assert statuses[0] == 200
        assert 429 in statuses
