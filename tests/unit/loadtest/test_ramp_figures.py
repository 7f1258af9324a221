"""Per-step figures of the sizing ramp, computed from counters (no processes started)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from loadtest import gateway_bench as gb
from loadtest.ramp import RampConfig, _stop_reason, loopback_counters, step_figures


def _call(sent: int, received: int, rtts: list[float], jitter: float) -> SimpleNamespace:
    stats = gb.CallStats(sent=sent, received=received, rtts=rtts, jitter=jitter)
    # 10 s of 50 packets/s: SRTP 182 bytes each way, relayed RTP 172 bytes
    return SimpleNamespace(stats=stats, tx_bytes=500 * 182, tx_packets=500,
                           rx_bytes=500 * 182, rx_packets=500, rtp_bytes=500 * 172,
                           rtp_packets=500)


def test_step_figures_from_counters() -> None:
    calls = [_call(500, 500, [0.002] * 10, 0.0004), _call(500, 490, [0.004] * 10, 0.0006)]
    fig = step_figures(calls, [0.05, 0.07, 0.09], window_s=10.0, cpu_pct=5.0, rss_mb=100.0,
                       lo_bytes=2 * 10 * 50 * 4 * (200 + 14), lo_packets=2 * 10 * 50 * 4,
                       config=RampConfig())
    assert fig["established"] == 2
    assert fig["loss_pct"] == 1.0
    assert fig["setup_ms_p50"] == pytest.approx(70.0)
    assert fig["setup_ms_p95"] == pytest.approx(90.0)
    assert fig["jitter_ms_mean"] == pytest.approx(0.5)
    assert fig["cpu_pct_per_call"] == 2.5
    # (182 + 28) bytes * 50/s * 8 = 84 kbit/s; (172 + 28) * 50 * 8 = 80 kbit/s
    assert fig["webrtc_kbit_per_call"] == pytest.approx(84.0)
    assert fig["sip_kbit_per_call"] == pytest.approx(80.0)
    assert fig["loopback_kbit_per_call"] == pytest.approx(320.0)
    assert 1 <= fig["mos"] <= 4.5
    assert fig["loss_pct_one_way"] == pytest.approx(0.501, abs=1e-3)
    assert fig["sent_pps_per_call"] == 50.0
    assert fig["valid"] is True


def test_packets_later_than_the_jitter_buffer_count_as_lost() -> None:
    # 500 sent, 500 back; 50 of them 100 ms slower on the round trip (50 ms one way > 40 ms)
    calls = [_call(500, 500, [0.002] * 450 + [0.102] * 50, 0.0)]
    fig = step_figures(calls, [0.05], 10.0, 5.0, 100.0, 0, 0, RampConfig(jitter_buffer_ms=40))
    assert fig["loss_pct"] == 0.0
    assert fig["late_pct"] == pytest.approx(10.0)
    assert fig["effective_loss_pct"] == pytest.approx(10.0)
    assert fig["mos"] < 3.0
    relaxed = step_figures(calls, [0.05], 10.0, 5.0, 100.0, 0, 0,
                           RampConfig(jitter_buffer_ms=60))
    assert relaxed["late_pct"] == 0.0
    assert relaxed["mos"] > 4.3


def test_step_with_a_starved_generator_is_not_valid() -> None:
    calls = [_call(400, 400, [0.002], 0.0)]  # 40 packets/s instead of 50
    fig = step_figures(calls, [0.05], 10.0, 5.0, 100.0, 0, 0, RampConfig())
    assert fig["valid"] is False
    assert "fell behind" in (_stop_reason(fig, RampConfig()) or "")


def test_stop_reasons() -> None:
    cfg = RampConfig(max_loss_pct=1.0, cpu_limit_pct=90.0)
    assert _stop_reason({"loss_pct": 0.5, "cpu_pct": 50.0}, cfg) is None
    assert "loss" in (_stop_reason({"loss_pct": 1.5, "cpu_pct": 50.0}, cfg) or "")
    assert "CPU" in (_stop_reason({"loss_pct": 0.0, "cpu_pct": 95.0}, cfg) or "")
    assert "generator" in (_stop_reason({"loss_pct": 0.0, "cpu_pct": 5.0,
                                         "generator_cpu_pct": 99.0}, cfg) or "")
    assert "failed" in (_stop_reason({"loss_pct": 0.0, "cpu_pct": 5.0,
                                      "setup_failures_step": 2}, cfg) or "")


def test_loopback_counters_reads_proc_net_dev(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.write_text(
        "Inter-|   Receive                            |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"
        "    lo: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n"
        "  eth0: 5 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0\n")
    assert loopback_counters(str(dev)) == (2000, 20)
    (tmp_path / "nolo").write_text("header\nheader\n eth0: 1 2 3 4 5 6 7 8 9 10\n")
    with pytest.raises(RuntimeError):
        loopback_counters(str(tmp_path / "nolo"))
