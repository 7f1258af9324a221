"""The PBX component's HTTP control API and its CLI, against a running app (SIP included)."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pbx.app import build
from pbx.cli import register
from pbx.control import CORE_KEY
from tests.integration.pbx.pbxrun import MDFLOW, app_settings
from webfon.control_key import ensure_control_key
from webfon.sip import SipEndpoint
from webfon.sip.ua import Account, UserAgent


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient, dict[str, str], Any]]:
    settings, ids = await app_settings(tmp_path, "7000-7001", sip_port=0,
                                       rtp_port_min=41000, rtp_port_max=41100)
    app = await build(settings)
    async with TestClient(TestServer(app)) as c:
        key = ensure_control_key(settings.data_dir)
        yield c, {"Authorization": f"Bearer {key}"}, {"ids": ids, "settings": settings,
                                                     "conf": settings.mdflow_conf}


async def test_requires_the_control_key(client: Any) -> None:
    c, _, _ = client
    resp = await c.get("/control/registrations")
    assert resp.status == 401
    resp = await c.get("/control/registrations", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
    assert (await c.get("/healthz")).status == 200


async def test_webphone_login_logout_and_registrations(client: Any) -> None:
    c, auth, ctx = client
    uid = ctx["ids"]["user1001"]
    resp = await c.post("/control/webphone/login", json={"user_id": uid, "node_id": 4},
                        headers=auth)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["extension"] == "7000" and body["mode"] == "exclusivo"
    assert body["domain"] == "webfon" and body["registrar"].startswith("sip:127.0.0.1:")
    core = c.server.app[CORE_KEY]
    port = core.engine.port
    ep = SipEndpoint("127.0.0.1", 0)
    await ep.start()
    try:
        ua = UserAgent(ep, Account(aor="sip:7000@webfon", username=body["sip_username"],
                                   password=body["sip_password"],
                                   registrar=f"sip:127.0.0.1:{port}"))
        assert (await ua.register(refresh=False)).status == 200
        regs = await (await c.get("/control/registrations", headers=auth)).json()
        assert [r["aor"] for r in regs] == ["7000"] and regs[0]["expires_in"] > 0
        assert await (await c.get("/control/calls", headers=auth)).json() == []
        stats = await (await c.get("/control/stats", headers=auth)).json()
        assert stats["calls_active"] == 0 and stats["registrations_accepted"] == 1
        assert stats["media"]["open_legs"] == 0 and stats["sip"]["received"] >= 2
        resp = await c.post("/control/webphone/logout", json={"user_id": uid}, headers=auth)
        assert resp.status == 200
        assert await (await c.get("/control/registrations", headers=auth)).json() == []
    finally:
        await ep.close()
    bad = await c.post("/control/webphone/login", json={"user_id": "x"}, headers=auth)
    assert bad.status == 400
    missing = await c.post("/control/webphone/login", json={"user_id": 999, "node_id": 4},
                           headers=auth)
    assert missing.status == 404
    await c.post("/control/webphone/login", json={"user_id": uid, "node_id": 4}, headers=auth)
    resp = await c.post("/control/webphone/release-node", json={"node_id": 4}, headers=auth)
    assert await resp.json() == {"released": 1}


async def test_mdflow_commands(client: Any) -> None:
    c, auth, ctx = client
    cfg = await (await c.get("/control/mdflow/config", headers=auth)).json()
    assert cfg["tick_ms"] == 50 and cfg["flows"][0]["flujo"] == "Cen_Inicio_SIP"
    stats = await (await c.get("/control/mdflow/stats", headers=auth)).json()
    assert stats[0]["flujo"] == "Cen_Inicio_SIP" and "tasa_entrada" in stats[0]
    ctx["conf"].write_text(MDFLOW + "[flujo_3]\nflujo=Cen_TrunkInternos\nen_paso=0\n")
    resp = await c.post("/control/mdflow/reload", headers=auth)
    assert resp.status == 200 and len((await resp.json())["flows"]) == 2
    ctx["conf"].write_text("[broken\n")
    resp = await c.post("/control/mdflow/reload", headers=auth)
    assert resp.status == 400 and "MDflow.conf" in (await resp.json())["error"]["message"]
    resp = await c.post("/control/mdflow/debug", json={"on": True}, headers=auth)
    assert await resp.json() == {"debug": True}


async def test_cli_queries_the_api(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    c, _, ctx = client
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    url = str(c.make_url("/")).rstrip("/")
    data_dir = str(ctx["settings"].data_dir)
    args = parser.parse_args(["pbx", "show", "registrations", "--url", url, "--data-dir",
                              data_dir, "--json"])
    assert await args.run(args) == 0
    assert json.loads(capsys.readouterr().out) == []
    args = parser.parse_args(["pbx", "show", "calls", "--url", url, "--data-dir", data_dir])
    assert await args.run(args) == 0
    assert "call-id" in capsys.readouterr().out
    args = parser.parse_args(["mdflow", "show", "stats", "--url", url, "--data-dir", data_dir])
    assert await args.run(args) == 0
    assert "Cen_Inicio_SIP" in capsys.readouterr().out
    args = parser.parse_args(["mdflow", "debug", "on", "--url", url, "--data-dir", data_dir])
    assert await args.run(args) == 0
    args = parser.parse_args(["pbx", "show", "calls", "--url", "http://127.0.0.1:1",
                              "--data-dir", data_dir])
    assert await args.run(args) == 1



async def test_live_queue_endpoints(client: Any) -> None:
    c, auth, ctx = client
    queue = ctx["ids"]["queue"]
    assert (await c.get(f"/control/queues/{queue}/live")).status == 401
    resp = await c.get(f"/control/queues/{queue}/live", headers=auth)
    assert resp.status == 200
    live = await resp.json()
    assert live["waiting"] == [] and live["kind"] == "acd"
    assert {a["extension"]: a["state"] for a in live["agents"]} == {
        "2002": "unavailable", "2003": "unavailable"}
    assert (await c.get("/control/queues/999/live", headers=auth)).status == 404
    assert (await c.get("/control/queues/x/live", headers=auth)).status == 404
    for body, status in (({"call_id": "a@b", "to_queue_id": 999}, 404),
                         ({"call_id": "a@b", "to_queue_id": queue}, 422),
                         ({"call_id": "", "to_queue_id": queue}, 400),
                         ({"call_id": "a@b"}, 400)):
        resp = await c.post(f"/control/queues/{queue}/move", json=body, headers=auth)
        assert resp.status == status, (body, await resp.text())
    assert (await c.post("/control/queues/wake", json={"queue_id": queue},
                         headers=auth)).status == 200
    assert (await c.post("/control/queues/wake", json={"queue_id": "x"},
                         headers=auth)).status == 400
