"""``python -m sercen`` as a real process: seed-format sercen.conf, login flows, log lines."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tests.integration.sercen.support import PASSWORD, SmtpServer, add_user
from tests.support.net import free_port
from tests.unit.sercen.fail2ban_regex import match_host
from webfon.store import open_store

ROOT = Path(__file__).resolve().parents[3]



def seed_conf(path: Path, smtp_port: int, extra: str = "") -> Path:
    path.write_text(
        "smtpps_usa = false\n"
        'smtp_host = "127.0.0.1" \n'
        f"smtp_puerto = {smtp_port}\n"
        'smtp_usuario = ""\n'
        'smtp_clave = ""\n'
        'f1factor_00_ip = "172.25.0.0"\n'
        'f1factor_00_msk = "255.255.0.0"\n'
        'f1factor_01_ip = "10.255.176.0"\n'
        'f1factor_01_msk = "255.255.252.0"\n' + extra)
    return path


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
    env.update(WEBFON_SERCEN_DATA_DIR=str(tmp_path / "data"),
               WEBFON_SERCEN_DATABASE_URL=f"sqlite:///{tmp_path / 'webfon.db'}",
               WEBFON_SERCEN_RESPONSE_DELAY="0.05", WEBFON_SERCEN_LOG_FORMAT="json",
               PYTHONPATH=str(ROOT))
    return env


async def test_process_with_seed_config(tmp_path: Path, smtp_server: SmtpServer) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'webfon.db'}")
    await add_user(store, "1001", email_addr="ana@example.com")
    await store.close()
    conf = seed_conf(tmp_path / "sercen.conf", smtp_server.port,
                     "smtp_from = \"webfon@example.com\"\n"
                     "trusted_proxies = \"127.0.0.1\"\n")  # nginx on this host
    port = free_port("tcp")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sercen", "--config", str(conf), "--port", str(port),
        env=env_for(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert proc.returncode is None, await proc.stderr.read()  # type: ignore[union-attr]
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("sercen did not start")

            async def login(xff: str, password: str = PASSWORD) -> tuple[int, dict]:
                async with http.post(f"{base}/sercen/login",
                                     json={"login": "1001", "password": password},
                                     headers={"X-Forwarded-For": xff}) as resp:
                    return resp.status, await resp.json()

            status, body = await login("172.25.1.9")          # office (f1factor_00)
            assert status == 200 and body["status"] == "ok"
            status, body = await login("198.51.100.7")        # internet
            assert status == 200 and body["method"] == "email"
            msg = await smtp_server.next_message()
            assert msg["From"] == "webfon@example.com"
            code = msg.get_body(("plain",)).get_content().split("code is: ")[1][:6]
            async with http.post(f"{base}/sercen/second-factor",
                                 json={"challenge": body["challenge"], "code": code},
                                 headers={"X-Forwarded-For": "198.51.100.7"}) as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "ok"
            status, _ = await login("198.51.100.66", password="wrong")
            assert status == 401
        assert (tmp_path / "data" / "keys" / "sercen_secrets.key").exists()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    hosts = [match_host(line) for line in stderr.decode().splitlines()]
    assert [h for h in hosts if h] == ["198.51.100.66"]
    assert PASSWORD not in stderr.decode() and code not in stderr.decode()


async def test_bad_config_exits_2_naming_file_line_key(tmp_path: Path) -> None:
    conf = seed_conf(tmp_path / "sercen.conf", 25, 'f1factor_02_ip = "10.0.0.0"\n'
                                                   'f1factor_02_msk = "255.0.255.0"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sercen", "--config", str(conf), "--port", str(free_port("tcp")),
        env=env_for(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert f"{conf}:11: key 'f1factor_02_msk'" in stderr.decode()
