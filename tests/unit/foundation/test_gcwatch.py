"""GcWatch counts the collector's work per generation; tune freezes start-up objects."""

from __future__ import annotations

import gc
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
