"""``webfon loadtest`` end to end: Locust's master with two worker processes, our gateway, a
sipp echo, real WebRTC calls and idle web phones, and the HTML report with its plots.

Tiny ramps with loose limits: the mechanics are under test, not this machine's capacity."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from loadtest.servers import WebfonGateway, free_port

ROOT = Path(__file__).resolve().parents[3]
WEBFON = Path(sys.executable).parent / "webfon"

pytestmark = pytest.mark.timeout(240)


async def _run(args: list[str], timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(WEBFON), "loadtest", *args, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = await proc.communicate()
        pytest.fail(f"loadtest took over {timeout}s:\n{out.decode(errors='replace')[-4000:]}")
    return proc.returncode or 0, out.decode(errors="replace")


def _pngs_in(page: str) -> int:
    return len(re.findall(r"src='data:image/png;base64,[A-Za-z0-9+/=]{1000,}'", page))


async def test_calls_and_idle_users_with_two_workers(tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, text = await _run(
        ["--calls", "1,2", "--hold", "2", "--warmup", "1", "--setup-rate", "4",
         "--max-loss", "50", "--users", "4,8", "--users-hold", "1", "--connect-rate", "20",
         "--register-expires", "10", "--workers", "2", "--plan", "100,500",
         "--plan-users", "1000,10000", "--quiet", "--out", str(out)], 200)
    assert code == 0, text
    assert "    2 calls: cpu" in text and "    8 users: cpu" in text
    doc = json.loads((out / "report.json").read_text())
    assert doc["workers"]["local"] == 2
    (target,) = doc["targets"]
    assert target["name"].startswith("webfon gateway")
    calls = target["calls"]["steps"]
    assert [s["calls"] for s in calls] == [0, 1, 2], target["calls"]["stopped"]
    last = calls[-1]
    # Locust spread the two calls over both workers; both reported their window
    assert last["workers"] == 2 and last["established"] == 2
    assert last["setup_failures_step"] == 0
    assert 0 < last["setup_ms_p50"] <= last["setup_ms_p95"]
    assert last["loss_pct"] is not None and last["loss_pct"] <= 50
    assert 40 < last["webrtc_kbit_per_call"] < 130 and 40 < last["sip_kbit_per_call"] < 100
    assert 1.0 <= last["mos"] <= 4.5
    # the gateway's CPU and memory include its media worker processes
    assert last["rss_mb"] > 50 and last["cpu_pct"] > 0
    # the collector of the gateway and of its media workers, read from its /metrics
    assert 0 <= last["gc_pause_max_ms"] < 1000 and last["gc_pauses_over_20ms"] >= 0
    assert last["workers_gc_pause_max_ms"] >= 0 and last["workers_gc_collections_gen0"] >= 0
    assert ", GC max " in text
    users = target["users"]["steps"]
    assert [s["users"] for s in users] == [0, 4, 8]
    assert all(s["failures"] == 0 for s in users)
    reg = users[-1]["registrar"]
    # the last step outlasts the registration interval: every phone refreshed in time
    assert reg["active"] == 8 and reg["lapsed"] == 0 and reg["late_refreshes"] == 0
    assert reg["refreshes"] >= 8
    assert target["users_summary"]["all_refreshed_in_time"] is True
    assert target["users_summary"]["server_kib_per_user"] is not None
    assert target["sizing"]["calls"][1]["seed_cores"] == 17
    # Locust's own statistics of the setups, as its workers reported them
    assert target["calls"]["locust"]["WebRTC call setup"]["count"] == 2
    assert target["users"]["locust"]["Janus phone connect"]["count"] == 8
    page = (out / "report.html").read_text()
    assert _pngs_in(page) >= 10
    assert (out / "cpu.png").read_bytes()[:4] == b"\x89PNG"


async def test_remote_gateway_with_agent_compared_with_janus(tmp_path: Path) -> None:
    """A gateway given by URL (started here as if elsewhere), its CPU and memory read by the
    agent, and Debian's Janus 1.1.2 under the same ramp in the same run."""
    gateway = WebfonGateway(tmp_path / "gw")
    (tmp_path / "gw").mkdir()
    await gateway.prepare()
    await gateway.start()
    assert gateway.proc is not None and gateway.token is not None
    token_file = tmp_path / "gateway.token"
    token_file.write_text(gateway.token)
    agent_token = tmp_path / "agent.token"
    agent_token.write_text("agent-secret-0123456789abcdef")
    agent_port = free_port(__import__("socket").SOCK_STREAM)
    agent = await asyncio.create_subprocess_exec(
        str(WEBFON), "loadtest", "agent", "--pid", str(gateway.proc.pid), "--listen",
        f"127.0.0.1:{agent_port}", "--token-file", str(agent_token),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{agent_port}/sample"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url) as resp:
                        status = resp.status
                        break
                await asyncio.sleep(0.1)
            # the agent answers only with its token
            assert status == 401
            async with http.get(url, headers={"Authorization": "Bearer wrong"}) as resp:
                assert resp.status == 401
            async with http.get(url, headers={"Authorization":
                                              "Bearer agent-secret-0123456789abcdef"}) as resp:
                assert resp.status == 200
                sample = await resp.json()
        assert sample["processes"] >= 2  # the gateway and its media workers
        out = tmp_path / "report"
        code, text = await _run(
            [gateway.ws_url, "--token-file", str(token_file), "--agent",
             f"http://127.0.0.1:{agent_port}", "--agent-token-file", str(agent_token),
             "--compare", "janus", "--calls", "2", "--hold", "2", "--warmup", "1",
             "--max-loss", "50", "--no-users", "--workers", "1", "--quiet",
             "--out", str(out)], 200)
    finally:
        agent.terminate()
        await agent.wait()
        await gateway.stop()
    assert code == 0, text
    doc = json.loads((out / "report.json").read_text())
    main, janus = doc["targets"]
    assert main["url"] == gateway.ws_url and "agent" in main["server_usage_from"]
    assert janus["name"] == "janus 1.1.2"
    for target in (main, janus):
        step = target["calls"]["steps"][-1]
        assert step["established"] == 2 and step["setup_failures_step"] == 0, target
        assert step["cpu_pct"] is not None and step["rss_mb"] > 1
        assert step["loss_pct"] is not None and step["loss_pct"] <= 50
    page = (out / "report.html").read_text()
    assert "janus 1.1.2" in page and _pngs_in(page) >= 8


async def test_opus_callers_are_transcoded_by_the_gateway(tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, text = await _run(
        ["--media", "opus", "--calls", "2", "--hold", "2", "--warmup", "1", "--max-loss", "50",
         "--no-users", "--workers", "1", "--quiet", "--out", str(out)], 150)
    assert code == 0, text
    (target,) = json.loads((out / "report.json").read_text())["targets"]
    assert target["calls"]["media"] == "opus"
    step = target["calls"]["steps"][-1]
    assert step["established"] == 2 and step["setup_failures_step"] == 0
    # the echoes came back re-encoded: counted, but no send time inside them
    assert step["loss_pct"] is not None and step["loss_pct"] <= 50
    assert step["rtt_ms_p50"] is None and step["mos_basis"].startswith("loss only")
    assert step["jitter_ms_mean"] is not None and 1.0 <= step["mos"] <= 4.5


async def test_calls_through_our_pbx_with_sip_accounts(tmp_path: Path) -> None:
    """The SIP side on the embedded PBX: each caller registers with an account (digest auth)
    and calls an extension whose registered phone is a sipp echo; the PBX relays the media."""
    from loadtest.pbx_bench import Sipp, make_store
    from loadtest.servers import SippEcho

    sip_port, http_port = free_port(), free_port(__import__("socket").SOCK_STREAM)
    db = f"sqlite:///{tmp_path / 'pbx.db'}"
    await make_store(db)  # extensions 2001 and 2002 (SIP passwords sip-2001, sip-2002)
    env = dict(os.environ, WEBFON_PBX_DATA_DIR=str(tmp_path / "data"),
               WEBFON_PBX_DATABASE_URL=db, WEBFON_PBX_SIP_PORT=str(sip_port),
               WEBFON_PBX_SIP_TRANSPORTS="udp", WEBFON_PBX_LOG_LEVEL="warning",
               WEBFON_PBX_QUALIFY_INTERVAL_S="0", WEBFON_PBX_BUS_URL="")
    env.pop("WEBFON_CONFIG_DIR", None)
    pbx = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pbx", "--port", str(http_port), env=env, cwd=str(ROOT),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    echo = SippEcho(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{http_port}/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
        await echo.start()
        reg = Sipp(tmp_path, "reg-2002", str(ROOT / "tests/sipp/pbx/register_auth.xml"),
                   f"127.0.0.1:{sip_port}", "-s", "2002", "-au", "2002", "-ap", "sip-2002",
                   "-m", "1", "-set", "contact_port", str(echo.port), "-set", "expires",
                   "3600").start()
        assert await reg.wait(15) == 0
        out = tmp_path / "report"
        code, text = await _run(
            ["--echo-uri", f"sip:2002@127.0.0.1:{sip_port}", "--sip-user", "sip:2001@webfon",
             "--sip-secret", "sip-2001", "--sip-proxy", f"sip:127.0.0.1:{sip_port}",
             "--calls", "2", "--hold", "2", "--warmup", "1", "--max-loss", "50",
             "--no-users", "--workers", "1", "--quiet", "--out", str(out)], 150)
    finally:
        await echo.stop()
        pbx.terminate()
        await pbx.wait()
    assert code == 0, text
    (target,) = json.loads((out / "report.json").read_text())["targets"]
    step = target["calls"]["steps"][-1]
    assert step["established"] == 2 and step["setup_failures_step"] == 0, step
    # the echoes came back through the gateway and the PBX's relay, both ways
    assert step["loss_pct"] is not None and step["loss_pct"] <= 50
    assert step["rtt_ms_p50"] is not None and 1.0 <= step["mos"] <= 4.5
