"""When the garbage collector may stop the PBX: short young collections while calls run, the
full collection only when the PBX is quiet.

A collection's pause grows with the objects it walks. Under load most of the PBX's tracked
objects are transactions waiting out their timers (up to 64*T1 = 32 s on UDP, ~150 objects a
call): hundreds of thousands at a few hundred calls a second. Python's default schedule walks
them again and again — a middle-generation collection every 20 young ones took 0.47 s at
300 calls/s with a 50,000 threshold, and a full collection walks all of them. So:

* the objects of start-up are frozen (never walked again);
* the young generation is collected often, over few objects (:data:`THRESHOLDS`), and also
  on a clock (:class:`YoungCollector`, every ``YOUNG_EVERY_S`` once ``YOUNG_MESSAGES`` SIP
  messages came in since the last): Python starts a young collection when allocations minus
  deallocations pass the threshold, and every old object freed counts as a deallocation.
  Under load the transactions of earlier calls expire by the thousand a second, so the count
  stays low while the young generation grows: 50,000 objects walked in one young collection
  at 400 calls a second, against the 10,000 the threshold suggests;
* the middle generation is never collected on its own: what survives a young collection
  (a call in progress, a transaction waiting out its timers) is freed by reference counting
  when its time comes — calls leave no reference cycles — so walking it again finds nothing.
  Measured at 350–550 calls a second: 925 young and middle collections found no garbage at
  all, and the middle ones were 62 % of the collector's CPU (3.4 s of 5.4 s);
* the automatic full collection is off; :class:`QuietCollector` runs it when no call is in
  progress and the transactions of the last calls have waited out their timers, or — a PBX
  never idle — once ``max_wait_s`` has passed, when the loop is not lagging. The lingering
  transactions are freed by reference counting, not by the collector: only cyclic garbage
  that outlived a young collection waits for the full collection. Run while they linger,
  the full collection walks them all: 1.2 s right after a minute at 1000 calls a second;
  once they are gone, only what lives on (registrations, settings, caches).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

from .ticker import every

log = logging.getLogger("pbx.gc")

YOUNG = 10_000
NEVER = 1_000_000_000
THRESHOLDS = (YOUNG, NEVER, NEVER)
QUIET_TRANSACTIONS = 500
"""At most this many transactions alive for the PBX to count as quiet (registrations' own
linger too: 500 is a refresh every 64 ms)."""


def tune_gc() -> int:
    """Collect and freeze what start-up made, set :data:`THRESHOLDS`; how many objects were
    frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return gc.get_freeze_count()


YOUNG_EVERY_S = 0.1
YOUNG_MESSAGES = 100
"""SIP messages taken in since the last clock collection for the next tick to collect: each
leaves objects behind (transactions, dialogs, parsed headers), a hundred about the young
generation's threshold."""


class YoungCollector:
    """Collects the young generation on a clock, so each collection walks only what was made
    since the last (see the module's docstring).

    With ``activity`` (SIP messages taken in so far), a tick collects only once ``messages``
    more came in since the last collection: a PBX carrying a few calls a second makes too few
    objects for a collection every ``every_s`` to be worth its cost (Python's own threshold
    still applies), one carrying hundreds collects at every tick."""

    def __init__(self, every_s: float = YOUNG_EVERY_S,
                 activity: Callable[[], int] | None = None,
                 messages: int = YOUNG_MESSAGES) -> None:
        self.every_s = every_s
        self.activity = activity
        self.messages = messages
        self.ticks = 0
        self._seen = activity() if activity is not None else 0

    def tick(self) -> bool:
        """One young collection, unless too little happened since the last; whether it
        ran."""
        if self.activity is not None:
            now = self.activity()
            if now - self._seen < self.messages:
                return False
            self._seen = now
        self.ticks += 1
        gc.collect(0)
        return True

    async def run(self) -> None:
        """Tick every ``every_s`` until cancelled."""
        await every(self.every_s, lambda _late: self.tick())


class QuietCollector:
    """Runs the full collection when the PBX is quiet (see the module's docstring)."""

    def __init__(self, calls_in_progress: Callable[[], int], lagging: Callable[[], bool], *,
                 lingering: Callable[[], int] = lambda: 0, max_lingering: int = QUIET_TRANSACTIONS,
                 check_s: float = 30.0, max_wait_s: float = 3600.0) -> None:
        self.calls_in_progress = calls_in_progress
        self.lagging = lagging
        self.lingering = lingering
        """Transactions alive (those of ended calls wait out their timers, 32 s on UDP)."""
        self.max_lingering = max_lingering
        self.check_s = check_s
        self.max_wait_s = max_wait_s
        self.last = time.monotonic()
        self.runs = 0

    def due(self, now: float) -> bool:
        """Whether the full collection should run now."""
        if self.lagging():
            return False
        if self.calls_in_progress() == 0 and self.lingering() <= self.max_lingering:
            return any(gc.get_count()[1:])  # collections ran since the last full one
        return now - self.last >= self.max_wait_s

    def collect(self, now: float) -> int:
        self.last = now
        self.runs += 1
        return gc.collect()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            now = time.monotonic()
            if self.due(now):
                self.collect(now)
