"""A ramp step's figures from the workers' window counters (no processes started)."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest.figures import Limits, call_step, merge_windows, stop_reason, user_step
from loadtest.histogram import Histogram


def _window(calls: int, sent: int, received: int, rtts: list[float], jitter: float,
            cpu: float = 10.0) -> dict[str, Any]:
    # 10 s of 50 packets/s per call: SRTP 182 bytes each way, relayed RTP 172 bytes
    return {"window_s": 10.0, "calls": calls, "connected": calls, "sent": sent,
            "received": received, "rtt": Histogram.of(rtts).to_dict(),
            "jitter_sum": jitter * calls, "tx_bytes": calls * 500 * 182,
            "tx_packets": calls * 500, "rx_bytes": calls * 500 * 182, "rx_packets": calls * 500,
            "rtp_bytes": calls * 500 * 172, "rtp_packets": calls * 500,
            "setups": [0.05] * calls, "generator_cpu_pct": cpu, "generator_rss_mb": 100.0,
            "generator_open_files": 20}


def test_two_workers_merge_into_one_step() -> None:
    merged = merge_windows([_window(1, 500, 500, [0.002] * 500, 0.0004, 10.0),
                            _window(1, 500, 490, [0.004] * 490, 0.0006, 30.0)])
    merged["setup_failures_step"] = 0
    step = call_step(merged, {"cpu_pct": 5.0, "rss_mb": 100.0}, Limits())
    assert step["established"] == 2 and step["workers"] == 2
    assert step["loss_pct"] == 1.0
    assert step["jitter_ms_mean"] == pytest.approx(0.5)
    assert step["cpu_pct_per_call"] == 2.5
    # (182 + 28) bytes * 50/s * 8 = 84 kbit/s; (172 + 28) * 50 * 8 = 80 kbit/s
    assert step["webrtc_kbit_per_call"] == pytest.approx(84.0)
    assert step["sip_kbit_per_call"] == pytest.approx(80.0)
    assert step["rtt_ms_p50"] == pytest.approx(2.0, rel=0.03)
    assert step["generator_cpu_pct"] == [10.0, 30.0]
    assert step["valid"] is True and stop_reason(step, Limits()) is None
    assert 1 <= step["mos"] <= 4.5


def test_packets_later_than_the_jitter_buffer_count_as_lost() -> None:
    # 50 of 500 echoes 100 ms slower on the round trip (50 ms one way > a 40 ms buffer)
    rtts = [0.002] * 450 + [0.102] * 50
    merged = merge_windows([_window(1, 500, 500, rtts, 0.0)])
    step = call_step(merged, {}, Limits(jitter_buffer_ms=40))
    assert step["loss_pct"] == 0.0 and step["late_pct"] == pytest.approx(10.0)
    assert step["mos"] < 3.0
    assert step["cpu_pct"] is None  # a remote server without an agent
    relaxed = call_step(merged, {}, Limits(jitter_buffer_ms=60))
    assert relaxed["late_pct"] == 0.0 and relaxed["mos"] > 4.3


def test_a_starved_or_saturated_generator_invalidates_the_step() -> None:
    slow = call_step(merge_windows([_window(1, 400, 400, [0.002] * 400, 0.0)]), {}, Limits())
    assert slow["valid"] is False  # 40 packets/s instead of 50
    assert "fell behind" in (stop_reason(slow, Limits()) or "")
    busy = call_step(merge_windows([_window(1, 500, 500, [0.002] * 500, 0.0, cpu=99.0)]), {},
                     Limits())
    assert busy["valid"] is False


def test_stop_reasons() -> None:
    limits = Limits(max_loss_pct=1.0, cpu_limit_pct=90.0)
    assert stop_reason({"loss_pct": 0.5, "cpu_pct": 50.0}, limits) is None
    assert "loss" in (stop_reason({"loss_pct": 1.5, "cpu_pct": 50.0}, limits) or "")
    assert "CPU" in (stop_reason({"loss_pct": 0.0, "cpu_pct": 95.0}, limits) or "")
    # a threaded server (Janus) saturates when every core is busy
    assert stop_reason({"loss_pct": 0.0, "cpu_pct": 150.0},
                       Limits(cpu_limit_pct=90.0, server_cores=2)) is None
    assert "failed" in (stop_reason({"loss_pct": 0.0, "cpu_pct": 5.0,
                                     "setup_failures_step": 2}, limits) or "")


def test_user_step_sums_generators_and_keeps_the_registrar_view() -> None:
    w = {"window_s": 5.0, "phones": 100, "phones_alive": 100, "setups": [0.01, 0.03],
         "generator_rss_mb": 120.0, "generator_open_files": 110, "generator_cpu_pct": 1.0}
    merged = merge_windows([w, {**w, "phones": 50, "phones_alive": 49}])
    merged["failures_step"] = 1
    step = user_step(merged, {"cpu_pct": 0.5, "rss_mb": 150.0}, {"active": 150, "lapsed": 0})
    assert step["users"] == 150 and step["users_alive"] == 149 and step["failures"] == 1
    assert step["generator_rss_mb"] == 240.0 and step["generator_open_files"] == 220
    assert step["registrar"]["active"] == 150
