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


def test_read_sync_from_a_live_metrics_endpoint_and_the_step_text() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from loadtest.gcfigures import read_sync, text

    body = render_prometheus({"gc_pauses_over_20ms": 2, "media_workers_gc_pauses_over_20ms": 1},
                             {"gc_pause_max_ms_gen1": 24.5, "media_workers_gc_pause_max_ms_gen0":
                              0.3}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metrics" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        after = read_sync(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert read_sync(f"http://127.0.0.1:{server.server_port}") == {}  # gone: nothing, no error
    step = summary({}, after)
    assert step["gc_pause_max_ms"] == 24.5 and step["workers_gc_pause_max_ms"] == 0.3
    assert text(step) == ", GC max 24.5 ms (workers 0.3 ms), 3 pauses over 20 ms"
    assert text({"cpu_pct": 3.0}) == ""
