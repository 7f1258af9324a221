"""Second-factor bypass behind a proxy, attacked with a real nginx (TLS) in front of the node
``webfon up`` starts, and clients on their own network addresses (network namespaces).

* With the defaults ``webfon up`` writes, a TLS proxy added in front of the web front — written
  as an operator would, with or without forwarding headers — must not turn an internet client
  into a local one: the password alone never logs in.
* With the trust chain ``webfon nginx-config --front`` writes (and the front trusting nginx as
  its comment says), the client's own address reaches sercen: an office client (trusted
  network) logs in with the password, an internet client gets the second factor, a forged
  X-Forwarded-For changes nothing, and one client's brute-force ban is not another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from launcher.embedded_config import write_embedded_config
from launcher.nginxconf import SiteConfig, render
from tests.support.baresip import PhoneNetwork
from tests.support.net import free_port
from tests.support.nginx import make_pki, running_nginx
from tests.support.procs import ROOT

NAME = "webfon.test"


@dataclass
class Node:
    web_port: int
    data: Path


@contextlib.asynccontextmanager
async def webfon_up(tmp_path: Path, sercen_extra: str = "",
                    **env_extra: str) -> AsyncIterator[Node]:
    """``webfon up --only sercen,web`` as a user runs it (its own defaults), on free ports."""
    data = tmp_path / "data"
    if sercen_extra:  # the admin edits the sercen.conf `webfon up` writes
        write_embedded_config(data / "etc")
        with (data / "etc" / "sercen.conf").open("a") as fh:
            fh.write(sercen_extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
    ports = {name: free_port("tcp") for name in ("web", "sercen", "gateway", "fonbo", "pbx")}
    for name, port in ports.items():
        env[f"WEBFON_{name.upper()}_PORT"] = str(port)
        env[f"WEBFON_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    env.update(WEBFON_DATA_DIR=str(data), WEBFON_LOG_LEVEL="info",
               WEBFON_SERCEN_RESPONSE_DELAY="0.01", WEBFON_SERCEN_RESPONSE_JITTER="0",
               **env_extra)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "launcher.cli", "up", "--only", "sercen,web", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    assert proc.stdout is not None
    banner = ""
    try:
        async with asyncio.timeout(45):
            while "Ctrl-C stops everything" not in banner:
                line = await proc.stdout.readline()
                assert line, f"webfon up exited:\n{banner[-3000:]}"
                banner += line.decode()
        yield Node(ports["web"], data)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 20)


class Client:
    """curl in a network namespace: an internet or office client with its own address."""

    def __init__(self, ns: str, address: str, ca: Path, host_ip: str) -> None:
        self.ns, self.address, self.ca, self.host_ip = ns, address, ca, host_ip

    async def login(self, port: int, login: str, password: str,
                    headers: dict[str, str] | None = None) -> tuple[int, dict]:
        args = ["ip", "netns", "exec", self.ns, "curl", "-sS", "--max-time", "10",
                "--cacert", str(self.ca), "--resolve", f"{NAME}:{port}:{self.host_ip}",
                "-H", "Content-Type: application/json", "-w", "\n%{http_code}",
                "-d", json.dumps({"login": login, "password": password})]
        for key, value in (headers or {}).items():
            args += ["-H", f"{key}: {value}"]
        args.append(f"https://{NAME}:{port}/sercen/login")
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
        body, _, status = out.decode().rpartition("\n")
        return int(status), json.loads(body)


@dataclass
class Net:
    host_ip: str
    ca: Path
    cert: Path
    key: Path
    office: Client
    internet: Client


@pytest.fixture
def net(phone_network: PhoneNetwork, tmp_path: Path) -> Net:
    host = phone_network.host_ip
    ca, cert, key = make_pki(tmp_path / "pki", NAME, (host,))
    office = Client(*phone_network.add_namespace(), ca, host)
    internet = Client(*phone_network.add_namespace(), ca, host)
    return Net(host, ca, cert, key, office, internet)


def operator_site(net: Net, web_port: int, port: int, forwarding: bool) -> str:
    """The TLS site an operator adds in front of `webfon up` (not our renderer's)."""
    headers = ("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
               "        proxy_set_header X-Forwarded-Proto https;\n") if forwarding else ""
    return (f"server {{\n    listen {net.host_ip}:{port} ssl;\n    server_name {NAME};\n"
            f"    ssl_certificate {net.cert};\n    ssl_certificate_key {net.key};\n"
            f"    location / {{\n        proxy_pass http://127.0.0.1:{web_port};\n"
            f"        proxy_set_header Host $host;\n{headers}    }}\n}}\n")


async def test_proxy_added_in_front_of_defaults_never_skips_second_factor(
        net: Net, tmp_path: Path) -> None:
    with_headers, bare = free_port("tcp", net.host_ip), free_port("tcp", net.host_ip)
    async with webfon_up(tmp_path) as node:
        site = operator_site(net, node.web_port, with_headers, True) + \
            operator_site(net, node.web_port, bare, False)
        async with running_nginx(tmp_path / "nginx", site, (net.host_ip, bare)):
            for port in (with_headers, bare):
                for forged in ({}, {"X-Forwarded-For": "127.0.0.1"},
                               {"X-Real-IP": "127.0.0.1"}):
                    status, body = await net.internet.login(port, "1002", "webfon-1002",
                                                            forged)
                    assert status == 200, body
                    assert body["status"] == "second_factor", (port, forged, body)
                    assert body["method"] == "email" and "access_token" not in body


async def test_rendered_trust_chain_keeps_the_real_client(net: Net, tmp_path: Path) -> None:
    office_net = (f'f1factor_00_ip = "{net.office.address}"\n'
                  'f1factor_00_msk = "255.255.255.255"\n')
    https = free_port("tcp", net.host_ip)
    async with webfon_up(tmp_path, office_net, WEBFON_WEB_TRUSTED_PROXIES="127.0.0.1") as node:
        root = tmp_path / "webclient"
        root.mkdir()
        (root / "index.html").write_text("<!doctype html>")
        site = render(SiteConfig(
            server_name=NAME, ssl_certificate=str(net.cert), ssl_certificate_key=str(net.key),
            gateways=[f"127.0.0.1:{node.web_port}"], sercen=[f"127.0.0.1:{node.web_port}"],
            fonbo=[f"127.0.0.1:{node.web_port}"], front=True, webclient_root=str(root),
            https_listen=f"{net.host_ip}:{https}", http_listen=f"127.0.0.1:{free_port('tcp')}",
            access_log=str(tmp_path / "access.log"), error_log=str(tmp_path / "error.log"),
            login_rate="50r/s", login_burst=50))
        assert 'trusted_proxies = "127.0.0.1"' in site  # what the front was told to trust
        async with running_nginx(tmp_path / "nginx", site, (net.host_ip, https)):
            # the office client: one factor, as its own trusted address
            status, body = await net.office.login(https, "1001", "webfon-1001")
            assert status == 200 and body["status"] == "ok", body
            # the internet client: second factor, even claiming the office's address
            for forged in ({}, {"X-Forwarded-For": net.office.address}):
                status, body = await net.internet.login(https, "1002", "webfon-1002", forged)
                assert status == 200 and body["status"] == "second_factor", (forged, body)
            # the internet client brute-forces another account and gets banned ...
            statuses = [(await net.internet.login(https, "1003", f"guess-{i}"))[0]
                        for i in range(4)]
            assert statuses[:2] == [401, 401] and statuses[-1] == 429, statuses
            status, body = await net.internet.login(https, "1002", "webfon-1002")
            assert status == 429 and body["error"]["reason"] == "banned", body
            # ... which is its own ban, not the office's
            status, body = await net.office.login(https, "1002", "webfon-1002")
            assert status == 200 and body["status"] == "ok", body
