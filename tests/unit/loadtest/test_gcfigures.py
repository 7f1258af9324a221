"""The gateway's collector figures as the benchmark reads them from /metrics."""

from __future__ import annotations

from gateway.admin import gc_metrics
from loadtest.gcfigures import parse, summary
from webfon.gcwatch import PAUSE_BUCKETS_MS, merge
from webfon.prometheus import render_prometheus


def _figures(collections: list[int], pause_max_ms: list[float],
             pauses_ms: list[float]) -> dict[str, object]:
    buckets = [0] * len(PAUSE_BUCKETS_MS)
    for ms in pauses_ms:
        buckets[next(i for i, b in enumerate(PAUSE_BUCKETS_MS) if ms <= b)] += 1
    return {"gc_collections": collections, "gc_collected": [0, 0, 0],
            "gc_pause_total_ms": [0.0, 0.0, 0.0], "gc_pause_max_ms": pause_max_ms,
            "gc_pause_buckets": buckets}


def _metrics(main: dict[str, object], workers: list[dict[str, object]]) -> dict[str, float]:
    counters, gauges = gc_metrics(main)
    theirs, pauses = gc_metrics(merge(workers), "media_workers_")
    return parse(render_prometheus({**counters, **theirs, "requests": 3}, {**gauges, **pauses}))


def test_window_counts_and_longest_pauses_of_gateway_and_workers() -> None:
    before = _metrics(_figures([10, 1, 0], [0.4, 1.0, 0.0], [0.4] * 10),
                      [_figures([5, 0, 0], [0.2, 0.0, 0.0], [0.2] * 5)] * 2)
    after = _metrics(_figures([110, 11, 1], [0.9, 2.5, 31.0], [0.4] * 120 + [31.0]),
                     [_figures([25, 2, 0], [0.3, 1.1, 0.0], [0.2] * 27),
                      _figures([15, 1, 0], [0.2, 25.0, 0.0], [0.2] * 15 + [25.0])])
    figures = summary(before, after)
    assert figures["gc_pause_max_ms"] == 31.0
    assert figures["gc_pauses_over_20ms"] == 1
    assert [figures[f"gc_collections_gen{g}"] for g in range(3)] == [100, 10, 1]
    assert figures["workers_gc_pause_max_ms"] == 25.0
    assert figures["workers_gc_pauses_over_20ms"] == 1
    assert [figures[f"workers_gc_collections_gen{g}"] for g in range(3)] == [30, 3, 0]


def test_janus_or_no_figures_gives_nothing() -> None:
    assert summary({}, {}) == {}
    assert parse("# TYPE x counter\nother_metric 1\nwebfon_gateway_broken x\n") == {}
