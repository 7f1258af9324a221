"""The PBX's periodic ticks: timer callbacks that report how late they ran, survive a failing
tick and stop when cancelled."""

from __future__ import annotations

import asyncio
import time

from pbx.ticker import every


async def test_ticks_report_their_lateness_and_survive_a_failure() -> None:
    lates: list[float] = []
    fifth = asyncio.Event()

    def tick(late_s: float) -> None:
        lates.append(late_s)
        if len(lates) == 5:
            fifth.set()
        if len(lates) == 2:
            raise RuntimeError("one bad tick")
        if len(lates) == 3:  # something else holds the loop: the next tick comes late
            asyncio.get_running_loop().call_soon(time.sleep, 0.05)

    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        task = asyncio.ensure_future(every(0.01, tick))
        await asyncio.wait_for(fifth.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        count = len(lates)
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
    assert len(lates) == count  # cancelled: no more ticks
    assert len(errors) == 1 and isinstance(errors[0]["exception"], RuntimeError)
    assert all(late >= 0 for late in lates)
    assert lates[3] >= 0.035  # due 10 ms after the third, run after the loop's 50 ms stall
