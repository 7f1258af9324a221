"""Write-behind batching: a flush runs a short while after the first write asks for it, so a
burst of writes (CDR rows, registrations) costs one store transaction instead of one each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class DelayedFlush:
    """Calls ``flush`` ``delay`` seconds after :meth:`request`; requests made meanwhile join
    that flush, and one made while it runs gets another flush ``delay`` seconds later."""

    def __init__(self, flush: Callable[[], Awaitable[None]], delay: float) -> None:
        self._flush = flush
        self.delay = delay
        self._task: asyncio.Task[None] | None = None
        self._waiting = False
        self._again = False

    def request(self) -> None:
        if self._waiting:
            return
        if self._task is not None and not self._task.done():
            self._again = True  # asked while flushing: what was asked may have missed it
            return
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            self._waiting, self._again = True, False
            try:
                await asyncio.sleep(self.delay)
            finally:
                self._waiting = False
            await self._flush()
            if not self._again:
                return

    def cancel(self) -> None:
        """Drop the pending flush (the owner flushes itself when it closes)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._waiting = self._again = False
