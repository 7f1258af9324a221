"""Realtime events over Socket.IO: token auth, history/voicemail/presence events from the bus,
and two FONBO nodes sharing events through a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from tests.support.net import free_port
from tests.unit.fonbo.support import (
    World,
    add_cdr,
    add_voicemail,
    make_user,
    make_world,
    start_client,
    write_wav,
)
from webfon.bus import LocalBus

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
T0 = 1_700_000_000.0


class Listener:
    """A Socket.IO client that queues every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def catch_all(event: str, data: Any = None) -> None:
            await self.events.put((event, data))

        self.sio.on("*", catch_all)

    async def connect(self, base_url: str, token: str) -> None:
        await self.sio.connect(base_url, auth={"token": token}, socketio_path="socket.io",
                               transports=["websocket"], wait_timeout=5)

    async def next(self, name: str, timeout: float = 5.0) -> Any:
        async def wait() -> Any:
            while True:
                event, data = await self.events.get()
                if event == name:
                    return data
        return await asyncio.wait_for(wait(), timeout)

    async def nothing(self, name: str, within: float = 0.5) -> bool:
        try:
            await self.next(name, within)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.sio.disconnect()


def _base(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


@pytest.fixture
async def listeners() -> AsyncIterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        with contextlib.suppress(Exception):
            await listener.close()


async def _listen(listeners: list[Listener], client: TestClient, token: str) -> Listener:
    listener = Listener()
    listeners.append(listener)
    await listener.connect(_base(client), token)
    return listener


async def test_connect_needs_a_valid_token(client: TestClient, world: World) -> None:
    for auth in (None, {"token": "nope"}, {"token": world.token(1, audience=("gateway",))},
                 {"token": world.token(1, ttl=-30)}):
        sio = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(_base(client), auth=auth, transports=["websocket"],
                              wait_timeout=5)
        await sio.disconnect()


async def test_events_reach_only_their_user(client: TestClient, world: World,
                                            listeners: list[Listener]) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    await add_voicemail(world.store, bob, write_wav(world.data_dir / "vm" / "1.wav", 0.1))
    a = await _listen(listeners, client, world.token(alice))
    b = await _listen(listeners, client, world.token(bob))
    assert await a.next("voicemail.unread") == {"unread": 0}
    assert await b.next("voicemail.unread") == {"unread": 1}
    cdr_id = await add_cdr(world.store, bob, started_at=T0, caller="600111222", callee="2002",
                           answered=False, caller_name="Carmen")
    await world.bus.publish("call.ended", {"id": cdr_id, "user_id": bob, "call_id": "x"})
    record = await b.next("history.new")
    assert record["id"] == cdr_id and record["missed"] is True
    assert record["peer_number"] == "600111222" and record["peer_name"] == "Carmen"
    msg = await add_voicemail(world.store, bob, write_wav(world.data_dir / "vm" / "2.wav", 0.1))
    await world.bus.publish("voicemail.new", {"user_id": bob, "message_id": msg, "unread": 2})
    event = await b.next("voicemail.new")
    assert event["unread"] == 2 and event["message"]["id"] == msg
    assert await a.nothing("history.new") and await a.nothing("voicemail.new", 0.1)


async def test_presence_goes_to_users_with_the_contact(client: TestClient, world: World,
                                                       listeners: list[Listener]) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    await world.store.execute("INSERT INTO contacts (owner_user_id, name, number, created_at, "
                              "updated_at) VALUES (?, 'Bob', '2002', 0, 0)", (alice,))
    a = await _listen(listeners, client, world.token(alice))
    b = await _listen(listeners, client, world.token(bob))
    assert (await a.next("presence.snapshot"))["items"] == []
    await world.bus.publish("presence", {"user_id": bob, "number": "1002", "state": "in_call"})
    assert await a.next("presence") == {"user_id": bob, "number": "1002", "state": "in_call"}
    assert await b.nothing("presence")
    late = await _listen(listeners, client, world.token(alice))
    snapshot = await late.next("presence.snapshot")
    assert snapshot["items"] == [{"user_id": bob, "number": "1002", "state": "in_call"}]
    await world.bus.publish("presence", {"user_id": bob, "state": "dancing"})
    assert await a.nothing("presence")


async def test_presence_only_of_what_the_directory_shows(client: TestClient, world: World,
                                                         listeners: list[Listener]) -> None:
    """Putting a number in one's agenda must not make its holder watchable: a test account
    and a disabled user (both hidden from the directory) and whoever holds a pool web
    extension stay invisible; a directory user is still seen."""
    alice, bob = world.users["alice"], world.users["bob"]
    tester = await make_user(world.store, "1090", "QA robot", extension="2090")
    await world.store.execute("UPDATE users SET user_type = 'test' WHERE id = ?", (tester,))
    gone = await make_user(world.store, "1091", "Former employee", extension="2091")
    await world.store.execute("UPDATE users SET enabled = 0 WHERE id = ?", (gone,))
    await world.store.execute("UPDATE users SET webphone_extension = '7001' WHERE id = ?",
                              (bob,))
    for name, number in (("QA", "2090"), ("Ex", "1091"), ("Pool", "7001")):
        await world.store.execute("INSERT INTO contacts (owner_user_id, name, number, "
                                  "created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
                                  (alice, name, number))
    a = await _listen(listeners, client, world.token(alice))
    assert (await a.next("presence.snapshot"))["items"] == []
    await world.bus.publish("presence", {"user_id": tester, "number": "2090", "state": "in_call"})
    await world.bus.publish("presence", {"user_id": gone, "number": "1091", "state": "idle"})
    await world.bus.publish("presence", {"user_id": bob, "number": "7001", "state": "ringing"})
    assert await a.nothing("presence")
    late = await _listen(listeners, client, world.token(alice))
    assert (await late.next("presence.snapshot"))["items"] == []
    await world.store.execute("INSERT INTO contacts (owner_user_id, name, number, created_at, "
                              "updated_at) VALUES (?, 'Bob', '2002', 0, 0)", (alice,))
    await world.bus.publish("presence", {"user_id": bob, "number": "7001", "state": "in_call"})
    assert await a.next("presence") == {"user_id": bob, "number": "1002", "state": "in_call"}


async def test_marking_heard_updates_my_other_sockets(client: TestClient, world: World,
                                                      listeners: list[Listener]) -> None:
    bob = world.users["bob"]
    msg = await add_voicemail(world.store, bob, write_wav(world.data_dir / "vm" / "3.wav", 0.1))
    other_tab = await _listen(listeners, client, world.token(bob))
    assert await other_tab.next("voicemail.unread") == {"unread": 1}
    r = await client.patch(f"/fonbo/voicemail/{msg}", headers=world.auth(bob),
                           json={"heard": True})
    assert r.status == 200
    assert await other_tab.next("voicemail.unread") == {"unread": 0}


# --- two nodes through Redis -------------------------------------------------------------

@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port("tcp")
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        conn = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        for _ in range(100):
            try:
                if conn.ping():
                    break
            except redis.exceptions.ConnectionError:
                if proc.poll() is not None:
                    raise RuntimeError("redis-server exited") from None
                subprocess.run(["sleep", "0.05"], check=False)
        else:
            raise RuntimeError("redis-server did not answer")
        conn.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _wait_subscribed(url: str, timeout: float = 5.0) -> None:
    import redis.asyncio as aioredis

    conn = aioredis.from_url(url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                counts = dict(await conn.pubsub_numsub("socketio"))
                if counts.get(b"socketio", 0) >= 1:
                    return
                await asyncio.sleep(0.02)
    finally:
        await conn.aclose()


async def test_two_nodes_share_events_through_redis(world: World, redis_url: str,
                                                    listeners: list[Listener]) -> None:
    bob = world.users["bob"]
    node_a = make_world(world.store, world.data_dir, bus=LocalBus(), redis_url=redis_url)
    node_b = make_world(world.store, world.data_dir, bus=LocalBus(), redis_url=redis_url)
    client_a = await start_client(node_a)
    client_b = await start_client(node_b)
    try:
        on_a = await _listen(listeners, client_a, world.token(bob))
        assert await on_a.next("voicemail.unread") == {"unread": 0}
        await _wait_subscribed(redis_url)  # node A's Socket.IO manager listens on Redis
        cdr_id = await add_cdr(world.store, bob, started_at=T0, caller="600", callee="2002")
        # the event enters through node B's bus only; the socket lives on node A
        await node_b.bus.publish("call.ended", {"id": cdr_id, "user_id": bob})
        record = await on_a.next("history.new")
        assert record["id"] == cdr_id
        assert await on_a.nothing("history.new", 0.3)  # delivered once, not once per node
        # an HTTP change on node B reaches the socket on node A
        msg = await add_voicemail(world.store, bob,
                                  write_wav(world.data_dir / "vm" / "r.wav", 0.1))
        r = await client_b.patch(f"/fonbo/voicemail/{msg}", headers=world.auth(bob),
                                 json={"heard": False})
        assert r.status == 200
        assert await on_a.next("voicemail.unread") == {"unread": 1}
    finally:
        for listener in listeners:
            await listener.close()
        await client_a.close()
        await client_b.close()
