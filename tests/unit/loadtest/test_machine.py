"""Steal and busy shares from /proc/stat samples; the reference time and where it is taken."""

from __future__ import annotations

import os

import pytest

from loadtest import machine
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


def test_reference_time_is_measured_on_the_cpus_asked_and_affinity_comes_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = os.sched_getaffinity(0)
    target = {min(home)}
    seen: list[set[int]] = []
    real = machine.reference_ms

    def spy(repeat: int = 5) -> float:
        seen.append(os.sched_getaffinity(0))
        return real(1)

    monkeypatch.setattr(machine, "reference_ms", spy)
    ms = machine.reference_ms_on(target)
    assert seen == [target] and ms > 0
    assert os.sched_getaffinity(0) == home
