"""Token buckets and failure lock-outs per key (webfon.ratelimit), and bounded password
checks (webfon.passwords.PasswordChecks)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clock import ManualClock
from webfon.passwords import ChecksBusy, PasswordChecks, hash_password
from webfon.ratelimit import FailureLimiter, TokenBuckets


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(rate=10, burst=5, clock=clock)
    assert [buckets.allow("a") for _ in range(6)] == [True] * 5 + [False]
    assert buckets.allow("b")  # another key has its own bucket
    clock.advance(0.1)
    assert buckets.allow("a") and not buckets.allow("a")
    clock.advance(10)
    assert sum(buckets.allow("a") for _ in range(20)) == 5  # refilled up to the burst only


def test_buckets_memory_is_bounded() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(rate=1, burst=2, max_keys=100, clock=clock)
    for i in range(100):
        buckets.allow(f"10.0.0.{i}")
    clock.advance(5)  # all refilled: idle keys are forgotten first
    buckets.allow("busy")
    assert len(buckets) == 1
    for i in range(500):  # keys all active: the table is cleared rather than grow
        buckets.allow(f"10.1.{i // 256}.{i % 256}")
    assert len(buckets) <= 100


def test_failures_lock_a_key_with_back_off() -> None:
    clock = ManualClock()
    limiter = FailureLimiter(3, window_s=60, lock_s=10, max_lock_s=35, clock=clock)
    assert [limiter.fail("x") for _ in range(3)] == [0, 0, 10]
    assert limiter.locked_for("x") == 10 and limiter.locked_for("y") == 0
    clock.advance(10)
    assert limiter.locked_for("x") == 0
    assert [limiter.fail("x") for _ in range(3)] == [0, 0, 20]  # doubled
    clock.advance(20)
    assert [limiter.fail("x") for _ in range(3)] == [0, 0, 35]  # capped
    clock.advance(35 + 36)  # quiet for longer than the longest lock: starts afresh
    assert [limiter.fail("x") for _ in range(3)] == [0, 0, 10]


def test_failures_far_apart_do_not_add_up_and_success_forgets() -> None:
    clock = ManualClock()
    limiter = FailureLimiter(3, window_s=60, lock_s=10, clock=clock)
    for _ in range(5):
        assert limiter.fail("x") == 0
        clock.advance(61)
    limiter.fail("y")
    limiter.fail("y")
    limiter.succeed("y")
    assert limiter.fail("y") == 0


async def test_password_checks_are_bounded() -> None:
    stored = await asyncio.to_thread(hash_password, "1111")
    checks = PasswordChecks(limit=1, max_waiting=2)
    first = asyncio.ensure_future(checks.verify(stored, "1111"))
    waiting = [asyncio.ensure_future(checks.verify(stored, "0000")) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(ChecksBusy):
        await checks.verify(stored, "1111")
    assert await first and not any(await asyncio.gather(*waiting))
    assert await checks.verify(stored, "1111")  # free again
