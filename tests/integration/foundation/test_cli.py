"""The ``webfon`` command as a user runs it: up, status, restart on crash, clean stop, errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from launcher.components import COMPONENTS
from tests.support.net import free_port

WEBFON = [sys.executable, "-m", "launcher.cli"]



async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*WEBFON, *args, env=env,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
    e["WEBFON_DATA_DIR"] = str(tmp_path / "data")
    e["WEBFON_LOG_LEVEL"] = "warning"
    for c in COMPONENTS:
        port = free_port("tcp")
        e[f"WEBFON_{c.name.upper()}_PORT"] = str(port)
        e[f"WEBFON_{c.name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    e["WEBFON_PBX_SIP_PORT"] = str(free_port("both"))
    return e


async def _healthy(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(url, timeout=aiohttp.ClientTimeout(2)) as r:
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def test_up_status_restart_and_stop(env: dict[str, str], tmp_path: Path) -> None:
    available = [c for c in COMPONENTS if c.available()]
    assert available, "at least one component must exist"
    proc = await asyncio.create_subprocess_exec(
        *WEBFON, "up", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)
    assert proc.stdout is not None
    banner = ""
    try:
        async with asyncio.timeout(45):  # the README promises every /healthz within 30 s
            while "Ctrl-C stops everything" not in banner:
                line = await proc.stdout.readline()
                assert line, f"webfon up exited: {(await proc.stderr.read()).decode()[-3000:]}"
                banner += line.decode()
        assert "Demo logins" in banner and "webfon-1001" in banner
        etc = tmp_path / "data" / "etc"
        assert (etc / "vivait.plugin.webfon.jcfg").exists() and (etc / "sercen.conf").exists()
        for c in available:
            port = env[f"WEBFON_{c.name.upper()}_PORT"]
            assert await _healthy(f"http://127.0.0.1:{port}/healthz"), c.name

        if any(c.name == "web" for c in available) and any(c.name == "sercen" for c in available):
            # a newcomer logs in as a demo user through the web front; with no mail server
            # the second factor's code is shown on the console of `webfon up`
            web = env["WEBFON_WEB_PORT"]
            async with aiohttp.ClientSession() as s:
                async with s.post(f"http://127.0.0.1:{web}/sercen/login",
                                  json={"login": "1002", "password": "webfon-1002"}) as r:
                    body = await r.json()
                assert r.status == 200 and body["status"] == "second_factor", body
                async with asyncio.timeout(15):
                    while "login code for" not in banner:
                        banner += (await proc.stdout.readline()).decode()
                code = banner.rsplit("login code for", 1)[1].split(":")[1].split()[0]
                async with s.post(f"http://127.0.0.1:{web}/sercen/second-factor",
                                  json={"challenge": body["challenge"], "code": code}) as r:
                    body = await r.json()
            assert r.status == 200 and body["status"] == "ok", body
            assert body["access_token"]
            assert not list((tmp_path / "data" / "outbox").glob("*.eml"))  # shown, removed

        code, out, _ = await _run("status", env=env)
        assert code == 0, out
        for c in available:
            assert c.name in out

        # a crashed component is restarted
        state = json.loads((tmp_path / "data" / "run" / "up.json").read_text())
        victim = available[0]
        old_pid = state["components"][victim.name]["pid"]
        os.kill(old_pid, signal.SIGKILL)
        port = env[f"WEBFON_{victim.name.upper()}_PORT"]
        async with asyncio.timeout(30):
            while True:
                state = json.loads((tmp_path / "data" / "run" / "up.json").read_text())
                info = state["components"][victim.name]
                if info["pid"] != old_pid and await _healthy(f"http://127.0.0.1:{port}/healthz"):
                    break
                await asyncio.sleep(0.3)
        assert info["restarts"] == 1
        pids = [c["pid"] for c in state["components"].values()]
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0
    for pid in pids:  # nothing left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    code, out, _ = await _run("status", env=env)
    assert code == 1 and "not running" in out


async def test_corrupt_store_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "webfon.db").write_bytes(b"\x00garbage" * 1000)
    code, _, err = await _run("migrate", env=env)
    assert code == 3
    assert "sqlite" in err and "Traceback" not in err
    before = (data / "webfon.db").read_bytes()
    code, _, err = await _run("up", "--no-demo", env=env)
    assert code == 3 and "store unavailable" in err
    assert (data / "webfon.db").read_bytes() == before  # nothing half-written


async def test_unreachable_mysql_is_a_clear_error(env: dict[str, str]) -> None:
    env = {**env, "WEBFON_DATABASE_URL": f"mysql://u:p@127.0.0.1:{free_port('tcp')}/webfon"}
    code, _, err = await _run("migrate", env=env)
    assert code == 3 and "cannot connect" in err and "Traceback" not in err


async def test_demo_data_then_migrate(env: dict[str, str]) -> None:
    code, out, _ = await _run("demo-data", env=env)
    assert code == 0 and "1001" in out
    code, out, _ = await _run("demo-data", env=env)
    assert code == 1 and "already has users" in out
    code, out, _ = await _run("migrate", env=env)
    assert code == 0 and "schema at version" in out


async def test_bad_settings_file_exits_non_zero_with_location(env: dict[str, str],
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "sercen.conf"
    bad.write_text('smtp_host = "mail"\nsmtp_puerto = veinticinco\n')
    code, _, err = await _run("check-config", "sercen", str(bad), env=env)
    assert code == 2
    assert f"{bad}:2" in err and "smtp_puerto" in err
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sercen", "--config", str(bad), env=env,
        stderr=asyncio.subprocess.PIPE)
    _, err_b = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and f"{bad}:2" in err_b.decode()
