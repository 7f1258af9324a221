"""The web front: static files, HTTP and WebSocket relay, security headers, upstream errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from launcher.front import FrontSettings, build_app
from tests.support.net import free_port


async def echo_http(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({
        "method": request.method,
        "path": request.path,
        "query": request.rel_url.raw_query_string,
        "xff": request.headers.get("X-Forwarded-For", ""),
        "client": request.headers.get("X-Webfon-Client", ""),
        "host": request.headers.get("X-Forwarded-Host", ""),
        "body": body.decode(),
        "auth": request.headers.get("Authorization", ""),
    }, headers={"X-Upstream": "yes"})


async def ranged(request: web.Request) -> web.Response:
    data = bytes(range(256)) * 4
    if request.headers.get("Range") == "bytes=10-19":
        return web.Response(status=206, body=data[10:20], content_type="audio/wav",
                            headers={"Content-Range": f"bytes 10-19/{len(data)}"})
    return web.Response(body=data, content_type="audio/wav")


async def echo_ws(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=["janus-protocol"])
    await ws.prepare(request)
    await ws.send_str(json.dumps({"hello": request.headers.get("X-Forwarded-For", "")}))
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            if msg.data == "close":
                await ws.close(code=4000)
                break
            await ws.send_str("echo:" + msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data[::-1])
    return ws


@pytest.fixture
async def upstream() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/fonbo/echo", echo_http)
    app.router.add_route("*", "/sercen/v1/login", echo_http)
    app.router.add_get("/fonbo/audio", ranged)
    app.router.add_get("/janus", echo_ws)
    app.router.add_route("POST", "/janus", echo_http)
    app.router.add_get("/socket.io/", echo_ws)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    root = tmp_path / "webclient"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>VIVAit Call Web</title>")
    (root / "js" / "app.js").write_text("export const x = 1;\n")
    (tmp_path / "secret.txt").write_text("do not serve")
    return root


@pytest.fixture
async def front(upstream: TestServer, static_dir: Path, tmp_path: Path
                ) -> AsyncIterator[TestServer]:
    base = f"http://127.0.0.1:{upstream.port}"
    dead = f"http://127.0.0.1:{free_port('tcp')}"
    settings = FrontSettings.load(environ={}, data_dir=tmp_path, static_dir=static_dir,
                                  gateway_url=base, fonbo_url=base, sercen_url=dead,
                                  connect_timeout_s=2.0, ice_servers="stun:127.0.0.1:3478")
    server = TestServer(await build_app(settings), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def url(server: TestServer, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.port}{path}"


async def test_static_index_and_module(front: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.get(url(front, "/")) as resp:
        assert resp.status == 200
        assert "VIVAit Call Web" in await resp.text()
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(url(front, "/js/app.js")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/javascript"


async def test_static_traversal_refused(front: TestServer, http: aiohttp.ClientSession) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/js/%2e%2e/%2e%2e/secret.txt",
                 "/.hidden", "/missing.js"):
        async with http.get(url(front, path)) as resp:
            assert resp.status == 404, path
            assert "do not serve" not in await resp.text()


async def test_client_config(front: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.get(url(front, "/config.json")) as resp:
        data = await resp.json()
    assert data["janus"] == "/janus"
    assert data["language"] == "es"
    assert data["iceServers"] == [{"urls": "stun:127.0.0.1:3478"}]


async def test_http_relay_keeps_path_query_body_and_adds_xff(
        front: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.post(url(front, "/fonbo/echo?a=1&b=%20x"), data=b'{"k": "v"}',
                         headers={"Authorization": "Bearer abc",
                                  "X-Forwarded-For": "203.0.113.9"}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Upstream"] == "yes"
        assert resp.headers["X-Frame-Options"] == "DENY"
        data = await resp.json()
    # The peer is not a trusted proxy: its X-Forwarded-For is not believed (and, as it came
    # through a proxy, the address is passed on marked unverified).
    assert data == {"method": "POST", "path": "/fonbo/echo", "query": "a=1&b=%20x",
                    "xff": "127.0.0.1", "client": "unverified",
                    "host": f"127.0.0.1:{front.port}",
                    "body": '{"k": "v"}', "auth": "Bearer abc"}


async def test_http_relay_range_request(front: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.get(url(front, "/fonbo/audio"), headers={"Range": "bytes=10-19"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == "bytes 10-19/1024"
        assert await resp.read() == bytes(range(10, 20))
    async with http.get(url(front, "/fonbo/audio")) as resp:
        assert resp.status == 200
        assert len(await resp.read()) == 1024


async def test_upstream_down_gives_502_json(front: TestServer,
                                            http: aiohttp.ClientSession) -> None:
    async with http.post(url(front, "/sercen/v1/login"), json={"user": "x"}) as resp:
        assert resp.status == 502
        body = await resp.json()
    assert body["error"]["status"] == 502
    assert "sercen" in body["error"]["message"]


async def test_upstream_404_passes_through(front: TestServer,
                                           http: aiohttp.ClientSession) -> None:
    async with http.get(url(front, "/fonbo/nothing-here")) as resp:
        assert resp.status == 404


async def test_websocket_relay_with_janus_subprotocol(
        front: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(url(front, "/janus", "ws"), protocols=["janus-protocol"]) as ws:
        assert ws.protocol == "janus-protocol"
        hello = json.loads((await ws.receive(timeout=5)).data)
        assert hello["hello"] == "127.0.0.1"
        await ws.send_str('{"janus": "keepalive"}')
        assert (await ws.receive(timeout=5)).data == 'echo:{"janus": "keepalive"}'
        await ws.send_bytes(b"\x01\x02\x03")
        assert (await ws.receive(timeout=5)).data == b"\x03\x02\x01"
        await ws.send_str("close")
        msg = await ws.receive(timeout=5)
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert ws.close_code == 4000


async def test_socketio_websocket_with_query(front: TestServer,
                                             http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(url(front, "/socket.io/?EIO=4&transport=websocket", "ws")) as ws:
        await ws.receive(timeout=5)
        await ws.send_str("40")
        assert (await ws.receive(timeout=5)).data == "echo:40"


async def test_websocket_upstream_down_gives_502(
        front: TestServer, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(url(front, "/sercen/ws", "ws"))
    assert info.value.status == 502


async def test_janus_http_post_relayed(front: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.post(url(front, "/janus"), json={"janus": "create"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["path"] == "/janus"


async def test_body_over_limit_is_413(upstream: TestServer, static_dir: Path,
                                      tmp_path: Path, http: aiohttp.ClientSession) -> None:
    base = f"http://127.0.0.1:{upstream.port}"
    settings = FrontSettings.load(environ={}, data_dir=tmp_path, static_dir=static_dir,
                                  fonbo_url=base, max_body_bytes=1024)
    server = TestServer(await build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with http.post(url(server, "/fonbo/echo"), data=b"x" * 5000) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["status"] == 413
    finally:
        await server.close()


def test_settings_reject_bad_upstream_url(tmp_path: Path) -> None:
    from webfon.config import ConfigError

    with pytest.raises(ConfigError, match="gateway_url"):
        FrontSettings.load(environ={"WEBFON_WEB_GATEWAY_URL": "ftp://x"}, data_dir=tmp_path)
    settings = FrontSettings.load(environ={"WEBFON_WEB_FONBO_URL": "http://127.0.0.1:9"})
    assert settings.fonbo_url == "http://127.0.0.1:9"


async def test_xff_kept_from_trusted_proxy(upstream: TestServer, static_dir: Path,
                                           tmp_path: Path, http: aiohttp.ClientSession) -> None:
    base = f"http://127.0.0.1:{upstream.port}"
    settings = FrontSettings.load(environ={"WEBFON_WEB_TRUSTED_PROXIES": "127.0.0.0/8"},
                                  data_dir=tmp_path, static_dir=static_dir, fonbo_url=base)
    server = TestServer(await build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with http.get(url(server, "/fonbo/echo"),
                            headers={"X-Forwarded-For": "172.25.1.9"}) as resp:
            # only the resolved client goes on: the next hop trusts just this front
            assert (await resp.json())["xff"] == "172.25.1.9"
    finally:
        await server.close()
    with pytest.raises(Exception, match="trusted_proxies"):
        FrontSettings.load(environ={"WEBFON_WEB_TRUSTED_PROXIES": "nonsense"})


def test_upstreams_from_webfon_up_environment() -> None:
    env = {"WEBFON_GATEWAY_URL": "http://127.0.0.1:9188",
           "WEBFON_FONBO_URL": "http://127.0.0.1:9400",
           "WEBFON_WEB_FONBO_URL": "http://127.0.0.1:9401"}
    settings = FrontSettings.load(environ=env)
    assert settings.gateway_url == "http://127.0.0.1:9188"
    assert settings.fonbo_url == "http://127.0.0.1:9401"
    assert settings.sercen_url == "http://127.0.0.1:8300"
