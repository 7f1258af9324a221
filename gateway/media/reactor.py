"""A small epoll event loop for media worker processes.

A media worker waits on a few hundred UDP sockets and its channel to the gateway, and runs a
couple of timers. :class:`Reactor` is what that needs and nothing more: level-triggered
``epoll`` readiness callbacks (``add_reader`` / ``add_writer``, named as asyncio's, so
:class:`~gateway.media.channel.Channel` runs on either), ``call_later`` timers and a ``now``
read once per wake-up, which every packet handled in that pass shares as its arrival time.

Compared with asyncio (or uvloop) in the worker it saves, per packet, the protocol dispatch,
a ``bytes`` object, a second ``recvmsg`` returning ``EAGAIN`` (uvloop reads until the socket
is empty) and a conversion of the source address to text by libuv; and per process the
memory of importing asyncio (about 10 MB). Callbacks do their own socket reads.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gateway.media.reactor")

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_READ_EVENTS = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP


class Timer:
    """A callback due at ``when`` (the reactor's monotonic clock); ``cancel()`` drops it."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Reactor:
    """Readiness callbacks on file descriptors, timers, and a clean stop on SIGTERM."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._running = False
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self.now = time.monotonic()
        self.wakeups = 0   # epoll_wait returns (for the worker's statistics)
        self.events = 0    # descriptors reported ready by them

    # --- descriptors (asyncio's names and signatures, without *args) --------------------
    def _mask(self, fd: int) -> int:
        return (_IN if fd in self._readers else 0) | (_OUT if fd in self._writers else 0)

    def _update(self, fd: int, had: int) -> None:
        mask = self._mask(fd)
        if mask == had:
            return
        if not had:
            self._epoll.register(fd, mask)
        elif not mask:
            self._epoll.unregister(fd)
        else:
            self._epoll.modify(fd, mask)

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        had = self._mask(fd)
        self._readers[fd] = callback
        self._update(fd, had)

    def remove_reader(self, fd: int) -> bool:
        had = self._mask(fd)
        if self._readers.pop(fd, None) is None:
            return False
        try:
            self._update(fd, had)
        except OSError:   # already closed: the kernel dropped it from the set
            pass
        return True

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None:
        had = self._mask(fd)
        self._writers[fd] = callback
        self._update(fd, had)

    def remove_writer(self, fd: int) -> bool:
        had = self._mask(fd)
        if self._writers.pop(fd, None) is None:
            return False
        try:
            self._update(fd, had)
        except OSError:
            pass
        return True

    # --- time ---------------------------------------------------------------------------
    def time(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay), callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_later(0.0, callback, *args)

    # --- running ------------------------------------------------------------------------
    def stop(self) -> None:
        self._running = False

    def stop_on_signals(self, *signals: int) -> None:
        """Stop when one of ``signals`` arrives (the wake-up descriptor interrupts a wait)."""
        if self._wakeup is None:
            ours, theirs = socket.socketpair()
            ours.setblocking(False)
            theirs.setblocking(False)
            self._wakeup = (ours, theirs)
            signal.set_wakeup_fd(theirs.fileno(), warn_on_full_buffer=False)
            self.add_reader(ours.fileno(), self._drain_wakeup)
        for signum in signals:
            signal.signal(signum, lambda *_: self.stop())

    def _drain_wakeup(self) -> None:
        assert self._wakeup is not None
        try:
            while self._wakeup[0].recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def run(self) -> None:
        """Run until :meth:`stop`."""
        self._running = True
        poll = self._epoll.poll
        readers, writers, timers = self._readers, self._writers, self._timers
        clock = time.monotonic
        while self._running:
            if timers:
                timeout = max(0.0, timers[0][0] - clock())
            else:
                timeout = -1.0
            events = poll(timeout)
            self.now = now = clock()
            if events:
                self.wakeups += 1
                self.events += len(events)
            for fd, mask in events:
                try:
                    if mask & _READ_EVENTS:
                        callback = readers.get(fd)
                        if callback is not None:
                            callback()
                    if mask & _OUT:
                        callback = writers.get(fd)
                        if callback is not None:
                            callback()
                except Exception:
                    log.exception("media worker callback failed")
            while timers and timers[0][0] <= now:
                timer = heapq.heappop(timers)[2]
                if timer.cancelled:
                    continue
                try:
                    timer.callback(*timer.args)
                except Exception:
                    log.exception("media worker timer failed")

    def close(self) -> None:
        if self._wakeup is not None:
            signal.set_wakeup_fd(-1)
            for sock in self._wakeup:
                sock.close()
            self._wakeup = None
        self._epoll.close()
