"""Keeping a session and its call across a dropped WebSocket (``reclaim_session_timeout`` and
``claim``), and renewing the browser's media in a call (``update`` with a new offer)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import aiohttp

from tests.support.sipp import Sipp


class RawJanus:
    """A Janus API client on a bare WebSocket, to drop and reopen the socket at will."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.http = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.ws_url, protocols=("janus-protocol",))
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self.inbox.append(frame.json())
                self.arrived.set()

    async def drop(self) -> None:
        assert self.ws is not None
        await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def send(self, msg: dict[str, Any]) -> str:
        assert self.ws is not None
        tx = secrets.token_hex(6)
        await self.ws.send_json({**msg, "transaction": tx})
        return tx

    async def wait(self, match: Any, timeout: float = 10.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, msg in enumerate(self.inbox):
                if match(msg):
                    return self.inbox.pop(i)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"nothing matched; inbox {self.inbox}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    async def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        tx = await self.send(msg)
        return await self.wait(lambda m: m.get("transaction") == tx
                               and m.get("janus") != "ack")

    async def event(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        return await self.wait(
            lambda m: m.get("janus") == "event"
            and m["plugindata"]["data"].get("result", {}).get("event") == name, timeout)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        await self.http.close()


async def _guest_session(client: RawJanus, token: str) -> tuple[int, int]:
    await client.connect()
    created = await client.request({"janus": "create", "token": token})
    session = created["data"]["id"]
    attached = await client.request({"janus": "attach", "session_id": session,
                                     "plugin": "janus.plugin.sip", "token": token})
    handle = attached["data"]["id"]
    await client.send({"janus": "message", "session_id": session, "handle_id": handle,
                       "body": {"request": "register", "type": "guest",
                                "username": "sip:alice@127.0.0.1"}})
    await client.event("registered")
    return session, handle


async def test_a_dropped_socket_keeps_the_session_for_its_own_user(gateway_factory) -> None:
    gw = await gateway_factory(reclaim_session_timeout=20)
    owner = gw.token(1001, roles=("user", "test"))
    client = RawJanus(gw.ws_url)
    try:
        session, handle = await _guest_session(client, owner)
        await client.drop()
        await client.connect()
        # someone else's token cannot take the session over
        refused = await client.request({"janus": "claim", "session_id": session,
                                        "token": gw.token(1002, roles=("user", "test"))})
        assert refused["janus"] == "error" and refused["error"]["code"] == 403
        missing = await client.request({"janus": "claim", "session_id": session})
        assert missing["janus"] == "error" and missing["error"]["code"] == 403
        claimed = await client.request({"janus": "claim", "session_id": session,
                                        "token": owner})
        assert claimed["janus"] == "success", claimed
        # the handle is still there, and its events come on the new socket (a guest, which
        # sent no REGISTER, may register again, as in Janus)
        await client.send({"janus": "message", "session_id": session, "handle_id": handle,
                           "body": {"request": "register", "type": "guest",
                                    "username": "sip:alice@127.0.0.1"}})
        await client.event("registered")
        metrics = await (await client.http.get(gw.url.replace("/janus", "/metrics"))).text()
        assert "webfon_gateway_sessions_claimed_total 1" in metrics
    finally:
        await client.close()


async def test_an_unclaimed_session_ends_after_the_reclaim_timeout(gateway_factory) -> None:
    gw = await gateway_factory(reclaim_session_timeout=1)
    token = gw.token(1001, roles=("user", "test"))
    client = RawJanus(gw.ws_url)
    try:
        session, _ = await _guest_session(client, token)
        await client.drop()
        await asyncio.sleep(3.0)
        await client.connect()
        gone = await client.request({"janus": "claim", "session_id": session, "token": token})
        assert gone["janus"] == "error" and gone["error"]["code"] == 458
    finally:
        await client.close()


async def test_without_reclaim_a_dropped_socket_ends_the_session(gateway_factory) -> None:
    gw = await gateway_factory()
    token = gw.token(1001, roles=("user", "test"))
    client = RawJanus(gw.ws_url)
    try:
        session, _ = await _guest_session(client, token)
        await client.drop()
        await client.connect()
        gone = await client.request({"janus": "claim", "session_id": session, "token": token})
        assert gone["janus"] == "error" and gone["error"]["code"] == 458
    finally:
        await client.close()


async def _echo_call(gw, sip_clients, sipp_factory, tone_hz: float):
    sipp: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=90)
    await sipp.start()
    client = await sip_clients(gw=gw, tone_hz=tone_hz)
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    await client.wait_event("registered")
    await client.request({"request": "call", "uri": f"sip:echo@{sipp.sip_address}"},
                         await client.make_offer())
    _, jsep = await client.wait_event("accepted")
    await client.take_answer(jsep)
    first = await client.wait_recorder()
    assert abs(await first.wait_tone(tone_hz, timeout=15) - tone_hz) < 15
    await first.stop()
    client.recorder = None
    return client


def _hangups(client) -> list[dict[str, Any]]:
    return [d for d, _ in client.backlog if (d.get("result") or {}).get("event") == "hangup"]


async def test_update_with_a_new_peer_connection_keeps_the_call(gateway_factory, sip_clients,
                                                               sipp_factory) -> None:
    """The browser's connection broke: it brings a new peer connection in an ``update``; the
    SIP call goes on and audio flows both ways on the new connection (sipp echoes it)."""
    gw = await gateway_factory(media_reclaim_timeout=10)
    client = await _echo_call(gw, sip_clients, sipp_factory, 700.0)
    # the old connection goes away first, as after a network change
    await client.reset_connection()
    await asyncio.sleep(1.5)
    assert not _hangups(client), client.backlog
    client.tone = type(client.tone)(900.0)
    await client.request({"request": "update"}, await client.make_offer())
    _, answer = await client.wait_event("updated")
    assert answer is not None and answer["type"] == "answer"
    assert "PCMU/8000" in answer["sdp"] or "PCMA/8000" in answer["sdp"]
    await client.take_answer(answer)
    second = await client.wait_recorder()
    assert abs(await second.wait_tone(900.0, timeout=15) - 900.0) < 15
    await asyncio.sleep(10.5)  # past the media timeout: the renewed call is not ended
    assert not _hangups(client), client.backlog
    assert abs(await second.wait_tone(900.0, timeout=10) - 900.0) < 15
    await client.request({"request": "hangup"})
    hangup, _ = await client.wait_event("hangup")
    assert hangup["result"]["code"] == 200


async def test_a_call_without_new_media_ends_after_the_media_timeout(
        gateway_factory, sip_clients, sipp_factory) -> None:
    gw = await gateway_factory(media_reclaim_timeout=2)
    client = await _echo_call(gw, sip_clients, sipp_factory, 700.0)
    await client.reset_connection()
    hangup, _ = await client.wait_event("hangup", timeout=10)
    assert hangup["result"]["code"] == 200


async def test_by_default_a_broken_connection_ends_the_call(gateway_factory, sip_clients,
                                                            sipp_factory) -> None:
    gw = await gateway_factory()
    client = await _echo_call(gw, sip_clients, sipp_factory, 700.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.reset_connection()
    await client.wait_event("hangup", timeout=10)
    assert loop.time() - started < 8


async def test_update_without_a_call_is_refused(sip_clients) -> None:
    client = await sip_clients()
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    await client.wait_event("registered")
    await client.request({"request": "update"}, await client.make_offer())
    error = await client.wait_error()
    assert error["error_code"] == 447
