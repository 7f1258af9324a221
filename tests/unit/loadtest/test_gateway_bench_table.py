"""The gateway bench's side-by-side table."""

from __future__ import annotations

from loadtest.gateway_bench import summary_table


def test_rows_show_each_run_and_missing_figures_as_dashes() -> None:
    full = {"target": "webfon gateway", "calls": 150, "setup_ms_p50": 122.6,
            "setup_ms_p95": 180.9, "loss_pct": 0.0, "rtt_ms_p50": 4.02, "rtt_ms_p99": 76.77,
            "added_ms_p50": 1.459, "added_ms_p99": 43.663, "cpu_pct": 81.8,
            "cpu_pct_per_call": 0.545, "rss_mb": 136.0, "base_rss_mb": 95.2,
            "rss_mb_per_call": 0.2727, "gc_pause_max_ms": 3.21,
            "workers_gc_pause_max_ms": 0.52, "instructions_per_packet": 41234,
            "main_instructions_per_packet": 1200}
    failed = {"target": "janus 1.1.2", "calls": 150, "loss_pct": float("nan")}
    lines = summary_table([full, failed]).splitlines()
    assert lines[0].startswith("| target | calls |")
    assert lines[2] == ("| webfon gateway | 150 | 123 / 181 | 0.00 | 4.0 / 77 | 1.46 / 43.7 "
                        "| 81.8 | 0.55 | 136 (95) | 0.273 | 3.2 | 0.5 | 41,234 (1,200) |")
    assert lines[3] == "| janus 1.1.2 | 150 | — | — | — | — | — | — | — | — | — | — | — |"
