"""The call centre's admin API and statistics over HTTP: group settings per kind, IVR menus
and options with their targets checked, WAV prompts checked and kept as 8 kHz mono, statistics
per 15-minute period (JSON and CSV) for admins and the groups' supervisors only."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from aiohttp.test_utils import TestClient

from tests.unit.fonbo.support import World
from webfon.directory import create_queue
from webfon.rtp.tones import sine
from webfon.rtp.wav import decode_wav, encode_wav

T0 = 1_700_000_100.0  # inside the period starting at 1_700_000_100 // 900 * 900
P0 = T0 // 900 * 900


def _msg(body: Any) -> str:
    return str(body["error"]["message"])


async def _queue(world: World, number: str, kind: str, **cols: Any) -> int:
    async with world.store.transaction() as tx:
        return await create_queue(tx, number=number, name=f"G{number}", kind=kind, **cols)


async def test_group_settings_follow_the_kind(client: TestClient, world: World) -> None:
    h = world.auth(world.users["alice"], admin=True)
    r = await client.post("/fonbo/admin/queues", headers=h, json={
        "number": "3100", "name": "Salto", "kind": "hunt", "wrapup_s": 10})
    assert r.status == 422 and "only corporate ACD groups" in _msg(await r.json())
    r = await client.post("/fonbo/admin/queues", headers=h, json={
        "number": "3100", "name": "Salto", "kind": "hunt", "max_waiting": 5})
    assert r.status == 422 and "keeps nobody waiting" in _msg(await r.json())
    r = await client.post("/fonbo/admin/queues", headers=h, json={
        "number": "3100", "name": "ACD", "kind": "acd", "wrapup_s": 10, "sla_s": 15,
        "announce_s": 20, "max_waiting": 5})
    assert r.status == 201
    acd = await r.json()
    assert (acd["wrapup_s"], acd["sla_s"], acd["announce_s"], acd["max_waiting"]) == \
        (10, 15, 20, 5)
    # turning it into a hunt group while it still has wrap-up time is refused
    r = await client.patch(f"/fonbo/admin/queues/{acd['id']}", headers=h, json={"kind": "hunt"})
    assert r.status == 422
    ext = await world.store.fetchval("SELECT id FROM extensions WHERE number = '2002'")
    r = await client.put(f"/fonbo/admin/queues/{acd['id']}/members/{ext}", headers=h,
                         json={"penalty": 1, "logged_in": False})
    assert r.status == 200 and (await r.json())["items"][0]["logged_in"] is False
    hunt = await _queue(world, "3200", "hunt")
    r = await client.put(f"/fonbo/admin/queues/{hunt}/members/{ext}", headers=h,
                         json={"logged_in": False})
    assert r.status == 422 and "do not log in" in _msg(await r.json())
    # only admins manage supervisors
    bob = world.auth(world.users["bob"])
    r = await client.put(f"/fonbo/admin/queues/{hunt}/supervisors/{world.users['bob']}",
                         headers=bob)
    assert r.status == 403


def _wav(seconds: float, rate: int, channels: int = 1, hz: float = 440.0) -> bytes:
    tone = sine(hz, seconds, rate)
    if channels == 2:
        tone = np.stack([tone, tone], axis=1)
    return encode_wav(tone, rate, channels)


async def test_ivr_prompts_are_checked_and_kept_as_8khz_mono(client: TestClient,
                                                             world: World) -> None:
    h = world.auth(world.users["alice"], admin=True)
    wav = {**h, "Content-Type": "audio/wav"}
    r = await client.post("/fonbo/admin/ivr_prompts?name=Bienvenida", headers=wav,
                          data=_wav(1.5, 44100, channels=2))
    assert r.status == 201, await r.text()
    prompt = await r.json()
    assert prompt["duration_s"] == 1.5 and prompt["original_format"] == \
        "PCM 16-bit 44100 Hz stereo"
    audio = await client.get(f"/fonbo/admin/ivr_prompts/{prompt['id']}/audio", headers=h)
    samples, info = decode_wav(await audio.read())
    assert (info.rate, info.channels, info.frames) == (8000, 1, 12000)
    from webfon.rtp.detect import dominant_frequency
    assert abs(dominant_frequency(samples, 8000) - 440.0) < 5
    # what will not do, and why
    r = await client.post("/fonbo/admin/ivr_prompts?name=Texto", headers=wav,
                          data=b"ID3\x03 this is an mp3, honest")
    assert r.status == 415 and "not a usable WAV file" in _msg(await r.json())
    r = await client.post("/fonbo/admin/ivr_prompts?name=Texto",
                          headers={**h, "Content-Type": "text/plain"}, data=b"hola")
    assert r.status == 415 and "audio/wav" in _msg(await r.json())
    r = await client.post("/fonbo/admin/ivr_prompts?name=Largo", headers=wav,
                          data=encode_wav(sine(440.0, 121, 8000), 8000, encoding="ulaw"))
    assert r.status == 422 and "at most 120 s" in _msg(await r.json())
    r = await client.post("/fonbo/admin/ivr_prompts?name=Enorme", headers=wav,
                          data=_wav(50, 16000))
    assert r.status == 413 and "at most" in _msg(await r.json())
    r = await client.post("/fonbo/admin/ivr_prompts?name=Bienvenida", headers=wav,
                          data=_wav(1, 8000))
    assert r.status == 409
    r = await client.post("/fonbo/admin/ivr_prompts", headers=wav, data=_wav(1, 8000))
    assert r.status == 400 and "name" in _msg(await r.json())
    assert await world.store.fetchval("SELECT COUNT(*) FROM ivr_prompts") == 1
    # a menu uses it; then it cannot be deleted
    r = await client.post("/fonbo/admin/ivr_menus", headers=h, json={
        "number": "4000", "name": "IVRPRU", "greeting_prompt_id": prompt["id"]})
    assert r.status == 201
    r = await client.delete(f"/fonbo/admin/ivr_prompts/{prompt['id']}", headers=h)
    assert r.status == 409 and "IVRPRU" in _msg(await r.json())
    bob = world.auth(world.users["bob"])
    assert (await client.get(f"/fonbo/admin/ivr_prompts/{prompt['id']}/audio",
                             headers=bob)).status == 403


async def test_ivr_menus_are_numbers_and_their_keys_lead_to_what_they_say(
        client: TestClient, world: World) -> None:
    h = world.auth(world.users["alice"], admin=True)
    group = await _queue(world, "3000", "operator")
    r = await client.post("/fonbo/admin/ivr_menus", headers=h, json={
        "number": "4000", "name": "IVRPRU", "timeout_s": 4, "max_tries": 2,
        "fallback_action": "queue", "fallback_target": "3000"})
    assert r.status == 201, await r.text()
    menu = await r.json()
    assert await world.store.fetchval("SELECT kind FROM numbering WHERE number = '4000'") == "ivr"
    r = await client.post("/fonbo/admin/ivr_menus", headers=h, json={
        "number": "2001", "name": "OTRO"})
    assert r.status == 409 and "already in use by an extension" in _msg(await r.json())
    r = await client.post("/fonbo/admin/ivr_menus", headers=h, json={
        "number": "4001", "name": "mal nombre"})
    assert r.status == 400
    base = f"/fonbo/admin/ivr_menus/{menu['id']}/options"
    r = await client.put(f"{base}/1", headers=h, json={
        "action": "queue", "target": "3000", "stats_enabled": True, "vv_name": "VVPRU",
        "vv_key": "ventas"})
    assert r.status == 200 and (await r.json())["items"][0]["stats_enabled"] is True
    for digit, body, why in (
            ("2", {"action": "queue", "target": "2001"}, "2001 is not a group (it is an "
                                                          "extension)"),
            ("2", {"action": "menu", "target": "4000"}, "same menu"),
            ("2", {"action": "voicemail", "target": "9999"}, "(no such number)"),
            ("2", {"action": "extension", "target": "1002", "stats_enabled": True},
             "only an option leading to a group"),
            ("2", {"action": "hangup", "target": "1002"}, "hangup takes no target"),
            ("2", {"action": "queue"}, "needs a target")):
        r = await client.put(f"{base}/{digit}", headers=h, json=body)
        assert r.status == 422 and why in _msg(await r.json()), (body, await r.text())
    r = await client.put(f"{base}/%23", headers=h, json={"action": "voicemail",
                                                         "target": "1002"})
    assert r.status == 200
    r = await client.put(f"{base}/x", headers=h, json={"action": "hangup"})
    assert r.status == 404
    items = (await (await client.get(base, headers=h)).json())["items"]
    assert [(o["digit"], o["action"], o["target"]) for o in items] == [
        ("#", "voicemail", "1002"), ("1", "queue", "3000")]
    # the group is in use by the menu's option: deleting the menu deletes its options
    assert (await client.delete(f"/fonbo/admin/ivr_menus/{menu['id']}", headers=h)).status == 204
    assert await world.store.fetchval("SELECT COUNT(*) FROM ivr_options") == 0
    assert await world.store.fetchval("SELECT COUNT(*) FROM numbering WHERE number = '4000'") == 0
    assert group


async def _stats(world: World, queue_id: int, period: float, **counts: float) -> None:
    row = {"queue_id": queue_id, "period_start": period, "offered": 0, "answered": 0,
           "abandoned": 0, "overflowed": 0, "moved": 0, "answered_in_sla": 0,
           "wait_total_s": 0.0, "talk_total_s": 0.0, "max_wait_s": 0.0, **counts}
    await world.store.execute(f"INSERT INTO queue_stats ({', '.join(row)}) VALUES "
                              f"({', '.join('?' * len(row))})", list(row.values()))


async def test_statistics_per_period_for_admins_and_supervisors_only(
        client: TestClient, world: World) -> None:
    a = await _queue(world, "3000", "acd", sla_s=15)
    b = await _queue(world, "3100", "hunt")
    await world.store.execute("UPDATE queues SET name = '=HYPERLINK(1)' WHERE id = ?", (b,))
    await _stats(world, a, P0, offered=4, answered=3, abandoned=1, answered_in_sla=2,
                 wait_total_s=40.0, talk_total_s=300.0, max_wait_s=25.0)
    await _stats(world, a, P0 + 900, offered=2, answered=1, overflowed=1, answered_in_sla=1,
                 wait_total_s=10.0, talk_total_s=60.0, max_wait_s=8.0)
    await _stats(world, b, P0, offered=1, answered=1, answered_in_sla=1)
    await world.store.execute("INSERT INTO ivr_accumulators (period_start, name, option_value, "
                              "count) VALUES (?, 'IVRPRU', '1', 7), (?, 'IVRPRU', 'TIMEOUT', 2)",
                              (P0, P0 + 900))
    admin = world.auth(world.users["alice"], admin=True)
    query = {"from": str(T0 - 100), "to": str(T0 + 3600)}
    body = await (await client.get("/fonbo/stats/queues", headers=admin, params=query)).json()
    assert [(i["number"], i["period_start"], i["offered"]) for i in body["items"]] == [
        ("3000", P0, 4), ("3100", P0, 1), ("3000", P0 + 900, 2)]
    first = body["items"][0]
    assert (first["service_level"], first["avg_wait_s"], first["avg_talk_s"],
            first["sla_s"]) == (50.0, 10.0, 100.0, 15)
    total = next(t for t in body["totals"] if t["queue_id"] == a)
    assert (total["offered"], total["answered"], total["abandoned"], total["overflowed"],
            total["service_level"], total["max_wait_s"]) == (6, 4, 1, 1, 50.0, 25.0)
    # CSV: same rows, a formula in a name does not run in a spreadsheet
    r = await client.get("/fonbo/stats/queues/export", headers=admin, params=query)
    assert r.status == 200 and r.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [(x["number"], x["offered"], x["service_level"]) for x in rows] == [
        ("3000", "4", "50.0"), ("3100", "1", "100.0"), ("3000", "2", "50.0")]
    assert rows[1]["name"] == "'=HYPERLINK(1)"
    # bob supervises 3000 only: he sees 3000 and nothing else
    bob = world.auth(world.users["bob"])
    assert (await client.get("/fonbo/stats/queues", headers=bob, params=query)).status == 403
    await world.store.execute("INSERT INTO queue_supervisors (queue_id, user_id) VALUES (?, ?)",
                              (a, world.users["bob"]))
    body = await (await client.get("/fonbo/stats/queues", headers=bob, params=query)).json()
    assert {i["queue_id"] for i in body["items"]} == {a}
    r = await client.get("/fonbo/stats/queues", headers=bob, params={**query, "queue_id": str(b)})
    assert r.status == 404
    assert (await client.get("/fonbo/stats/accumulators", headers=bob)).status == 403
    # accumulators, by period
    body = await (await client.get("/fonbo/stats/accumulators", headers=admin,
                                   params={**query, "kind": "ivr"})).json()
    assert [(i["period_start"], i["key"], i["count"]) for i in body["items"]] == [
        (P0, "1", 7), (P0 + 900, "TIMEOUT", 2)] and body["names"] == ["IVRPRU"]
    r = await client.get("/fonbo/stats/accumulators/export", headers=admin,
                         params={**query, "kind": "ivr"})
    assert (await r.text()).splitlines()[1].endswith(",IVRPRU,1,7")
    # ranges that make no sense
    r = await client.get("/fonbo/stats/queues", headers=admin,
                         params={"from": str(T0), "to": str(T0 - 1)})
    assert r.status == 400
    r = await client.get("/fonbo/stats/queues", headers=admin,
                         params={"from": str(T0), "to": str(T0 + 100 * 86400)})
    assert r.status == 400 and "at most 92 days" in _msg(await r.json())
