"""Dialler campaigns through FONBO's admin API: settings checked, number lists imported from
CSV with an error for each bad line (nothing imported unless partial), start/pause/stop,
status and results, and the CSV export guarded against spreadsheet formulas."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.unit.fonbo.support import World
from webfon.directory import create_queue

PATH = "/fonbo/admin/campaigns"


@pytest.fixture
async def admin(world: World) -> dict[str, str]:
    async with world.store.transaction() as tx:
        await create_queue(tx, number="3000", name="Ventas", kind="acd")
    return world.auth(world.users["alice"], admin=True)


async def new_campaign(client: TestClient, h: dict[str, str], world: World, **body: Any
                       ) -> tuple[int, Any]:
    body = {"name": "Ventas", "owner_user_id": world.users["alice"], "destination": "3000",
            **body}
    r = await client.post(PATH, headers=h, json=body)
    return r.status, await r.json()


async def test_campaign_settings_are_checked(client: TestClient, admin: dict[str, str],
                                             world: World) -> None:
    status, body = await new_campaign(client, admin, world, destination="2001")
    assert (status, body["error"]["message"]) == (
        422, "destination: 2001 is not a group, queue or IVR menu")
    status, body = await new_campaign(client, admin, world, owner_user_id=999)
    assert (status, body["error"]["message"]) == (422, "owner_user_id: there is no user 999")
    status, body = await new_campaign(client, admin, world, days="lun-vie")
    assert status == 422 and body["error"]["errors"][0]["field"] == "days"
    status, body = await new_campaign(client, admin, world, calls_per_s=0)
    assert status == 400
    status, c = await new_campaign(client, admin, world, max_concurrent=3, calls_per_s=2)
    assert status == 201 and c["state"] == "draft" and c["max_concurrent"] == 3
    user = world.auth(world.users["bob"])
    assert (await client.get(PATH, headers=user)).status == 403
    assert (await client.post(f"{PATH}/{c['id']}/control", headers=user,
                              json={"action": "start"})).status == 403


async def test_import_start_status_and_export(client: TestClient, admin: dict[str, str],
                                              world: World) -> None:
    status, c = await new_campaign(client, admin, world)
    assert status == 201
    base = f"{PATH}/{c['id']}"
    r = await client.post(f"{base}/control", headers=admin, json={"action": "start"})
    assert r.status == 409 and "import some first" in (await r.json())["error"]["message"]
    bad = ("número;nombre\n"
           "600 111 222;Ana\n"
           "6001112x2;Mal\n"
           "\n"
           "600-111-222;Otra vez\n"
           "+34 911 223 344;\"=HYPERLINK(\"\"http://evil\"\")\"\n"
           ";Sin número\n")
    headers = {**admin, "Content-Type": "text/csv"}
    r = await client.post(f"{base}/numbers/import", headers=headers, data=bad.encode())
    body = await r.json()
    assert r.status == 422 and body["error"]["errors"] == [
        {"line": 3, "message": "'6001112x2' is not a phone number (digits, * #, an optional "
                               "leading +, at most 32)"},
        {"line": 5, "message": "600111222 is already on line 2"},
        {"line": 7, "message": "no number"}]
    status_r = await client.get(f"{base}/status", headers=admin)
    assert (await status_r.json())["numbers"] == 0  # nothing imported
    r = await client.post(f"{base}/numbers/import?partial=true", headers=headers,
                          data=bad.encode())
    assert (await r.json())["imported"] == 2
    r = await client.post(f"{base}/numbers/import", headers=headers,
                          data=b"600111222\n699000111,Sin cabecera\n")
    assert await r.json() == {"imported": 1, "already": 1, "skipped": 0, "errors": []}
    r = await client.post(f"{base}/control", headers=admin, json={"action": "start"})
    status = await r.json()
    assert r.status == 200 and status["state"] == "running" and status["pending"] == 3
    r = await client.delete(base, headers=admin)
    assert r.status == 409  # running: pause or stop first
    r = await client.post(f"{base}/control", headers=admin, json={"action": "pause"})
    assert (await r.json())["state"] == "paused"
    r = await client.post(f"{base}/control", headers=admin, json={"action": "pause"})
    assert r.status == 409
    # results as the dialler leaves them
    await world.store.execute(
        "UPDATE campaign_numbers SET state = 'done', outcome = 'busy', attempts = 3, "
        "last_status = 486, last_reason = 'Busy', last_attempt_at = 1767261600 "
        "WHERE number = '600111222'")
    r = await client.get(f"{base}/numbers?outcome=busy", headers=admin)
    items = (await r.json())["items"]
    assert [(i["number"], i["attempts"], i["state"]) for i in items] == [("600111222", 3,
                                                                          "done")]
    r = await client.get(f"{base}/status", headers=admin)
    st = await r.json()
    assert (st["done"], st["pending"], st["attempts"], st["outcomes"]["busy"]) == (1, 2, 3, 1)
    r = await client.get(f"{base}/results.csv", headers=admin)
    assert r.status == 200 and r.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(await r.text())))
    assert rows[0][:5] == ["number", "name", "state", "outcome", "attempts"]
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number["600111222"][2:8] == ["done", "busy", "3", "486", "Busy",
                                           "2026-01-01T10:00:00Z"]
    assert by_number["+34911223344"][1] == "'=HYPERLINK(\"http://evil\")"  # not a formula
    r = await client.post(f"{base}/control", headers=admin, json={"action": "stop"})
    assert (await r.json())["state"] == "stopped"
    assert (await client.delete(base, headers=admin)).status == 204
    assert await world.store.fetchval("SELECT COUNT(*) AS n FROM campaign_numbers") == 0
