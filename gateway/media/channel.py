"""A message channel between the gateway and one media worker process.

One ``AF_UNIX``/``SOCK_SEQPACKET`` socket pair: each message is one packet (a pickled tuple,
``(op, *args)``), and may carry file descriptors (the UDP sockets a worker takes over).
Sending never blocks the event loop: what the socket cannot take yet waits in a queue, with
its descriptors kept open until they went out. Both ends are this project's own processes,
started by the gateway with the socket inherited; nothing else can write to it.

The channel runs on whatever loop it is given (``add_reader``/``add_writer`` and their
removal): the gateway's asyncio loop, or a worker's :class:`~gateway.media.reactor.Reactor`.
"""

from __future__ import annotations

import collections
import logging
import os
import pickle
import socket
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("gateway.media.channel")

MAX_MESSAGE = 65536
MAX_FDS = 4

Handler = Callable[[tuple[Any, ...], list[int]], None]


class Loop(Protocol):
    """What a channel needs of its event loop (asyncio's loops and the worker's reactor)."""

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None: ...

    def remove_reader(self, fd: int) -> bool: ...

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None: ...

    def remove_writer(self, fd: int) -> bool: ...


class Channel:
    """Both ends use this: ``send`` a tuple (with descriptors), ``handler`` gets each one."""

    def __init__(self, sock: socket.socket, handler: Handler,
                 on_closed: Callable[[], None] | None = None, loop: Loop | None = None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.handler = handler
        self.on_closed = on_closed
        self.closed = False
        self._queue: collections.deque[tuple[bytes, list[int]]] = collections.deque()
        if loop is None:
            import asyncio

            loop = asyncio.get_running_loop()
        self._loop = loop
        self._writing = False
        self._loop.add_reader(sock.fileno(), self._readable)

    def send(self, message: tuple[Any, ...], fds: list[int] | tuple[int, ...] = ()) -> None:
        """Queue ``message``; ``fds`` are duplicated, so the caller may close its own."""
        if self.closed:
            for fd in fds:
                log.debug("channel closed: descriptor %d not sent", fd)
            return
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"message {message[0]!r} too large ({len(data)} bytes)")
        owned = [os.dup(fd) for fd in fds]
        if self._queue:
            self._queue.append((data, owned))
            return
        if not self._write(data, owned):
            self._queue.append((data, owned))
            self._want_write()

    def _write(self, data: bytes, fds: list[int]) -> bool:
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            log.warning("media worker channel send failed: %s", exc)
            self._close_fds(fds)
            self.close()
            return True
        self._close_fds(fds)
        return True

    def _want_write(self) -> None:
        if not self._writing and not self.closed:
            self._writing = True
            self._loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        while self._queue and not self.closed:
            data, fds = self._queue[0]
            if not self._write(data, fds):
                return
            if self._queue:
                self._queue.popleft()
        if self._writing and not self.closed:
            self._loop.remove_writer(self.sock.fileno())
        self._writing = False

    @staticmethod
    def _close_fds(fds: list[int]) -> None:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def _readable(self) -> None:
        for _ in range(64):
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MESSAGE, MAX_FDS)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionResetError:  # the other end is gone: a close
                self.close()
                return
            except OSError as exc:
                log.warning("media worker channel receive failed: %s", exc)
                self.close()
                return
            if not data:
                self.close()
                return
            try:
                message = pickle.loads(data)
            except Exception:
                log.error("unreadable message on the media worker channel")
                self._close_fds(fds)
                continue
            try:
                self.handler(message, fds)
            except Exception:
                log.exception("media worker message %r failed", message[0])

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._loop.remove_reader(self.sock.fileno())
            if self._writing:
                self._loop.remove_writer(self.sock.fileno())
        except (ValueError, OSError):
            pass
        while self._queue:
            self._close_fds(self._queue.popleft()[1])
        self.sock.close()
        if self.on_closed is not None:
            self.on_closed()
