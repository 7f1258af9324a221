"""Wake-up calls on time: the scheduler finds the due ones in the store, claims each (so one
node calls it), has the room rung (:class:`Ringer`), and then either reports the result to the
PMS or, when nobody answered and retries are left (``wakeup_retries``), tries again
``wakeup_retry_s`` later. A node that stopped mid-call leaves a lease that runs out, and the
call is tried again (as one more attempt).

Time comes from ``clock`` (the tests move it by hand); the scheduler looks again when told a
wake-up call changed (:meth:`WakeUpScheduler.changed`), when the next one is due, and at least
every ``poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from .model import HotelConfig, Room, WakeUp, WakeUpState
from .repo import HotelRepo
from .reports import wakeup_result
from .wakecall import Outcome, Rang

log = logging.getLogger("pbx.pms")

LEASE_MARGIN_S = 60.0
MESSAGE_S_MAX = 60.0
"""Longest a wake-up message is expected to play (for the lease)."""


class Ringer(Protocol):
    async def wake(self, room: Room, config: HotelConfig) -> Rang: ...


class WakeUpScheduler:
    def __init__(self, repo: HotelRepo, ringer: Ringer, *, poll_s: float = 5.0,
                 wake_outbox: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.ringer = ringer
        self.poll_s = poll_s
        self.wake_outbox = wake_outbox
        self.clock = clock
        self._changed = asyncio.Event()
        self._calling: set[asyncio.Task[Any]] = set()

    def changed(self) -> None:
        """A wake-up call was programmed, cancelled or moved: look again now."""
        self._changed.set()

    async def tick(self) -> float:
        """Start every due wake-up call; seconds until the next one is due (at most
        ``poll_s``)."""
        now = self.clock()
        config = await self.repo.config()
        lease = config.wakeup_ring_s + MESSAGE_S_MAX * config.wakeup_repeat + LEASE_MARGIN_S
        for w in await self.repo.due_wakeups(now):
            if await self.repo.claim_wakeup(w, now, lease):
                task = asyncio.ensure_future(self._attempt(replace(w, attempts=w.attempts + 1),
                                                           config))
                self._calling.add(task)
                task.add_done_callback(self._calling.discard)
        nxt = await self.repo.next_wakeup_at()
        return self.poll_s if nxt is None else max(0.0, min(self.poll_s, nxt - self.clock()))

    async def settle(self) -> None:
        """Wait for the wake-up calls in progress to finish (tests)."""
        while self._calling:
            await asyncio.gather(*list(self._calling), return_exceptions=True)

    async def _attempt(self, w: WakeUp, config: HotelConfig) -> None:
        extra: dict[str, Any] = {"wakeup_id": w.id, "room": w.room, "attempt": w.attempts}
        room = await self.repo.room(w.room)
        if room is None:
            rang = Rang(Outcome.FAILED, "room no longer exists")
        else:
            try:
                rang = await self.ringer.wake(room, config)
            except Exception:
                log.exception("wake-up call failed", extra=extra)
                rang = Rang(Outcome.FAILED, "internal error")
        now = self.clock()
        if rang.outcome is Outcome.ANSWERED:
            await self.repo.end_wakeup(w.id, WakeUpState.DONE, rang.cause, now,
                                       message=wakeup_result(w, True, rang.cause, config))
            log.info("wake-up call answered", extra=extra)
        elif w.attempts <= config.wakeup_retries:
            await self.repo.retry_wakeup(w.id, now + config.wakeup_retry_s, rang.cause, now)
            log.info("wake-up call not answered: retrying", extra={
                **extra, "cause": rang.cause, "retry_s": config.wakeup_retry_s})
            self.changed()
            return
        else:
            await self.repo.end_wakeup(w.id, WakeUpState.FAILED, rang.cause, now,
                                       message=wakeup_result(w, False, rang.cause, config))
            log.warning("wake-up call failed", extra={**extra, "cause": rang.cause})
        self.wake_outbox()

    async def run(self) -> None:
        try:
            while True:
                self._changed.clear()
                try:
                    delay = await self.tick()
                except Exception:
                    log.exception("wake-up scheduler failed")
                    delay = self.poll_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), delay)
        finally:
            for task in list(self._calling):
                task.cancel()
