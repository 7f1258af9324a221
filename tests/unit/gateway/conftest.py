"""A gateway app on aiohttp's test server (echotest only: no SIP endpoint needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.media.ice import reset_ice
from gateway.plugins.echotest import EchoTestPlugin
from gateway.settings import GatewaySettings
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key


class Harness:
    def __init__(self, client: TestClient, issuer: TokenIssuer) -> None:
        self.client = client
        self.issuer = issuer

    def token(self, sub: int = 1001, roles: tuple[str, ...] = ("user",),
              audience: tuple[str, ...] = ("gateway",), ttl: float = 300) -> str:
        return self.issuer.issue(sub, audience=audience, roles=roles, ttl=ttl)[0]

    async def post(self, path: str, body: Any) -> dict[str, Any]:
        resp = await self.client.post(path, json=body)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def session(self) -> int:
        reply = await self.post("/janus", {"janus": "create", "transaction": "c",
                                           "token": self.token()})
        assert reply["janus"] == "success", reply
        return int(reply["data"]["id"])

    async def handle(self, session: int, plugin: str = "janus.plugin.echotest") -> int:
        reply = await self.post(f"/janus/{session}", {"janus": "attach", "plugin": plugin,
                                                      "transaction": "a",
                                                      "token": self.token()})
        assert reply["janus"] == "success", reply
        return int(reply["data"]["id"])


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    clients: list[TestClient] = []

    async def make(**overrides: Any) -> Harness:
        data_dir = tmp_path / "data"
        private, _ = ensure_keypair(data_dir)
        values: dict[str, Any] = {"data_dir": data_dir, "max_message_bytes": 65536,
                                  "media_workers": 0}
        values.update(overrides)
        settings = GatewaySettings.load(None, environ={}, **values)
        app = await build_app(settings, plugins=[EchoTestPlugin()])
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return Harness(client, TokenIssuer(load_private_key(private), settings.token_issuer))

    try:
        yield make
    finally:
        for client in clients:
            await client.close()
        reset_ice()


@pytest.fixture
async def gw(make_gateway: Callable[..., Awaitable[Harness]]) -> Harness:
    return await make_gateway()
