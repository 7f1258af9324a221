"""Live group control through FONBO against a running PBX (control API, SIP, one bus):
agents act on themselves, supervisors on their groups, everybody else is refused; queue
status; «Mover Cola» of a waiting SIP caller; Socket.IO events to those who may follow."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pbx.app import build
from pbx.control import CORE_KEY
from tests.integration.fonbo.test_fonbo_realtime import Listener
from tests.integration.pbx.pbxrun import app_settings
from tests.support.net import wait_until
from tests.support.phone import Phone
from tests.unit.fonbo.support import World, make_user, make_world, start_client
from webfon.bus import BusHub, open_bus
from webfon.directory import create_queue
from webfon.store import open_store


@dataclass
class Centre:
    world: World
    fonbo: TestClient
    pbx: TestClient
    ids: dict[str, int]
    admin: int

    @property
    def sip_port(self) -> int:
        return int(self.pbx.server.app[CORE_KEY].engine.port)

    def h(self, who: str | int, admin: bool = False) -> dict[str, str]:
        uid = who if isinstance(who, int) else self.ids[who]
        return self.world.auth(uid, admin=admin)

    async def phone(self, ext: str) -> Phone:
        phone = await Phone.open(ext, password=f"sip-{ext}",
                                 proxy=f"sip:127.0.0.1:{self.sip_port}")
        await phone.register()
        return phone


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[Centre]:
    hub = BusHub()
    bus_url = f"tcp://127.0.0.1:{await hub.start()}"
    base = random.randrange(30000, 60000, 2)
    settings, ids = await app_settings(tmp_path, "7000-7001", sip_port=0, rtp_port_min=base,
                                       rtp_port_max=base + 200, bus_url=bus_url,
                                       directory_cache_s=0)
    store = await open_store(settings.database_url)
    async with store.transaction() as tx:
        ids["operator"] = await create_queue(tx, number="3200", name="Operadoras",
                                             kind="operator", timeout_s=60, announce_s=0)
        ids["hunt"] = await create_queue(tx, number="3300", name="Salto", kind="hunt",
                                         ring_timeout_s=10, timeout_s=20)
        await tx.execute("INSERT INTO queue_members (queue_id, extension_id) VALUES (?, ?)",
                         (ids["hunt"], ids["ext2001"]))
        await tx.execute("INSERT INTO queue_members (queue_id, extension_id) VALUES (?, ?)",
                         (ids["operator"], ids["ext2002"]))
    admin = await make_user(store, "1009", "Admin")
    pbx = TestClient(TestServer(await build(settings), host="127.0.0.1"))
    await pbx.start_server()
    bus = await open_bus(bus_url)
    world = make_world(store, settings.data_dir, bus=bus,
                       pbx_control_url=str(pbx.make_url("")).rstrip("/"))
    fonbo = await start_client(world)
    try:
        yield Centre(world, fonbo, pbx, ids, admin)
    finally:
        await fonbo.close()
        await pbx.close()
        await bus.close()
        await store.close()
        await hub.close()


async def _json(resp: Any) -> Any:
    return await resp.json()


async def test_agents_act_on_themselves_and_supervisors_on_their_groups(
        centre: Centre) -> None:
    c, fonbo = centre, centre.fonbo
    q = c.ids["queue"]  # ACD 3000: agents 2002 (user 1002) and 2003 (user 1003)
    me = await _json(await fonbo.get("/fonbo/acd/me", headers=c.h("user1002")))
    mine = {x["number"]: x for x in me["agent"]}
    assert set(mine) == {"3000", "3200"} and mine["3000"]["logs_in"]
    assert not mine["3200"]["logs_in"] and me["supervisor"] == [] and not me["stats"]
    assert mine["3000"]["state"] == "unavailable" and mine["3000"]["live"]  # not registered
    # an agent pauses themselves, with a reason
    r = await fonbo.post(f"/fonbo/acd/queues/{q}/agents/{c.ids['user1002']}/pause",
                         headers=c.h("user1002"), json={"reason": "Descanso"})
    assert r.status == 200, await r.text()
    assert (await r.json())["state"] == "paused"
    row = await c.world.store.fetchone(
        "SELECT paused, pause_reason FROM queue_members WHERE queue_id = ? AND extension_id = ?",
        (q, c.ids["ext2002"]))
    assert row == {"paused": 1, "pause_reason": "Descanso"}
    # ...but not a colleague
    r = await fonbo.post(f"/fonbo/acd/queues/{q}/agents/{c.ids['user1003']}/pause",
                         headers=c.h("user1002"), json={"reason": "Descanso"})
    assert r.status == 403
    # and sees only themselves in the status, no callers (no «Mover Cola»)
    status = await _json(await fonbo.get(f"/fonbo/acd/queues/{q}/status",
                                         headers=c.h("user1002")))
    assert status["role"] == "agent" and status["calls"] == [] and not status["can_move"]
    assert [a["user_id"] for a in status["agents"]] == [c.ids["user1002"]]
    r = await fonbo.post(f"/fonbo/acd/queues/{q}/move", headers=c.h("user1002"),
                         json={"call_id": "x", "to_queue_id": c.ids["hunt"]})
    assert r.status == 403
    # 1001 has nothing to do with the group: it does not exist for them
    for method, path, body in (
            ("GET", f"/fonbo/acd/queues/{q}/status", None),
            ("POST", f"/fonbo/acd/queues/{q}/agents/{c.ids['user1002']}/unpause", None),
            ("POST", f"/fonbo/acd/queues/{q}/agents/{c.ids['user1001']}/login", None),
            ("POST", f"/fonbo/acd/queues/{q}/move", {"call_id": "x", "to_queue_id": 1})):
        r = await fonbo.request(method, path, headers=c.h("user1001"), json=body)
        assert r.status == 404, (path, await r.text())
    # an admin makes 1001 supervisor of the group: now they see every agent and act on them
    r = await fonbo.put(f"/fonbo/admin/queues/{q}/supervisors/{c.ids['user1001']}",
                        headers=c.h(c.admin, admin=True))
    assert r.status == 200
    status = await _json(await fonbo.get(f"/fonbo/acd/queues/{q}/status",
                                         headers=c.h("user1001")))
    assert status["role"] == "supervisor" and status["can_move"]
    agents = {a["extension"]: a for a in status["agents"]}
    assert agents["2002"]["state"] == "paused" and agents["2002"]["pause_reason"] == "Descanso"
    r = await fonbo.post(f"/fonbo/acd/queues/{q}/agents/{c.ids['user1003']}/logout",
                         headers=c.h("user1001"))
    assert r.status == 200 and (await r.json())["state"] == "logged_out"
    # a supervisor of 3000 is nobody in the operator group
    r = await fonbo.get(f"/fonbo/acd/queues/{c.ids['operator']}/status",
                        headers=c.h("user1001"))
    assert r.status == 404
    # operator and hunt groups have no agent login
    r = await fonbo.post(f"/fonbo/acd/queues/{c.ids['operator']}/agents/{c.ids['user1002']}"
                         f"/logout", headers=c.h("user1002"))
    assert r.status == 422 and "only corporate ACD groups" in (await r.json())["error"]["message"]
    # with pause reasons defined, only those are accepted
    r = await fonbo.post("/fonbo/admin/pause_reasons", headers=c.h(c.admin, admin=True),
                         json={"name": "Formación"})
    assert r.status == 201
    r = await fonbo.post(f"/fonbo/acd/queues/{q}/agents/{c.ids['user1002']}/pause",
                         headers=c.h("user1002"), json={"reason": "Descanso"})
    assert r.status == 422 and "Formación" in (await r.json())["error"]["message"]
    audit = await c.world.store.fetchall("SELECT action FROM audit_log WHERE action LIKE "
                                         "'agent %' ORDER BY id")
    assert [a["action"] for a in audit] == ["agent pause", "agent logout"]


async def test_supervisor_moves_a_waiting_caller_and_follows_it_live(centre: Centre) -> None:
    c, fonbo = centre, centre.fonbo
    op_q, hunt_q = c.ids["operator"], c.ids["hunt"]
    for qid in (op_q, hunt_q):
        r = await fonbo.put(f"/fonbo/admin/queues/{qid}/supervisors/{c.ids['user1003']}",
                            headers=c.h(c.admin, admin=True))
        assert r.status == 200
    supervisor, outsider = Listener(), Listener()
    base = str(fonbo.make_url("/")).rstrip("/")
    caller = await c.phone("2003")
    member = await c.phone("2001")
    try:
        await supervisor.connect(base, c.world.token(c.ids["user1003"]))
        await outsider.connect(base, c.world.token(c.ids["user1001"]))
        # 2002, the operator group's only member, is not registered: the caller waits
        call = caller.dial("3200", "127.0.0.1", c.sip_port)
        resp = await call.wait_answer(3)
        assert resp.status == 200
        caller.point_media(resp.body)
        event = await supervisor.next("acd.queue")
        assert event == {"queue_id": op_q, "event": "joined", "waiting": 1}
        status = await _json(await fonbo.get(f"/fonbo/acd/queues/{op_q}/status",
                                             headers=c.h("user1003")))
        assert [(w["caller"], w["position"]) for w in status["calls"]] == [("1003", 1)]
        assert status["waiting"] == 1
        # a caller that is not waiting there cannot be moved
        r = await fonbo.post(f"/fonbo/acd/queues/{op_q}/move", headers=c.h("user1003"),
                             json={"call_id": "nobody@x", "to_queue_id": hunt_q})
        assert r.status == 404
        r = await fonbo.post(f"/fonbo/acd/queues/{op_q}/move", headers=c.h("user1003"),
                             json={"call_id": status["calls"][0]["call_id"],
                                   "to_queue_id": hunt_q})
        assert r.status == 200, await r.text()
        member.answer(await member.incoming(5))
        caller.send_tone(600.0)
        member.send_tone(900.0)
        await caller.wait_hearing(900.0, timeout=5)
        await member.wait_hearing(600.0, timeout=5)
        moved = await supervisor.next("acd.queue")
        assert moved["event"] == "moved" and moved["queue_id"] == op_q
        # 1001 is an agent of the hunt group only: it hears of that group, never of the other
        heard = []
        while not outsider.events.empty():
            name, data = await outsider.events.get()
            if name == "acd.queue":
                heard.append(data)
        assert heard and {e["queue_id"] for e in heard} == {hunt_q}
        await call.bye()
        await wait_until(lambda: not c.pbx.server.app[CORE_KEY].engine.calls, timeout=5)
    finally:
        for listener in (supervisor, outsider):
            with contextlib.suppress(Exception):
                await listener.close()
        await caller.close()
        await member.close()
