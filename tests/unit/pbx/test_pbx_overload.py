"""Overload control's hysteresis, and the garbage collector's pauses as the PBX reports them."""

from __future__ import annotations

import gc

from pbx.gcpolicy import QuietCollector, YoungCollector, tune_gc
from pbx.overload import LoadState, Overload


def test_hysteresis_keeps_shedding_until_the_lag_stays_low() -> None:
    o = Overload(lag_ms=100.0, retry_after_s=5, recover_s=1.0, sustain_s=0.0)
    o.observe(20.0, 0.0)
    assert o.admit() and o.state is LoadState.NORMAL
    o.observe(150.0, 0.1)
    assert not o.admit()
    o.observe(40.0, 0.2)  # under half the threshold: calm from here
    o.observe(70.0, 0.7)  # above half: not calm yet
    o.observe(30.0, 0.8)
    o.observe(30.0, 1.7)
    assert o.overloaded
    o.observe(30.0, 1.85)
    assert o.admit() and o.snapshot()["shed"] == 1 and o.episodes == 1


def test_one_stall_is_not_overload_a_lag_that_lasts_is() -> None:
    o = Overload(lag_ms=100.0, retry_after_s=5, recover_s=1.0, sustain_s=0.5)
    o.observe(450.0, 10.0)  # a 0.45 s stall (start-up, a collection, no CPU for a moment)
    o.observe(5.0, 10.05)  # caught up: nobody is turned away
    assert o.admit() and o.episodes == 0
    for i in range(6):  # late at every look for 0.6 s: a backlog that persists
        o.observe(160.0, 11.0 + i * 0.12)
    assert not o.admit() and o.episodes == 1


def test_the_full_collection_waits_for_a_quiet_pbx() -> None:
    calls, lagging = [3], [False]
    quiet = QuietCollector(lambda: calls[0], lambda: lagging[0], check_s=1.0, max_wait_s=600.0)
    gc.collect()
    gc.collect(0)  # a young collection ran since the last full one
    start = quiet.last
    assert not quiet.due(start + 599)  # calls in progress: not before max_wait_s
    assert quiet.due(start + 601)
    lagging[0] = True
    assert not quiet.due(start + 601)  # never while the loop lags
    lagging[0], calls[0] = False, 0
    assert quiet.due(start + 1)  # no call in progress: now
    quiet.collect(start + 1)
    assert gc.get_count()[1:] == (0, 0) and not quiet.due(start + 2)  # nothing new since
    assert quiet.runs == 1


def test_the_full_collection_waits_for_the_last_calls_transactions() -> None:
    lingering = [20_000]  # a burst of calls just ended: their transactions wait out Timer J
    quiet = QuietCollector(lambda: 0, lambda: False, lingering=lambda: lingering[0],
                           max_lingering=500, check_s=1.0, max_wait_s=600.0)
    gc.collect()
    gc.collect(0)
    start = quiet.last
    assert not quiet.due(start + 1)  # it would walk every one of them
    lingering[0] = 499
    assert quiet.due(start + 1)
    lingering[0] = 20_000  # a PBX never quiet still collects, after max_wait_s
    assert quiet.due(start + 601)


def test_collections_walk_few_objects_after_tuning() -> None:
    saved = gc.get_threshold()
    try:
        frozen = tune_gc()
        assert frozen == gc.get_freeze_count() > 0
        young, middle, full = gc.get_threshold()
        assert young <= 10_000 and middle >= 10**9 and full >= 10**9
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)


def test_the_young_generation_is_collected_on_a_clock() -> None:
    """Every tick collects the young generation whatever the allocation count says (old
    objects freed lower it), and never the middle one: what survives is freed by reference
    counting, or waits for the full collection when the PBX is quiet."""
    saved = gc.get_threshold()
    young = YoungCollector(every_s=0.1)
    try:
        tune_gc()
        before = gc.get_stats()
        assert [young.tick() for _ in range(6)] == [True] * 6
        after = gc.get_stats()
        assert after[0]["collections"] - before[0]["collections"] == 6
        assert after[1]["collections"] == before[1]["collections"]
        assert gc.get_count()[0] < 100  # the young generation was just emptied
        assert gc.get_count()[1] >= 6  # and nothing else was walked
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)


def test_a_quiet_pbx_is_not_collected_at_every_tick() -> None:
    """With the SIP messages taken in as its measure, the clock collects only once enough came
    in since the last collection: a few calls a second leave too few objects for ten
    collections a second to be worth their cost."""
    received = [0]
    young = YoungCollector(every_s=0.1, activity=lambda: received[0], messages=100)
    assert not young.tick()  # nothing happened
    received[0] = 99
    assert not young.tick()
    received[0] = 100
    assert young.tick()
    received[0] = 150
    assert not young.tick()  # 50 since the last collection
    received[0] = 10_000
    assert [young.tick() for _ in range(3)] == [True, False, False]
    assert young.ticks == 2
