"""Overload control's hysteresis, and the garbage collector's pauses as the PBX reports them."""

from __future__ import annotations

import gc

from pbx.gcwatch import GcWatch
from pbx.overload import LoadState, Overload


def test_hysteresis_keeps_shedding_until_the_lag_stays_low() -> None:
    o = Overload(lag_ms=100.0, retry_after_s=5, recover_s=1.0)
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


def test_gc_pauses_are_timed_per_generation_while_watched() -> None:
    watch = GcWatch()
    watch.start()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        watch.close()
    snap = watch.snapshot()
    assert snap["collections"][2] >= 1 and snap["collections"][0] >= 1
    assert sum(snap["pauses"].values()) == sum(snap["collections"])
    assert snap["max_ms"] > 0 and snap["max_pause_ms"][2] > 0
    gc.collect()  # no longer watched
    assert watch.snapshot()["collections"] == snap["collections"]
    watch.reset()
    assert watch.snapshot()["collections"] == [0, 0, 0]
