"""TURN credentials are not public: a real coturn with ``use-auth-secret``, FONBO and the web
front as processes. Anyone can read ``/config.json``: it holds no TURN credential. A logged-in
user gets time-limited ones (TURN REST API) that coturn accepts (aiortc gathers relayed
candidates with them); expired ones, or none, get nothing from the relay; and the front refuses
to start with static credentials in its settings, which it would publish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from tests.support import procs
from tests.support.coturn import running_coturn
from tests.support.net import free_port
from tests.unit.fonbo.support import make_user
from webfon.store import open_store
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key
from webfon.turn import rest_credentials

SECRET = "coturn-static-auth-secret-for-tests"


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    with running_coturn(tmp_path, ["--use-auth-secret", f"--static-auth-secret={SECRET}"],
                        (49501, 49900)) as port:
        yield port


@dataclass
class Node:
    web: procs.Component
    token: str


@pytest.fixture
async def node(tmp_path: Path, coturn: int) -> AsyncIterator[Node]:
    data = tmp_path / "data"
    private, _ = ensure_keypair(data)
    store = await open_store(f"sqlite:///{data / 'webfon.db'}")
    user = await make_user(store, "1002", "Luis")
    await store.close()
    token = TokenIssuer(load_private_key(private)).issue(user, audience=["fonbo"],
                                                         roles=["user"], ttl=600)[0]
    turn_url = f"turn:127.0.0.1:{coturn}?transport=udp"
    fonbo = await procs.start("fonbo", "fonbo", free_port("tcp"), procs.base_env(
        data, WEBFON_FONBO_ICE_SERVERS=f"stun:127.0.0.1:{coturn},{turn_url}",
        WEBFON_FONBO_TURN_SECRET=SECRET, WEBFON_FONBO_TURN_CREDENTIAL_TTL_S="600"),
        tmp_path / "logs")
    try:
        web = await procs.start("web", "launcher.front", free_port("tcp"), procs.base_env(
            data, WEBFON_WEB_FONBO_URL=fonbo.url, WEBFON_WEB_SERCEN_URL=fonbo.url,
            WEBFON_WEB_GATEWAY_URL=fonbo.url,
            WEBFON_WEB_ICE_SERVERS=f"stun:127.0.0.1:{coturn},{turn_url}"), tmp_path / "logs")
        try:
            yield Node(web, token)
        finally:
            await procs.stop(web)
    finally:
        await procs.stop(fonbo)


async def relayed_candidates(servers: list[dict[str, Any]]) -> int:
    """How many relayed candidates aiortc gathers through these servers (relay only)."""
    ice = [RTCIceServer(urls=s["urls"], username=s.get("username"),
                        credential=s.get("credential")) for s in servers]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=ice))
    try:
        pc.addTransceiver("audio")
        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), 20)
        return pc.localDescription.sdp.count("typ relay")
    finally:
        await pc.close()


async def test_turn_credentials_only_for_users_and_only_for_a_while(node: Node,
                                                                    coturn: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{node.web.url}/config.json") as r:
            public = await r.json()
        assert all("credential" not in s and "username" not in s
                   for s in public["iceServers"]), public
        assert all(str(s["urls"]).startswith("stun:") for s in public["iceServers"])
        async with http.get(f"{node.web.url}/fonbo/ice-servers") as r:
            assert r.status == 401                     # anonymous: nothing
        async with http.get(f"{node.web.url}/fonbo/ice-servers",
                            headers={"Authorization": f"Bearer {node.token}"}) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            mine = await r.json()
    turn = next(s for s in mine["iceServers"] if "credential" in s)
    expiry, _, user = turn["username"].partition(":")
    assert user and 500 < int(expiry) - time.time() <= 600  # this user's, for a while
    assert mine["ttl"] == 600
    assert await relayed_candidates([turn]) > 0       # coturn takes them
    stale_user, stale_password = rest_credentials(SECRET, user, ttl=-60)
    assert await relayed_candidates([{**turn, "username": stale_user,
                                      "credential": stale_password}]) == 0
    assert await relayed_candidates([{"urls": turn["urls"]}]) == 0


async def test_front_refuses_static_turn_credentials(tmp_path: Path, coturn: int) -> None:
    with pytest.raises(RuntimeError, match="static TURN credentials"):
        await procs.start("web", "launcher.front", free_port("tcp"), procs.base_env(
            tmp_path / "data",
            WEBFON_WEB_ICE_SERVERS=f"turn:webfon:turnpw@127.0.0.1:{coturn}"),
            tmp_path / "logs", timeout=15)
