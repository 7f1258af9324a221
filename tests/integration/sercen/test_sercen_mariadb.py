"""The main flows once more with the store on MariaDB (the other tests use SQLite)."""

from __future__ import annotations

import pytest

from sercen import totp
from tests.integration.sercen.support import StartSercen, add_user
from webfon.store import open_store

pytestmark = pytest.mark.mysql


async def test_flows_on_mariadb(start_sercen: StartSercen, mysql_url: str) -> None:
    store = await open_store(mysql_url)
    try:
        s = await start_sercen(store=store, trusted_networks=["172.25.0.0/16"], totp_window=2)
        await add_user(store, "1001", email_addr="ana@example.com")
        await add_user(store, "1002", email_addr="bea@example.com")
        # e-mail code, then refresh rotation and reuse detection
        tokens = await s.full_login("1001", xff="198.51.100.7")
        status, rotated = await s.post("/sercen/refresh",
                                       {"refresh_token": tokens["refresh_token"]})
        assert status == 200
        status, err = await s.post("/sercen/refresh", {"refresh_token": tokens["refresh_token"]})
        assert status == 409 and err["error"]["reason"] == "refresh_race"
        await store.execute("UPDATE sercen_refresh_tokens SET issued_at = issued_at - 60")
        status, err = await s.post("/sercen/refresh", {"refresh_token": tokens["refresh_token"]})
        assert status == 401 and err["error"]["reason"] == "reused_refresh"
        status, _ = await s.get("/sercen/me", token=rotated["access_token"])
        assert status == 401
        # trusted network, TOTP enrolment and a replayed code
        _, office = await s.login("1002", xff="172.25.1.9")
        assert office["status"] == "ok"
        _, enrolment = await s.post("/sercen/totp/enroll", {}, token=office["access_token"])
        secret = enrolment["secret"]
        step = totp.current_step() - 1
        status, _ = await s.post("/sercen/totp/confirm", {"code": totp.code_at(secret, step)},
                                 token=office["access_token"])
        assert status == 200
        _, challenge = await s.login("1002", xff="198.51.100.8")
        assert challenge["method"] == "totp"
        status, err = await s.post("/sercen/second-factor",
                                   {"challenge": challenge["challenge"],
                                    "code": totp.code_at(secret, step)}, xff="198.51.100.8")
        assert status == 401 and err["error"]["reason"] == "reused_code"
        status, ok = await s.post("/sercen/second-factor",
                                  {"challenge": challenge["challenge"],
                                   "code": totp.code_at(secret, step + 1)}, xff="198.51.100.8")
        assert status == 200 and ok["status"] == "ok"
        # regulation: third failure bans
        got = [(await s.login("1001", "wrong", xff="203.0.113.9"))[0] for _ in range(4)]
        assert got == [401, 401, 429, 429]
    finally:
        await store.close()
