"""The event bus: ``publish(topic, payload)`` and ``subscribe(pattern)`` across components.

Three transports behind one interface, chosen by URL:

* ``""`` — in-process only (tests, or every app in one process);
* ``tcp://127.0.0.1:PORT`` — a small hub (:class:`BusHub`) that ``webfon up`` runs, so the
  components of one machine share events without any external service;
* ``redis://…`` — Redis pub/sub, for several nodes.

Patterns are shell-style (``call.*``). Payloads are JSON objects. A slow subscriber never blocks
a publisher: its queue is bounded and the oldest events are dropped (and counted).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import fnmatch
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("webfon.bus")

QUEUE_SIZE = 1000
MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    payload: dict[str, Any]


class Subscription:
    """An async iterator of the events matching ``pattern``."""

    def __init__(self, bus: Bus, pattern: str) -> None:
        self.bus = bus
        self.pattern = pattern
        self.dropped = 0
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def matches(self, topic: str) -> bool:
        return fnmatch.fnmatchcase(topic, self.pattern)

    def deliver(self, event: Event) -> None:
        if self.closed:
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> Event:
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is None:
            raise StopAsyncIteration
        return event

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        return await self.get()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            await self.bus._unsubscribe(self)


class Bus(abc.ABC):
    def __init__(self) -> None:
        self._subs: list[Subscription] = []

    def _fanout(self, event: Event) -> None:
        for sub in list(self._subs):
            if sub.matches(event.topic):
                sub.deliver(event)

    async def subscribe(self, pattern: str) -> Subscription:
        sub = Subscription(self, pattern)
        self._subs.append(sub)
        await self._remote_subscribe(pattern)
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)

    async def _remote_subscribe(self, pattern: str) -> None:
        return None

    @abc.abstractmethod
    async def publish(self, topic: str, payload: dict[str, Any]) -> None: ...

    async def close(self) -> None:
        for sub in list(self._subs):
            await sub.close()


class LocalBus(Bus):
    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self._fanout(Event(topic, dict(payload)))


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, default=str, separators=(",", ":")).encode() + b"\n"


class HubBus(Bus):
    """Client of a :class:`BusHub`; reconnects by itself and re-sends its subscriptions."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self, timeout: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)

    async def _run(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port,
                                                               limit=MAX_LINE)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            self._writer = writer
            for pattern in {s.pattern for s in self._subs}:
                writer.write(_encode({"op": "sub", "pattern": pattern}))
            self._connected.set()
            try:
                while line := await reader.readline():
                    try:
                        msg = json.loads(line)
                        self._fanout(Event(str(msg["topic"]), dict(msg["payload"])))
                    except (ValueError, KeyError, TypeError):
                        log.warning("bad message from bus hub")
            except (OSError, asyncio.LimitOverrunError, ValueError):
                pass
            self._connected.clear()
            self._writer = None
            writer.close()
            if not self._closing:
                log.warning("bus hub connection lost; reconnecting")

    async def _remote_subscribe(self, pattern: str) -> None:
        if self._writer is not None:
            self._writer.write(_encode({"op": "sub", "pattern": pattern}))
            await self._writer.drain()

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self._writer is None:
            log.warning("bus hub unreachable; event delivered locally only",
                        extra={"topic": topic})
            self._fanout(Event(topic, dict(payload)))
            return
        self._writer.write(_encode({"op": "pub", "topic": topic, "payload": payload}))
        with contextlib.suppress(OSError):
            await self._writer.drain()

    async def close(self) -> None:
        self._closing = True
        await super().close()
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class BusHub:
    """The local hub: relays each published event to every client subscribed to its topic."""

    def __init__(self) -> None:
        self._clients: dict[asyncio.StreamWriter, set[str]] = {}
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        patterns: set[str] = set()
        self._clients[writer] = patterns
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                    if msg.get("op") == "sub":
                        patterns.add(str(msg["pattern"]))
                    elif msg.get("op") == "pub":
                        self._relay(str(msg["topic"]), msg.get("payload") or {})
                except (ValueError, KeyError, TypeError, AttributeError):
                    log.warning("bad message from bus client")
        except (OSError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()

    def _relay(self, topic: str, payload: dict[str, Any]) -> None:
        data = _encode({"topic": topic, "payload": payload})
        for writer, patterns in list(self._clients.items()):
            if any(fnmatch.fnmatchcase(topic, p) for p in patterns):
                if writer.transport.get_write_buffer_size() > 8 * MAX_LINE:
                    log.warning("bus client too slow; event dropped", extra={"topic": topic})
                    continue
                writer.write(data)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            await self._server.wait_closed()


class RedisBus(Bus):
    """Redis pub/sub; every process keeps one pattern subscription per local pattern.

    Redis restarting (or unreachable for a while) is survived: the listener reconnects with
    back-off and subscribes its patterns again, and events published meanwhile are delivered
    to this process's own subscribers only (logged), as with the local hub.
    """

    RETRY_MAX_S = 5.0

    def __init__(self, url: str, channel_prefix: str = "webfon:") -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self.prefix = channel_prefix
        self._redis = aioredis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._patterns: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._down = False

    async def start(self) -> None:
        """Check Redis answers; if not, the component still starts and connects later."""
        from redis.exceptions import RedisError

        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            self._went_down(exc)

    async def _remote_subscribe(self, pattern: str) -> None:
        from redis.exceptions import RedisError

        self._patterns.add(pattern)
        try:
            await self._pubsub.psubscribe(self.prefix + pattern)
        except RedisError as exc:  # the listener subscribes it once Redis is back
            self._went_down(exc)
        if self._task is None:
            self._task = asyncio.create_task(self._listen())

    def _went_down(self, exc: BaseException) -> None:
        if not self._down:
            log.warning("redis bus unreachable; reconnecting", extra={"error": str(exc)})
        self._down = True

    async def _resubscribe(self) -> None:
        """A fresh pub/sub connection with every pattern subscribed again."""
        old, self._pubsub = self._pubsub, self._redis.pubsub()
        with contextlib.suppress(Exception):
            await old.aclose()
        await self._pubsub.psubscribe(*(self.prefix + p for p in sorted(self._patterns)))

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        delay = 0.2
        while True:
            try:
                if self._down:
                    await self._resubscribe()
                    log.info("redis bus reconnected; subscriptions restored",
                             extra={"patterns": len(self._patterns)})
                    self._down = False
                    delay = 0.2
                msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (RedisError, OSError) as exc:
                self._went_down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_S)
                continue
            if msg is None:
                continue
            try:
                topic = msg["channel"].decode().removeprefix(self.prefix)
                self._fanout(Event(topic, dict(json.loads(msg["data"]))))
            except (ValueError, TypeError, AttributeError):
                log.warning("bad message on redis bus")

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        from redis.exceptions import RedisError

        try:
            await self._redis.publish(self.prefix + topic, _encode(payload))
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            log.warning("redis bus unreachable; event delivered locally only",
                        extra={"topic": topic})
            self._fanout(Event(topic, dict(payload)))

    async def close(self) -> None:
        await super().close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        await self._redis.aclose()


async def open_bus(url: str = "") -> Bus:
    if not url:
        return LocalBus()
    parts = urlparse(url)
    if parts.scheme == "tcp":
        bus = HubBus(parts.hostname or "127.0.0.1", parts.port or 0)
        await bus.start()
        return bus
    if parts.scheme in ("redis", "rediss", "unix"):
        rbus = RedisBus(url)
        await rbus.start()
        return rbus
    raise ValueError(f"unsupported bus URL {url!r} (use '', tcp://host:port or redis://…)")
