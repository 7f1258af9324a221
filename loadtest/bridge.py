"""An asyncio event loop on a native thread of a gevent process, and a way for a greenlet to
run a coroutine there and wait for it without blocking the other greenlets.

Locust's processes are gevent processes (it monkey-patches the standard library when imported);
aiortc and aiohttp are asyncio libraries. A worker runs its load generator
(:class:`loadtest.engine.Engine`) on this thread, with uvloop when available, and Locust's
users, which are greenlets, hand work to it with :meth:`AsyncioThread.run`. The thread is
started with the original, unpatched ``start_new_thread`` so it is a real OS thread; uvloop
does its I/O in libuv, below the patched socket module.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import gevent
import gevent.event
from gevent import monkey

T = TypeVar("T")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class AsyncioThread:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    def start(self) -> None:
        start_new_thread = monkey.get_original("_thread", "start_new_thread")
        start_new_thread(self._main, ())
        while self.loop is None:
            gevent.sleep(0.005)

    def _main(self) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the thread's loop; the calling greenlet waits cooperatively. A
        greenlet killed while waiting cancels the coroutine."""
        loop = self.loop
        if loop is None or self._stopped:
            coro.close()
            raise RuntimeError("the asyncio thread is not running")
        hub = gevent.get_hub()
        watcher = hub.loop.async_()
        done = gevent.event.Event()
        watcher.start(done.set)
        box: dict[str, Any] = {}

        def finished(task: asyncio.Future[T]) -> None:
            box["result"] = task
            watcher.send()  # wakes the hub thread; safe from any thread

        def schedule() -> None:
            task = asyncio.ensure_future(coro)
            box["task"] = task
            task.add_done_callback(finished)

        loop.call_soon_threadsafe(schedule)
        try:
            if not done.wait(timeout):
                raise TimeoutError(f"no result within {timeout}s")
        except BaseException:
            loop.call_soon_threadsafe(lambda: box["task"].cancel() if "task" in box else None)
            raise
        finally:
            watcher.stop()
            watcher.close()
        return box["result"].result()  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.loop is not None and not self._stopped:
            self._stopped = True
            self.loop.call_soon_threadsafe(self.loop.stop)
