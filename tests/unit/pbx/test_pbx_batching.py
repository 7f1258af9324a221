"""Write-behind batching: one flush per burst, and nothing stranded by a write that arrives
while a flush runs."""

from __future__ import annotations

import asyncio

from pbx.batching import DelayedFlush


async def test_a_burst_is_one_flush() -> None:
    flushed: list[int] = []
    pending: list[int] = []

    async def flush() -> None:
        flushed.append(len(pending))
        pending.clear()

    batcher = DelayedFlush(flush, 0.02)
    for i in range(50):
        pending.append(i)
        batcher.request()
    await asyncio.sleep(0.1)
    assert flushed == [50]


async def test_a_write_during_the_flush_gets_its_own_flush() -> None:
    flushed: list[list[str]] = []
    pending: list[str] = []
    gate = asyncio.Event()
    batcher: DelayedFlush

    async def flush() -> None:
        batch = list(pending)
        pending.clear()
        if not flushed:
            # the store is slow: a write comes in after the batch was taken
            pending.append("late")
            batcher.request()
            await gate.wait()
        flushed.append(batch)

    batcher = DelayedFlush(flush, 0.01)
    pending.append("first")
    batcher.request()
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.sleep(0.05)
    assert flushed == [["first"], ["late"]]


async def test_cancel_drops_the_pending_flush_and_requests_work_again() -> None:
    calls = 0

    async def flush() -> None:
        nonlocal calls
        calls += 1

    batcher = DelayedFlush(flush, 0.01)
    batcher.request()
    batcher.cancel()
    await asyncio.sleep(0.03)
    assert calls == 0
    batcher.request()
    await asyncio.sleep(0.03)
    assert calls == 1
