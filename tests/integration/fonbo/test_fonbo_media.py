"""Conference rooms, callbacks and recordings over FONBO's HTTP API: limits, ownership (a
user gets 404 for what is not theirs, admins see everything), recording audio by ticket, and
starting/stopping a recording through a stand-in of the PBX control API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.fonbo.support import World, make_world, start_client, write_wav
from webfon.control_key import ensure_control_key
from webfon.store import Store


class FakePbx:
    """The PBX control API's /control/recording: keeps what it was asked, answers a status."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.answer: tuple[int, dict[str, Any]] = (200, {"recording_id": 1,
                                                         "state": "recording",
                                                         "call_id": "c1"})
        self.key = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return web.json_response({"error": {"message": "key"}}, status=401)
        self.asked.append(await request.json())
        status, body = self.answer
        return web.json_response(body, status=status)


@pytest.fixture
async def pbx_and_client(sqlite_store: Store, data_dir: Path, world: World
                         ) -> AsyncIterator[tuple[FakePbx, TestClient, World]]:
    fake = FakePbx()
    fake.key = ensure_control_key(data_dir)
    app = web.Application()
    app.router.add_post("/control/recording", fake.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    w = make_world(sqlite_store, data_dir, pbx_control_url=str(server.make_url("")),
                   conference_numbers="8500-8502")
    w.users = world.users
    client = await start_client(w)
    try:
        yield fake, client, w
    finally:
        await client.close()
        await server.close()


# --- conference rooms ------------------------------------------------------------------------
async def test_room_limit_inherits_numbers_pins_and_ownership(
        pbx_and_client: tuple[FakePbx, TestClient, World]) -> None:
    _, client, w = pbx_and_client
    bob, alice = w.users["bob"], w.users["alice"]
    hb = w.auth(bob)
    mine = await (await client.get("/fonbo/conferences", headers=hb)).json()
    assert (mine["limit"], mine["used"]) == (0, 0)  # -1 inherits the extension's 0
    r = await client.post("/fonbo/conferences", headers=hb, json={"name": "Equipo"})
    assert r.status == 422 and "Salas de conferencia" in (await r.json())["error"]["message"]
    await w.store.execute("UPDATE extensions SET conference_rooms = 2 WHERE owner_user_id = ?",
                          (bob,))
    r = await client.post("/fonbo/conferences", headers=hb, json={"name": "Equipo",
                                                                  "pin": "2468", "beep": 1})
    assert r.status == 201
    room = await r.json()
    assert room["number"] == "8500" and room["has_pin"] and "pin_hash" not in room
    adhoc = await (await client.post("/fonbo/conferences/adhoc", headers=hb)).json()
    assert adhoc["adhoc"] and adhoc["has_pin"] and adhoc["number"] == "8501"
    assert adhoc["expires_at"] > time.time()
    r = await client.post("/fonbo/conferences/adhoc", headers=hb)
    assert r.status == 422  # two rooms already
    await w.store.execute("UPDATE users SET conference_rooms = 3 WHERE id = ?", (bob,))
    assert (await client.post("/fonbo/conferences", headers=hb, json={})).status == 201
    # the range is used up
    await w.store.execute("UPDATE users SET conference_rooms = 9 WHERE id = ?", (bob,))
    r = await client.post("/fonbo/conferences", headers=hb, json={})
    assert r.status == 503 and "conference_numbers" in (await r.json())["error"]["message"]
    # the PIN is removed with null; another user cannot see or touch bob's room
    r = await client.patch(f"/fonbo/conferences/{room['id']}", headers=hb, json={"pin": None})
    assert (await r.json())["has_pin"] is False
    ha = w.auth(alice)
    assert (await client.patch(f"/fonbo/conferences/{room['id']}", headers=ha,
                               json={"name": "x"})).status == 404
    assert (await client.delete(f"/fonbo/conferences/{room['id']}", headers=ha)).status == 404
    # an admin sees and changes every room, the number included
    had = w.auth(alice, admin=True)
    listed = await (await client.get("/fonbo/admin/conference_rooms", headers=had)).json()
    assert listed["total"] == 3
    r = await client.patch(f"/fonbo/admin/conference_rooms/{room['id']}", headers=had,
                           json={"number": "1001"})
    assert r.status == 409  # alice's number
    r = await client.post("/fonbo/admin/conference_rooms", headers=had,
                          json={"number": "7777", "name": "Dirección", "pin": "1234"})
    assert r.status == 201 and (await r.json())["owner_user_id"] is None
    assert (await client.get("/fonbo/admin/conference_rooms", headers=hb)).status == 403
    assert (await client.delete(f"/fonbo/conferences/{room['id']}", headers=hb)).status == 204
    assert await w.store.fetchval("SELECT COUNT(*) FROM numbering WHERE number = '8500'") == 0


# --- callbacks -------------------------------------------------------------------------------
async def test_callbacks_book_list_cancel(pbx_and_client: tuple[FakePbx, TestClient, World]
                                          ) -> None:
    _, client, w = pbx_and_client
    hb = w.auth(w.users["bob"])
    r = await client.post("/fonbo/callbacks", headers=hb, json={"number": "1002"})
    assert r.status == 422  # bob is 1002
    booked = await (await client.post("/fonbo/callbacks", headers=hb,
                                      json={"number": "1001"})).json()
    assert booked["state"] == "pending" and booked["requester_number"] == "1002"
    again = await (await client.post("/fonbo/callbacks", headers=hb,
                                     json={"number": "1001"})).json()
    listed = await (await client.get("/fonbo/callbacks", headers=hb)).json()
    assert [c["state"] for c in listed["items"]] == ["pending", "cancelled"]
    ha = w.auth(w.users["alice"])
    assert (await client.delete(f"/fonbo/callbacks/{again['id']}", headers=ha)).status == 404
    r = await client.delete(f"/fonbo/callbacks/{again['id']}", headers=hb)
    assert (await r.json())["state"] == "cancelled"
    assert (await client.delete(f"/fonbo/callbacks/{again['id']}", headers=hb)).status == 409
    everyone = await (await client.get("/fonbo/admin/callbacks",
                                       headers=w.auth(w.users["alice"], admin=True))).json()
    assert everyone["total"] == 2


# --- recordings ------------------------------------------------------------------------------
async def add_recording(w: World, owner: int, path: Path) -> int:
    now = time.time()
    return await w.store.insert(
        "INSERT INTO recordings (call_id, owner_user_id, caller, callee, reason, state, path, "
        "started_at, ended_at, duration_s, expires_at) VALUES (?, ?, ?, ?, 'on_demand', "
        "'done', ?, ?, ?, 1.0, ?)", ("call-1", owner, "1002", "1001", str(path), now - 2, now,
                                     now + 3600))


async def test_recordings_only_for_their_owner_and_admins(
        pbx_and_client: tuple[FakePbx, TestClient, World]) -> None:
    _, client, w = pbx_and_client
    bob, alice = w.users["bob"], w.users["alice"]
    wav = write_wav(w.data_dir / "recordings" / "r.wav", 0.3)
    rec = await add_recording(w, bob, wav)
    hb, ha = w.auth(bob), w.auth(alice)
    mine = await (await client.get("/fonbo/recordings", headers=hb)).json()
    assert [r["id"] for r in mine["items"]] == [rec] and "path" not in mine["items"][0]
    assert (await (await client.get("/fonbo/recordings", headers=ha)).json())["total"] == 0
    # another user: 404 for the row, its ticket, its audio, its deletion
    for method, url in (("GET", f"/fonbo/recordings/{rec}"),
                        ("POST", f"/fonbo/recordings/{rec}/ticket"),
                        ("GET", f"/fonbo/recordings/{rec}/audio"),
                        ("DELETE", f"/fonbo/recordings/{rec}")):
        assert (await client.request(method, url, headers=ha)).status == 404, url
    # the owner plays it with a ticket (as <audio src> does), and only that recording
    ticket = await (await client.post(f"/fonbo/recordings/{rec}/ticket", headers=hb)).json()
    r = await client.get(ticket["url"])
    assert r.status == 200 and await r.read() == wav.read_bytes()
    other = await add_recording(w, alice, wav)
    r = await client.get(f"/fonbo/recordings/{other}/audio",
                         params={"ticket": ticket["ticket"]})
    assert r.status == 404
    # an admin sees and plays anyone's, also with a ticket (which carries no role)
    had = w.auth(alice, admin=True)
    everyone = await (await client.get("/fonbo/admin/recordings", headers=had)).json()
    assert everyone["total"] == 2
    ticket = await (await client.post(f"/fonbo/recordings/{rec}/ticket", headers=had)).json()
    assert (await client.get(ticket["url"])).status == 200
    await w.store.execute("UPDATE users SET role = 'user' WHERE id = ?", (alice,))
    assert (await client.get(ticket["url"])).status == 404  # no longer an admin
    assert (await client.delete(f"/fonbo/recordings/{rec}", headers=hb)).status == 204
    assert not wav.exists()


async def test_start_stop_goes_to_the_pbx_as_the_user(
        pbx_and_client: tuple[FakePbx, TestClient, World]) -> None:
    fake, client, w = pbx_and_client
    bob, alice = w.users["bob"], w.users["alice"]
    r = await client.post("/fonbo/calls/wf-abc/recording", headers=w.auth(bob),
                          json={"action": "start"})
    assert r.status == 200 and (await r.json())["state"] == "recording"
    assert fake.asked[-1] == {"action": "start", "call_id": "wf-abc", "user_id": bob,
                              "admin": False}
    fake.answer = (403, {"error": {"message": "«Grabar por enrutamiento» is «sin grabación» "
                                              "for you"}})
    r = await client.post("/fonbo/calls/wf-abc/recording", headers=w.auth(bob),
                          json={"action": "start"})
    assert r.status == 403 and "sin grabación" in (await r.json())["error"]["message"]
    # InfoWS-style, by extension: admins only
    r = await client.post("/fonbo/admin/recording", headers=w.auth(bob),
                          json={"action": "stop", "extension": "2002"})
    assert r.status == 403
    fake.answer = (200, {"recording_id": 3, "state": "stopped", "call_id": "c9"})
    r = await client.post("/fonbo/admin/recording", headers=w.auth(alice, admin=True),
                          json={"action": "stop", "extension": "2002"})
    assert r.status == 200
    assert fake.asked[-1] == {"action": "stop", "call_id": None, "extension": "2002",
                              "user_id": alice, "admin": True}
    r = await client.post("/fonbo/admin/recording", headers=w.auth(alice, admin=True),
                          json={"action": "stop"})
    assert r.status == 400


async def test_the_pbx_control_api_over_its_unix_socket(sqlite_store: Store, data_dir: Path,
                                                       world: World, tmp_path: Path) -> None:
    """How ``webfon up`` connects FONBO to the PBX: the control key never crosses TCP."""
    fake = FakePbx()
    fake.key = ensure_control_key(data_dir)
    app = web.Application()
    app.router.add_post("/control/recording", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / "pbx.sock"
    await web.UnixSite(runner, str(sock)).start()
    w = make_world(sqlite_store, data_dir, pbx_control_url=f"unix:{sock}")
    client = await start_client(w)
    try:
        r = await client.post("/fonbo/calls/wf-1/recording", headers=w.auth(world.users["bob"]),
                              json={"action": "stop"})
        assert r.status == 200 and fake.asked[-1]["call_id"] == "wf-1"
    finally:
        await client.close()
        await runner.cleanup()
