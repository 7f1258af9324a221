"""The hotel PMS interface's admin API: settings (CHAR's password kept as an argon2id hash,
never returned), rooms tied to desk extensions, room status codes, and the interface's state
(rooms, wake-up calls, messages for the PMS, sending a refused one again); admins only."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp.test_utils import TestClient

from tests.unit.fonbo.support import World
from webfon.directory import create_extension
from webfon.passwords import verify_password


def _msg(body: Any) -> str:
    return str(body["error"]["message"])


async def test_hotel_settings(client: TestClient, world: World) -> None:
    admin = world.auth(world.users["alice"], admin=True)
    user = world.auth(world.users["bob"])
    assert (await client.get("/fonbo/admin/hotel/settings", headers=user)).status == 403
    r = await client.get("/fonbo/admin/hotel/settings", headers=admin)
    assert r.status == 200
    body = await r.json()
    assert body["char_password_set"] is False and body["timezone"] == "Europe/Madrid"
    assert body["wakeup_code"] == "*55" and "char_password_hash" not in body
    r = await client.patch("/fonbo/admin/hotel/settings", headers=admin, json={
        "site": "hotel-sol", "char_user": "char", "char_password": "a long enough secret",
        "wakeup_ring_s": 40, "wakeup_retries": 3, "report_internal_calls": True})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["char_password_set"] is True and body["site"] == "hotel-sol"
    assert body["report_internal_calls"] is True and "a long enough" not in json.dumps(body)
    stored = await world.store.fetchval("SELECT char_password_hash FROM hotel_settings")
    assert stored.startswith("$argon2id$") and verify_password(stored, "a long enough secret")
    # a change that leaves the password alone keeps it
    r = await client.patch("/fonbo/admin/hotel/settings", headers=admin,
                           json={"wakeup_retry_s": 120})
    assert r.status == 200
    assert await world.store.fetchval("SELECT char_password_hash FROM hotel_settings") == stored
    audit = await world.store.fetchall("SELECT detail FROM audit_log WHERE action = ?",
                                       ("update hotel settings",))
    assert audit and all("secret" not in a["detail"] for a in audit)
    for bad, words in (({"timezone": "Mars/Base"}, "not a time zone"),
                       ({"wakeup_cancel_code": "*55"}, "must differ"),
                       ({"char_password": "short"}, "char_password"),
                       ({"wakeup_code": "55"}, "wakeup_code"),
                       ({"site": "hotel sol"}, "site"),
                       ({"wakeup_prompt_id": 999}, "no prompt")):
        r = await client.patch("/fonbo/admin/hotel/settings", headers=admin, json=bad)
        assert r.status in (400, 422) and words in _msg(await r.json()), bad


async def test_rooms_and_status_codes(client: TestClient, world: World) -> None:
    admin = world.auth(world.users["alice"], admin=True)
    ext = await world.store.fetchval("SELECT id FROM extensions WHERE number = '2002'")
    async with world.store.transaction() as tx:
        ownerless = await create_extension(tx, number="2099", kind="hard")
    r = await client.post("/fonbo/admin/hotel_rooms", headers=admin,
                          json={"room": "101", "extension_id": ownerless})
    assert r.status == 422 and "owner user" in _msg(await r.json())
    r = await client.post("/fonbo/admin/hotel_rooms", headers=admin,
                          json={"room": "101", "extension_id": ext,
                                "vacant_name": "Habitación 101"})
    assert r.status == 201, await r.text()
    room = await r.json()
    assert (room["state"], room["dnd"], room["message_waiting"]) == ("vacant", False, False)
    r = await client.post("/fonbo/admin/hotel_rooms", headers=admin,
                          json={"room": "102", "extension_id": ext})
    assert r.status == 409  # one room per extension
    r = await client.post("/fonbo/admin/hotel_rooms", headers=admin,
                          json={"room": "1 01", "extension_id": ext})
    assert r.status == 400
    # an occupied room keeps its extension and cannot go
    await world.store.execute("UPDATE hotel_rooms SET state = 'occupied' WHERE id = ?",
                              (room["id"],))
    r = await client.delete(f"/fonbo/admin/hotel_rooms/{room['id']}", headers=admin)
    assert r.status == 409 and "check the guest out" in _msg(await r.json())

    r = await client.post("/fonbo/admin/hotel_status_codes", headers=admin,
                          json={"dial": "*81", "code": "CLEAN", "label": "Habitación limpia"})
    assert r.status == 201
    r = await client.post("/fonbo/admin/hotel_status_codes", headers=admin,
                          json={"dial": "*55", "code": "X"})
    assert r.status == 422 and "wake-up" in _msg(await r.json())
    r = await client.patch("/fonbo/admin/hotel/settings", headers=admin,
                           json={"wakeup_cancel_code": "*81"})
    assert r.status == 422 and "room status code" in _msg(await r.json())

    now = time.time()
    stay = await world.store.insert(
        "INSERT INTO hotel_stays (room, guest_name, checkin_at) VALUES ('101', 'Ana', ?)",
        (now,))
    await world.store.execute("UPDATE hotel_rooms SET stay_id = ?, dnd = 1", (stay,))
    await world.store.execute(
        "INSERT INTO hotel_wakeups (room, due_at, next_at, created_at, updated_at) "
        "VALUES ('101', ?, ?, ?, ?)", (now + 60, now + 60, now, now))
    r = await client.get("/fonbo/admin/hotel/status", headers=admin)
    [item] = (await r.json())["items"]
    assert (item["room"], item["extension"], item["guest_name"], item["dnd"]) == \
        ("101", "2002", "Ana", True)
    assert item["wakeups"] == [now + 60]
    r = await client.get("/fonbo/admin/hotel/wakeups?state=pending", headers=admin)
    assert (await r.json())["total"] == 1


async def test_messages_for_the_pms(client: TestClient, world: World) -> None:
    admin = world.auth(world.users["alice"], admin=True)
    now = time.time()
    ids = []
    for action, state in (("CALL", "delivered"), ("STATUS", "refused")):
        ids.append(await world.store.insert(
            "INSERT INTO hotel_outbox (action, address, data, state, attempts, next_at, "
            "last_error, created_at) VALUES (?, '101', ?, ?, 1, ?, ?, ?)",
            (action, json.dumps({action: [{"room": "101"}]}), state, now,
             "8 Unknown room" if state == "refused" else "", now)))
    r = await client.get("/fonbo/admin/hotel/outbox?state=refused", headers=admin)
    [item] = (await r.json())["items"]
    assert item["action"] == "STATUS" and item["data"] == {"STATUS": [{"room": "101"}]}
    assert item["last_error"] == "8 Unknown room"
    r = await client.post(f"/fonbo/admin/hotel/outbox/{ids[0]}/retry", headers=admin)
    assert r.status == 409
    r = await client.post(f"/fonbo/admin/hotel/outbox/{ids[1]}/retry", headers=admin)
    assert r.status == 200 and (await r.json())["state"] == "pending"
    r = await client.post(f"/fonbo/admin/hotel/outbox/{ids[1]}/retry",
                          headers=world.auth(world.users["bob"]))
    assert r.status == 403
    assert (await client.post("/fonbo/admin/hotel/outbox/999/retry", headers=admin)).status \
        == 404
