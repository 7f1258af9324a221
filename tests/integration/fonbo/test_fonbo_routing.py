"""Routing rules through FONBO's admin API: refused with the field at fault when they could
not work (or could stall the PBX), kept in order, and tested against the PBX's own router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.support.pbxcontrol import start_pbx_control
from tests.unit.fonbo.support import World, start_client
from webfon.directory import create_queue

PATH = "/fonbo/admin/routing_rules"
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Madrid")).timestamp()
SUNDAY_10 = datetime(2026, 3, 8, 10, 0, tzinfo=ZoneInfo("Europe/Madrid")).timestamp()


@pytest.fixture
async def admin(world: World) -> dict[str, str]:
    async with world.store.transaction() as tx:
        await create_queue(tx, number="3000", name="Soporte", kind="hunt")
        await tx.execute("INSERT INTO categories (name, allowed) VALUES ('Interna', "
                         "'internal,emergency')")
        await tx.execute("INSERT INTO trunks (name, host) VALUES ('gw01', '127.0.0.1')")
    return world.auth(world.users["alice"], admin=True)


@pytest.fixture
async def tester_client(world: World) -> AsyncIterator[TestClient]:
    pbx = await start_pbx_control(world.store, world.data_dir)
    world.settings.pbx_control_url = str(pbx.make_url("/"))
    client = await start_client(world)
    yield client
    await client.close()
    await pbx.close()


async def create(client: TestClient, h: dict[str, str], **body: Any) -> tuple[int, Any]:
    r = await client.post(PATH, headers=h, json=body)
    return r.status, await r.json()


async def test_rules_are_checked_when_saved(client: TestClient, admin: dict[str, str]) -> None:
    status, body = await create(client, admin, name="eco", number_pattern=r"(\d)\1",
                                action="queue", target="3000")
    assert status == 422 and body["error"]["errors"][0]["field"] == "number_pattern"
    assert "back-references and look-around are not supported" in body["error"]["message"]
    status, body = await create(client, admin, name="largo", number_pattern="1" * 201,
                                action="queue", target="3000")
    assert status == 400 and "number_pattern" in body["error"]["message"]
    status, body = await create(client, admin, name="nada", number_pattern=r"9(\d{3})",
                                action="queue", target="3999")
    assert (status, body["error"]["message"]) == (422, "target: 3999 is not a group or queue")
    status, body = await create(client, admin, name="hueco", number_pattern=r"9(\d{3})",
                                action="queue", target="3$2")
    assert status == 422 and body["error"]["errors"][0]["field"] == "target"
    status, body = await create(client, admin, name="tz", number_pattern=r"9\d+",
                                action="queue", target="3000", timezone="Europe/Atlantis")
    assert status == 422 and body["error"]["errors"][0]["field"] == "timezone"
    status, body = await create(client, admin, name="trunk", number_pattern=r"8\d+",
                                action="trunk", target="0912345678", trunk_id=999)
    assert (status, body["error"]["message"]) == (422, "trunk_id: there is no trunk 999")
    # a pathological pattern for backtracking engines is fine: RE2 matches in linear time
    status, rule = await create(client, admin, name="patologico", number_pattern=r"(\d+)+#",
                                action="queue", target="3000")
    assert status == 201 and rule["position"] == 10 and rule["enabled"] is True
    # changing the action away from trunk drops trunk and prefix
    status, trunk_rule = await create(client, admin, name="salida", number_pattern=r"8(\d+)",
                                      action="trunk", target="09$1", trunk_id=1,
                                      trunk_prefix="1055")
    assert status == 201 and trunk_rule["position"] == 20
    r = await client.patch(f"{PATH}/{trunk_rule['id']}", headers=admin,
                           json={"action": "reject", "reject_status": 603})
    changed = await r.json()
    assert r.status == 200 and (changed["trunk_id"], changed["trunk_prefix"],
                                changed["target"]) == (None, "", "")


async def test_rules_order(client: TestClient, admin: dict[str, str], world: World) -> None:
    ids = []
    for name in ("a", "b", "c"):
        status, rule = await create(client, admin, name=name, number_pattern=r"9\d+",
                                    action="queue", target="3000")
        assert status == 201
        ids.append(rule["id"])
    r = await client.put(f"{PATH}/order", headers=admin, json={"ids": ids[::-1]})
    assert r.status == 200
    assert [i["name"] for i in (await r.json())["items"]] == ["c", "b", "a"]
    r = await client.put(f"{PATH}/order", headers=admin, json={"ids": ids[:2]})
    assert r.status == 422
    user = world.auth(world.users["bob"])
    assert (await client.put(f"{PATH}/order", headers=user, json={"ids": ids})).status == 403
    assert (await client.get(PATH, headers=user)).status == 403


async def test_rule_tester_asks_the_pbx(tester_client: TestClient, admin: dict[str, str],
                                        world: World) -> None:
    client = tester_client
    status, _ = await create(client, admin, name="soporte", number_pattern=r"9(\d{3})",
                             action="queue", target="3$1", days="mon-fri",
                             time_from="08:00", time_to="20:00")
    assert status == 201
    status, _ = await create(client, admin, name="fuera", number_pattern=r"8(\d{3})",
                             action="trunk", target="0044207123$1")
    assert status == 201
    async with world.store.transaction() as tx:
        await tx.execute("INSERT INTO numbering (number, kind) VALUES ('4000', 'ivr')")
        await tx.execute("INSERT INTO ivr_menus (number, name) VALUES ('4000', 'Bienvenida')")
    status, body = await create(client, admin, name="no-menu", number_pattern="7999",
                                action="ivr", target="3000")
    assert (status, body["error"]["message"]) == (422, "target: 3000 is not an IVR menu")
    status, _ = await create(client, admin, name="menu", number_pattern=r"7(\d{3})",
                             action="ivr", target="4$1")
    assert status == 201

    async def test(**body: Any) -> tuple[int, Any]:
        r = await client.post("/fonbo/admin/routing/test", headers=admin, json=body)
        return r.status, await r.json()

    status, ans = await test(number="9000", caller="2002", at=MONDAY_10)
    assert status == 200, ans
    assert ans["rule"]["name"] == "soporte" and ans["allowed"] is True
    assert ans["route"]["kind"] == "queue" and ans["route"]["destination"] == "Soporte (3000)"
    assert ans["caller"]["number"] == "2002" and ans["flow_control"] == "not evaluated"
    status, ans = await test(number="7000", caller="2002")
    assert ans["rule"]["name"] == "menu" and ans["allowed"] is True
    assert (ans["route"]["kind"], ans["route"]["destination"]) == ("ivr", "Bienvenida (4000)")
    status, ans = await test(number="9000", caller="2002", at=SUNDAY_10)
    assert ans["rule"] is None and ans["route"]["status"] == 404
    # bob's category allows nothing outside: the rule cannot open an international call
    status, ans = await test(number="8456", caller="1002")
    assert ans["rule"]["name"] == "fuera" and ans["allowed"] is False
    assert ans["route"]["status"] == 403
    assert "does not allow international" in ans["route"]["reason"]
    status, ans = await test(number="8456", caller="600111222", origin="trunk", trunk="gw01")
    assert ans["caller"]["trunk"] == "gw01" and ans["route"]["status"] == 403
    status, ans = await test(number="9000", caller="5555")
    assert status == 422 and "neither an extension nor a user" in ans["error"]["message"]
    # only admins may ask; and the PBX answers only with its control key
    r = await client.post("/fonbo/admin/routing/test", headers=world.auth(world.users["bob"]),
                          json={"number": "9000", "caller": "2002"})
    assert r.status == 403
    async with aiohttp.ClientSession() as http, http.post(
            f"{world.settings.pbx_control_url.rstrip('/')}/control/routing/test",
            json={"number": "9000", "caller": "2002"},
            headers={"Authorization": "Bearer not-the-key"}) as resp:
        assert resp.status == 401


async def test_rule_tester_without_a_pbx_says_so(admin: dict[str, str], world: World) -> None:
    world.settings.pbx_control_url = "http://127.0.0.1:9"
    client = await start_client(world)
    try:
        r = await client.post("/fonbo/admin/routing/test", headers=admin,
                              json={"number": "9000", "caller": "2001"})
        assert r.status == 503
        assert (await r.json())["error"]["message"].startswith("cannot ask the PBX")
    finally:
        await client.close()
