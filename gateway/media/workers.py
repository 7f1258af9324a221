"""Media workers: processes that relay calls' audio beside the gateway's one event loop.

The gateway keeps the Janus API, the plugins, SIP, ICE and DTLS. Once a call's WebRTC
connection is up, its relay (SRTP in and out, payload rewriting, the plain RTP socket towards
SIP) moves to a worker: the sockets are passed over a :class:`~gateway.media.channel.Channel`
together with the SRTP keys, so packets go from socket to socket in the worker without
crossing the gateway's loop. Each worker is one more core's worth of relaying; the gateway
hands new calls to the worker with the fewest.

``media_workers`` in the settings: ``0`` relays in the gateway itself, ``-1`` starts one
worker per CPU the gateway may use but one (the gateway's own loop keeps a CPU's share for
ICE, DTLS handshakes and SIP), at least one, ``N`` starts N.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from typing import Any, Protocol

from gateway.media.channel import Channel

log = logging.getLogger("gateway.media.workers")


class WorkerClient(Protocol):
    """A leg relayed by a worker: it gets the worker's reports about it."""

    def worker_message(self, op: str, args: tuple[Any, ...]) -> None: ...


class MediaWorker:
    """One worker process and its channel, seen from the gateway."""

    def __init__(self, index: int, log_level: str = "warning", log_format: str = "json") -> None:
        self.index = index
        self.log_args = (log_level, log_format)
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.clients: dict[int, WorkerClient] = {}
        self._next = 0
        self.alive = False
        self.health: dict[str, Any] = {}  # the worker's own figures (loop, collector)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    async def start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.media.relay_worker", str(theirs.fileno()),
                *self.log_args, pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True)
        finally:
            theirs.close()
        self.channel = Channel(mine, self._received, self._closed)
        self.alive = True
        log.info("media worker started", extra={"worker": self.index, "pid": self.pid})

    def register(self, client: WorkerClient) -> int:
        self._next += 1
        self.clients[self._next] = client
        return self._next

    def forget(self, endpoint: int) -> None:
        self.clients.pop(endpoint, None)

    def send(self, message: tuple[Any, ...], fds: list[int] | tuple[int, ...] = ()) -> None:
        if self.channel is not None:
            self.channel.send(message, fds)

    def _received(self, message: tuple[Any, ...], fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        op = message[0]
        if op == "health":
            self.health = message[2]
            return
        if op == "stats":
            for endpoint, counters in message[1].items():
                client = self.clients.get(endpoint)
                if client is not None:
                    client.worker_message("stats", (counters,))
            return
        client = self.clients.get(message[1])
        if client is not None:
            client.worker_message(op, message[2:])

    def _closed(self) -> None:
        was_alive, self.alive = self.alive, False
        if was_alive:
            log.error("media worker stopped", extra={"worker": self.index, "pid": self.pid,
                                                     "legs": len(self.clients)})
        clients, self.clients = self.clients, {}
        for client in clients.values():
            client.worker_message("gone", ())

    async def stop(self) -> None:
        self.alive = False
        if self.channel is not None:
            self.channel.close()  # the worker ends when its channel does
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


def default_count() -> int:
    """Workers for ``media_workers = -1``: one per CPU this process may use, but one."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


class MediaWorkers:
    """The pool: started with the gateway, stopped with it."""

    def __init__(self, count: int, log_level: str = "warning", log_format: str = "json") -> None:
        if count < 0:
            count = default_count()
        self.workers = [MediaWorker(i, log_level, log_format) for i in range(count)]

    async def start(self) -> None:
        await asyncio.gather(*(w.start() for w in self.workers))

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)

    def choose(self) -> MediaWorker | None:
        """The live worker relaying the fewest legs."""
        alive = [w for w in self.workers if w.alive]
        return min(alive, key=lambda w: len(w.clients)) if alive else None

    def describe(self) -> list[dict[str, Any]]:
        return [{"index": w.index, "pid": w.pid, "alive": w.alive, "legs": len(w.clients),
                 "health": w.health} for w in self.workers]
