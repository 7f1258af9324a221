"""Periodic work on the event loop as plain timer callbacks: no task step and no future per
tick, for the PBX's measurements that run many times a second (overload lag, the collector's
clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def every(interval_s: float, tick: Callable[[float], None]) -> None:
    """Call ``tick(late_s)`` every ``interval_s`` until cancelled; ``late_s`` is how long after
    its due time the call came (a busy loop runs timers late). An exception in ``tick`` does
    not stop the ticks (the loop's exception handler reports it)."""
    loop = asyncio.get_running_loop()
    timer: asyncio.TimerHandle

    def fire(due: float) -> None:
        nonlocal timer
        try:
            tick(loop.time() - due)
        finally:
            due = loop.time() + interval_s
            timer = loop.call_at(due, fire, due)

    due = loop.time() + interval_s
    timer = loop.call_at(due, fire, due)
    try:
        await loop.create_future()
    finally:
        timer.cancel()
