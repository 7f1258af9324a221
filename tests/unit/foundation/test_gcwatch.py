"""GcWatch counts the collector's work per generation; tune freezes start-up objects."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from webfon.gcwatch import PAUSE_BUCKETS_MS, GcWatch, merge, tune


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_collections_are_counted_per_generation_with_their_pauses() -> None:
    watch = GcWatch(count_objects=True)
    try:
        gc.collect(0)
        gc.collect(0)
        gc.collect(2)
    finally:
        watch.stop()
    figures = watch.figures()
    assert figures["gc_collections"][0] >= 2 and figures["gc_collections"][2] >= 1
    assert sum(figures["gc_pause_buckets"]) == sum(figures["gc_collections"])
    assert len(figures["gc_pause_buckets"]) == len(PAUSE_BUCKETS_MS)
    assert figures["gc_pause_max_ms"][2] > 0
    assert figures["gc_walked_max"][2] > figures["gc_walked_max"][0]
    gc.collect(0)  # stopped: no longer counted
    assert watch.figures()["gc_collections"] == figures["gc_collections"]


def test_tune_freezes_what_is_alive_sets_thresholds_and_counts_afresh(restore_gc) -> None:
    watch = GcWatch()
    try:
        gc.collect(0)
        frozen = tune((900, 11, 12), watch)
        assert frozen > 1000 and gc.get_freeze_count() > 1000
        figures = watch.figures()
        assert figures["gc_collections"] == [0, 0, 0]  # tune's own collection is not load's
        assert figures["gc_frozen"] == frozen and figures["gc_threshold"] == [900, 11, 12]
        gc.collect(2)
        assert watch.figures()["gc_collections"][2] == 1
    finally:
        watch.stop()


def test_merge_sums_counts_and_keeps_the_longest_pause() -> None:
    a = {"gc_collections": [3, 1, 0], "gc_pause_max_ms": [0.5, 4.0, 0.0], "gc_frozen": 9,
         "gc_threshold": [700, 10, 10]}
    b = {"gc_collections": [2, 0, 1], "gc_pause_max_ms": [0.7, 1.0, 12.0], "gc_frozen": 9,
         "gc_threshold": [700, 10, 10]}
    assert merge([a, b]) == {"gc_collections": [5, 1, 1], "gc_pause_max_ms": [0.7, 4.0, 12.0]}
    assert merge([]) == {}


def test_the_pbx_snapshot_times_pauses_per_generation_while_watched() -> None:
    watch = GcWatch(start=False)
    gc.collect(0)  # not watched yet
    assert watch.snapshot()["collections"] == [0, 0, 0]
    watch.start()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        watch.stop()
    snap = watch.snapshot()
    assert snap["collections"][2] >= 1 and snap["collections"][0] >= 1
    assert sum(snap["pauses"].values()) == sum(snap["collections"])
    assert snap["max_ms"] > 0 and snap["max_pause_ms"][2] > 0
    assert 0 <= snap["cpu_of_max_pause_ms"][2] and snap["total_pause_cpu_ms"][2] >= 0
    gc.collect()  # no longer watched
    assert watch.snapshot()["collections"] == snap["collections"]
    watch.reset(frozen=7)
    assert watch.snapshot()["collections"] == [0, 0, 0] and watch.snapshot()["frozen"] == 7


def test_a_pause_spent_waiting_shows_little_cpu() -> None:
    """A pause on the wall clock and on the thread's CPU clock: one the process spent
    descheduled (here: asleep between the callback's two phases) is told apart from the
    collector's own work."""
    watch = GcWatch(start=False)
    watch._callback("start", {"generation": 0})
    time.sleep(0.05)
    watch._callback("stop", {"generation": 0, "collected": 0})
    snap = watch.snapshot()
    assert snap["max_pause_ms"][0] >= 50.0
    assert snap["cpu_of_max_pause_ms"][0] < 10.0 and snap["max_pause_cpu_ms"][0] < 10.0
    assert snap["total_pause_cpu_ms"][0] < 10.0 <= snap["total_pause_ms"][0]
    figures = watch.figures()
    assert figures["gc_cpu_of_pause_max_ms"][0] < 10.0 <= figures["gc_pause_max_ms"][0]
