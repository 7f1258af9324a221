"""The sizing tool end to end: a real gateway, sipp, WebRTC callers and idle web phones.

Runs ``python -m loadtest.sizing`` as a subprocess (it sets process-wide ICE policy) with tiny
ramps; the limits are loose because only the mechanics are under test, not this machine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(120)


async def _run_sizing(args: list[str], timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.sizing", *args, cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.send_signal(signal.SIGTERM)  # the tool stops its gateway and sipp on SIGTERM
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            out = b""
        pytest.fail(f"sizing run took over {timeout}s:\n{out.decode(errors='replace')}")
    return proc.returncode or 0, out.decode(errors="replace")


async def test_two_step_call_ramp(tmp_path: Path) -> None:
    result = tmp_path / "calls.json"
    code, out = await _run_sizing(
        ["--calls", "1,3", "--seconds", "3", "--warmup", "1", "--budget", "75",
         "--max-loss", "50", "--no-users", "--plan", "100,500", "--json", str(result)], 90)
    assert code == 0, out
    assert "    3 calls: cpu" in out  # the progress line of the second step
    assert "## Sizing" in out
    doc = json.loads(result.read_text())
    steps = doc["calls"]["steps"]
    assert [s["calls"] for s in steps] == [0, 1, 3], doc["calls"]["stopped"]
    last = steps[-1]
    assert last["established"] == 3
    assert last["setup_failures_step"] == 0
    assert 0 < last["setup_ms_p50"] <= last["setup_ms_p95"]
    assert last["loss_pct"] is not None and last["loss_pct"] <= 50
    # G.711 at 50 packets/s: ~84 kbit/s of SRTP and 80 kbit/s of RTP each way, per call
    assert 40 < last["webrtc_kbit_per_call"] < 130
    assert 40 < last["sip_kbit_per_call"] < 100
    assert 1.0 <= last["mos"] <= 4.5
    assert last["rss_mb"] > 10 and last["cpu_pct"] > 0
    sizing = doc["sizing"]["calls"]
    assert [r["calls"] for r in sizing] == [100, 500]
    assert sizing[1]["seed_cores"] == 17
    assert sizing[1]["measured_cores"] >= 2


async def test_connected_users_ramp(tmp_path: Path) -> None:
    result = tmp_path / "users.json"
    code, out = await _run_sizing(
        ["--no-calls", "--users", "5,20", "--users-seconds", "2", "--users-budget", "70",
         "--plan-users", "1000", "--json", str(result)], 90)
    assert code == 0, out
    doc = json.loads(result.read_text())
    steps = doc["users"]["steps"]
    assert [s["users"] for s in steps] == [0, 5, 20]
    assert all(s["failures"] == 0 for s in steps)
    assert all(s["rss_mb"] > 10 for s in steps)
    assert doc["sizing"]["users"][0]["users"] == 1000
    assert "## Connected users" in out
