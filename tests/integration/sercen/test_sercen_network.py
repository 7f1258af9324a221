"""Trusted networks from sercen.conf skip the second factor; only trusted proxies may say so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.integration.sercen.support import Sercen, StartSercen, add_user
from tests.unit.sercen.fail2ban_regex import match_host
from webfon.logsetup import JsonFormatter

SEED_CONF = '''smtpps_usa = false
smtp_host = "correob1.mdnova.local"
smtp_puerto = 0
smtp_usuario = ""
smtp_clave = ""
f1factor_00_ip = "172.25.0.0"
f1factor_00_msk = "255.255.0.0"
f1factor_01_ip = "10.255.176.0"
f1factor_01_msk = "255.255.252.0"
'''


@pytest.fixture
def seed_conf(tmp_path: Path) -> Path:
    path = tmp_path / "sercen.conf"
    path.write_text(SEED_CONF)
    return path


async def start_with_seed(start_sercen: StartSercen, seed_conf: Path,
                          proxies: list[str]) -> Sercen:
    s = await start_sercen(config=seed_conf, trusted_proxies=proxies)
    # the seed's SMTP host is not reachable from tests; the fixture's server is used instead
    assert s.settings.trusted_networks == ["172.25.0.0/16", "10.255.176.0/22"]
    await add_user(s.store, "1001", email_addr="ana@example.com")
    return s


@pytest.mark.parametrize("client", ["172.25.1.9", "10.255.179.4"])
async def test_trusted_network_skips_second_factor(start_sercen: StartSercen, seed_conf: Path,
                                                   client: str) -> None:
    s = await start_with_seed(start_sercen, seed_conf, ["127.0.0.1/32"])
    status, body = await s.login("1001", xff=client)
    assert status == 200 and body["status"] == "ok", body
    assert body["access_token"] and body["refresh_token"]
    assert s.smtp.pending() == 0
    status, me = await s.get("/sercen/me", token=body["access_token"])
    assert status == 200 and me["session"]["amr"] == ["pwd", "trusted_network"]
    status, net = await s.get("/sercen/network")  # the proxy itself, naming no client
    assert net == {"ip": "127.0.0.1", "verified": False, "trusted_network": False}


async def test_untrusted_address_needs_second_factor(start_sercen: StartSercen,
                                                     seed_conf: Path) -> None:
    s = await start_with_seed(start_sercen, seed_conf, ["127.0.0.1/32"])
    for client in ("198.51.100.7", "172.26.0.1", "10.255.180.1"):
        status, body = await s.login("1001", xff=client)
        assert status == 200 and body["status"] == "second_factor", (client, body)
        await s.smtp.next_code()


async def test_trusted_address_left_of_untrusted_hop_is_ignored(start_sercen: StartSercen,
                                                                seed_conf: Path) -> None:
    s = await start_with_seed(start_sercen, seed_conf, ["127.0.0.1/32"])
    status, body = await s.login("1001", xff="172.25.1.9, 198.51.100.7")
    assert status == 200 and body["status"] == "second_factor"


async def test_forged_header_from_untrusted_peer_changes_nothing(
        start_sercen: StartSercen, seed_conf: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = await start_with_seed(start_sercen, seed_conf, ["192.0.2.1/32"])  # not the test client
    status, body = await s.login("1001", xff="172.25.1.9")
    assert status == 200 and body["status"] == "second_factor"
    await s.smtp.next_code()
    status, net = await s.get("/sercen/network")
    assert net == {"ip": "127.0.0.1", "verified": True, "trusted_network": False}
    # failures are logged (and regulated) against the real peer, not the forged address
    with caplog.at_level(logging.WARNING, logger="sercen.auth"):
        status, _ = await s.login("1001", password="wrong", xff="172.25.1.9")
    assert status == 401
    lines = [JsonFormatter("sercen").format(r) for r in caplog.records
             if r.name == "sercen.auth"]
    assert [match_host(line) for line in lines] == ["127.0.0.1"]


async def test_loopback_trusted_network_for_direct_clients(start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=["127.0.0.0/8"], trusted_proxies=[])
    await add_user(s.store, "1001", email_addr="ana@example.com")
    status, body = await s.login("1001")
    assert status == 200 and body["status"] == "ok"
