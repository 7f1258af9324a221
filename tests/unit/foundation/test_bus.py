"""The event bus: in-process, through the local hub, and over a real Redis."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.net import free_port
from webfon.bus import BusHub, Event, open_bus


async def test_local_bus_delivers_by_pattern() -> None:
    bus = await open_bus("")
    calls = await bus.subscribe("call.*")
    everything = await bus.subscribe("*")
    await bus.publish("call.ended", {"call_id": "a"})
    await bus.publish("voicemail.new", {"user_id": 1})
    assert await calls.get(1) == Event("call.ended", {"call_id": "a"})
    assert (await everything.get(1)).topic == "call.ended"
    assert (await everything.get(1)).topic == "voicemail.new"
    with pytest.raises(TimeoutError):
        await calls.get(0.05)
    await bus.close()


async def test_slow_subscriber_drops_oldest_not_publisher() -> None:
    bus = await open_bus("")
    sub = await bus.subscribe("x")
    for i in range(1100):
        await bus.publish("x", {"i": i})
    assert sub.dropped == 100
    assert (await sub.get(1)).payload == {"i": 100}
    await bus.close()


async def test_hub_shares_events_between_clients() -> None:
    hub = BusHub()
    port = await hub.start()
    a = await open_bus(f"tcp://127.0.0.1:{port}")
    b = await open_bus(f"tcp://127.0.0.1:{port}")
    sub = await b.subscribe("presence")
    own = await a.subscribe("presence")
    await asyncio.sleep(0.05)
    await a.publish("presence", {"user_id": 1, "state": "ringing"})
    assert (await sub.get(2)).payload["state"] == "ringing"
    assert (await own.get(2)).payload["user_id"] == 1
    await a.close()
    await b.close()
    await hub.close()


async def test_hub_client_reconnects_and_resubscribes() -> None:
    hub = BusHub()
    port = await hub.start()
    a = await open_bus(f"tcp://127.0.0.1:{port}")
    sub = await a.subscribe("t")
    await hub.close()
    await asyncio.sleep(0.1)
    hub2 = BusHub()
    await hub2.start(port=port)
    for _ in range(50):
        if a._writer is not None:  # reconnected
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.1)
    await a.publish("t", {"ok": True})
    assert (await sub.get(3)).payload == {"ok": True}
    await a.close()
    await hub2.close()



@pytest.fixture
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by scripts/install-test-deps"
    port = free_port("tcp")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)


async def test_redis_bus_between_two_nodes(redis_url: str) -> None:
    a = await open_bus(redis_url)
    b = await open_bus(redis_url)
    sub = await b.subscribe("call.*")
    await asyncio.sleep(0.1)
    await a.publish("call.ended", {"call_id": "x", "user_id": 3})
    event = await sub.get(3)
    assert event == Event("call.ended", {"call_id": "x", "user_id": 3})
    await a.close()
    await b.close()


async def test_open_bus_rejects_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported bus URL"):
        await open_bus("amqp://x")
