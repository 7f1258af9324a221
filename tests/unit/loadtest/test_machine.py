"""Steal and busy shares from /proc/stat samples."""

from __future__ import annotations

from loadtest.machine import cpu_times, usage


def test_steal_and_busy_are_shares_of_all_cpu_time() -> None:
    before = cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n")
    after = cpu_times("cpu  400 0 150 1000 50 0 0 200 0 0\n")
    figures = usage(before, after)
    # 400 busy + 200 idle + 200 steal jiffies elapsed
    assert figures["machine_busy_pct"] == 50.0
    assert figures["machine_steal_pct"] == 25.0
    assert figures["load_avg_1m"] >= 0


def test_the_live_file_reads() -> None:
    times = cpu_times()
    assert times.total > 0
