"""The PBX control API carries a bearer key that logs webphones in and out: between hosts it
must not travel in clear. A real PBX process serves it on a Unix socket only (a TCP client
holding the key is refused), or over TLS (the gateway's client verifies the certificate, and
the gateway refuses plain http to another host at start)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.plugins.sip.pbx import PbxControl, PbxError
from gateway.settings import GatewaySettings
from tests.integration.pbx.pbxrun import build_directory
from tests.support import procs
from tests.support.net import free_port
from tests.support.nginx import make_pki
from webfon.config import ConfigError
from webfon.control_key import control_key_path, ensure_control_key
from webfon.store import open_store


async def _pbx(tmp_path: Path, ssl_context: ssl.SSLContext | None = None,
               **env: str) -> procs.Component:
    db = tmp_path / "pbx.db"
    store = await open_store(f"sqlite:///{db}")
    await build_directory(store)
    await store.close()
    rtp = free_port("udp")
    return await procs.start("pbx", "pbx", free_port("tcp"), procs.base_env(
        tmp_path / "data", WEBFON_DATABASE_URL=f"sqlite:///{db}",
        WEBFON_PBX_SIP_PORT=str(free_port("both")), WEBFON_PBX_RTP_PORT_MIN=str(rtp),
        WEBFON_PBX_RTP_PORT_MAX=str(rtp + 20), WEBFON_PBX_QUALIFY_INTERVAL_S="0", **env),
        tmp_path / "logs", ssl_context=ssl_context)


@pytest.fixture
async def unix_pbx(tmp_path: Path) -> AsyncIterator[tuple[procs.Component, Path]]:
    sock = tmp_path / "run" / "pbx.sock"
    pbx = await _pbx(tmp_path, WEBFON_PBX_UNIX_SOCKET=str(sock),
                     WEBFON_PBX_CONTROL_LISTEN="unix")
    try:
        yield pbx, sock
    finally:
        await procs.stop(pbx)


async def test_control_api_on_the_unix_socket_only(unix_pbx: tuple[procs.Component, Path],
                                                   tmp_path: Path) -> None:
    pbx, sock = unix_pbx
    key = ensure_control_key(tmp_path / "data")
    headers = {"Authorization": f"Bearer {key}"}
    # over TCP even the right key opens nothing (someone who sniffed it, say)
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.get(f"{pbx.url}/control/registrations") as r:
        assert r.status == 403
        assert "Unix socket only" in (await r.json())["error"]["message"]
    assert sock.stat().st_mode & 0o777 == 0o600
    # the gateway's client on the socket does its work
    control = PbxControl(f"unix:{sock}", control_key_path(tmp_path / "data"))
    assert await control.release_node(4) == 0
    connector = aiohttp.UnixConnector(path=str(sock))
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http, \
            http.get("http://localhost/control/registrations") as r:
        assert r.status == 200 and await r.json() == []


async def test_control_api_over_tls_is_verified(tmp_path: Path) -> None:
    ca, cert, key = make_pki(tmp_path / "pki", "pbx.test")
    trusting = ssl.create_default_context(cafile=str(ca))
    pbx = await _pbx(tmp_path, trusting, WEBFON_PBX_TLS_CERT_FILE=str(cert),
                     WEBFON_PBX_TLS_KEY_FILE=str(key))
    try:
        key_file = control_key_path(tmp_path / "data")
        good = PbxControl(f"https://127.0.0.1:{pbx.port}", key_file, ca_file=ca)
        assert await good.release_node(4) == 0
        other_ca, _, _ = make_pki(tmp_path / "other", "pbx.test")
        forged = PbxControl(f"https://127.0.0.1:{pbx.port}", key_file, ca_file=other_ca)
        with pytest.raises(PbxError, match="unreachable"):
            await forged.release_node(4)
        plain = PbxControl(f"http://127.0.0.1:{pbx.port}", key_file)
        with pytest.raises(PbxError):
            await plain.release_node(4)
    finally:
        await procs.stop(pbx)


def test_gateway_refuses_plain_http_to_another_host() -> None:
    with pytest.raises(ConfigError, match="in clear"):
        GatewaySettings.load(environ={}, pbx_control_url="http://10.0.0.5:8500")
    for fine in ("http://127.0.0.1:8500", "https://10.0.0.5:8500", "unix:/run/pbx.sock"):
        GatewaySettings.load(environ={}, pbx_control_url=fine)
    GatewaySettings.load(environ={}, pbx_control_url="http://10.0.0.5:8500",
                         pbx_control_plain_http=True)
