"""The portal API over HTTP: agenda, history, voicemail, forwarding, phones, buttons, logo."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import png
import pytest
from aiohttp.test_utils import TestClient

from fonbo.repo import phones as phones_repo
from tests.unit.fonbo.support import (
    World,
    add_cdr,
    add_voicemail,
    make_user,
    make_world,
    start_client,
    write_wav,
)
from webfon.store import Store

T0 = 1_700_000_000.0


# --- agenda ---------------------------------------------------------------------------------
async def test_contacts_crud_favourites_and_search(client: TestClient, world: World) -> None:
    h = world.auth(world.users["bob"])
    r = await client.post("/fonbo/contacts", headers=h,
                          json={"name": "Carmen", "number": "600111222", "favourite": True})
    assert r.status == 201
    carmen = await r.json()
    r = await client.post("/fonbo/contacts", headers=h, json={"name": "Sin datos"})
    assert r.status == 422 and "number or an email" in (await r.json())["error"]["message"]
    r = await client.patch(f"/fonbo/contacts/{carmen['id']}", headers=h,
                           json={"notes": "taller"})
    assert (await r.json())["notes"] == "taller"
    favs = await (await client.get("/fonbo/favourites", headers=h)).json()
    assert [f["name"] for f in favs["items"]] == ["Carmen"]
    found = await (await client.get("/fonbo/agenda/search", headers=h,
                                    params={"q": "alice"})).json()
    assert [(f["source"], f["number"]) for f in found["items"]] == [("user", "1001")]
    found = await (await client.get("/fonbo/agenda/search", headers=h,
                                    params={"q": "600"})).json()
    assert found["items"][0]["source"] == "personal"
    r = await client.get("/fonbo/agenda/search", headers=h)
    assert r.status == 400
    assert (await client.delete(f"/fonbo/contacts/{carmen['id']}", headers=h)).status == 204
    assert (await client.get(f"/fonbo/contacts/{carmen['id']}", headers=h)).status == 404


async def test_csv_import_is_all_or_nothing_unless_partial(client: TestClient,
                                                           world: World) -> None:
    h = {**world.auth(world.users["bob"]), "Content-Type": "text/csv"}
    text = "name,number,email\nAna,600000001,\nMal,12x,\nEva,,eva@x.es\n,600000004,\n"
    r = await client.post("/fonbo/contacts/import", headers=h, data=text.encode())
    assert r.status == 422
    body = await r.json()
    assert [e["line"] for e in body["error"]["errors"]] == [3, 5]
    assert "nothing was imported" in body["error"]["message"]
    listed = await (await client.get("/fonbo/contacts", headers=h)).json()
    assert listed["total"] == 0
    r = await client.post("/fonbo/contacts/import?partial=true", headers=h, data=text.encode())
    assert r.status == 200
    assert await r.json() == {"imported": 2, "duplicates": 0, "skipped": 2, "errors": [
        {"line": 3, "message": "number: must be a phone number: digits, *, # and an optional "
                               "leading +"},
        {"line": 5, "message": "name: must not be empty"}]}
    r = await client.post("/fonbo/contacts/import?partial=true", headers=h, data=text.encode())
    assert (await r.json())["duplicates"] == 2


async def test_vcard_and_csv_export_round_trip(client: TestClient, world: World) -> None:
    h = world.auth(world.users["bob"])
    for c in ({"name": "Pérez, Juan", "number": "+34600111222", "company": "ACME; S.L.",
               "favourite": True}, {"name": "Solo", "email": "s@x.es", "notes": "a\nb"}):
        assert (await client.post("/fonbo/contacts", headers=h, json=c)).status == 201
    r = await client.get("/fonbo/contacts/export", headers=h, params={"format": "vcard"})
    assert r.content_type == "text/vcard"
    vcf = await r.text()
    r = await client.get("/fonbo/contacts/export", headers=h)
    assert r.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [row["name"] for row in rows] == ["Pérez, Juan", "Solo"]
    # import the vCard into another user's agenda: same contacts
    other = world.auth(world.users["alice"])
    r = await client.post("/fonbo/contacts/import", data=vcf.encode(),
                          headers={**other, "Content-Type": "text/vcard"})
    assert (await r.json())["imported"] == 2
    mine = await (await client.get("/fonbo/contacts", headers=other)).json()
    got = {c["name"]: (c["number"], c["email"], c["company"], c["notes"], c["favourite"])
           for c in mine["items"]}
    assert got == {"Pérez, Juan": ("+34600111222", "", "ACME; S.L.", "", True),
                   "Solo": ("", "s@x.es", "", "a\nb", False)}


async def test_bad_vcard_lines_are_reported(client: TestClient, world: World) -> None:
    h = {**world.auth(world.users["bob"]), "Content-Type": "text/vcard"}
    text = "BEGIN:VCARD\nFN:Ok\nTEL:600\nEND:VCARD\nBEGIN:VCARD\nTEL:601\nEND:VCARD\nbasura\n"
    r = await client.post("/fonbo/contacts/import", headers=h, data=text.encode())
    assert r.status == 422
    assert [e["line"] for e in (await r.json())["error"]["errors"]] == [5, 8]


# --- history --------------------------------------------------------------------------------
async def test_history_pages_recents_export_and_scroll(client: TestClient, world: World) -> None:
    bob = world.users["bob"]
    h = world.auth(bob)
    for i in range(12):
        await add_cdr(world.store, bob, started_at=T0 + i, caller=f"61100000{i % 3}",
                      callee="2002", answered=i % 2 == 0)
    r = await client.get("/fonbo/history", headers=h, params={"limit": "5"})
    page = await r.json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    seen = [x["id"] for x in page["items"]]
    while page["next_cursor"]:
        page = await (await client.get("/fonbo/history", headers=h, params={
            "limit": "5", "cursor": page["next_cursor"]})).json()
        seen += [x["id"] for x in page["items"]]
    assert len(seen) == len(set(seen)) == 12
    missed = await (await client.get("/fonbo/history", headers=h,
                                     params={"missed": "true"})).json()
    assert len(missed["items"]) == 6
    assert (await (await client.get("/fonbo/history/missed-count", headers=h)).json()) == {
        "missed": 6}
    r = await client.get("/fonbo/history", headers=h, params={"cursor": "garbage!"})
    assert r.status == 400
    recents = await (await client.get("/fonbo/history/recents", headers=h)).json()
    assert sorted(x["peer_number"] for x in recents["items"]) == [
        "611000000", "611000001", "611000002"]
    assert sum(x["calls"] for x in recents["items"]) == 12
    r = await client.get("/fonbo/history/export", headers=h, params={"missed": "false"})
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert len(rows) == 6 and rows[0]["started_at"] < rows[-1]["started_at"]
    batch = await (await client.get("/fonbo/history/scroll", headers=h,
                                    params={"size": "5", "direction": "inbound"})).json()
    got = [x["id"] for x in batch["items"]]
    while batch["scroll_id"]:
        batch = await (await client.get("/fonbo/history/scroll", headers=h,
                                        params={"scroll_id": batch["scroll_id"]})).json()
        got += [x["id"] for x in batch["items"]]
    assert sorted(got) == got and sorted(got) == sorted(seen)
    one = await (await client.get(f"/fonbo/history/{got[0]}", headers=h)).json()
    assert one["id"] == got[0]


async def test_history_quality_bad_calls_filter_and_the_admins_listing(
        client: TestClient, world: World) -> None:
    bob, alice = world.users["bob"], world.users["alice"]
    legs = json.dumps([{"node": "pbx-a", "leg": "callee", "address": "10.0.0.9:4000",
                        "network": "tls", "codec": "PCMA", "srtp": True, "rx_packets": 500,
                        "remote_loss_pct": 12.5, "rtt_ms": 30.0, "mos": 1.9}])
    ids = {}
    for name, mos, loss in (("good", 4.3, 0.1), ("bad", 2.1, 12.5), ("none", None, None)):
        ids[name] = await add_cdr(world.store, bob, started_at=T0 + len(ids), caller="1001",
                                  callee="1002", call_id=f"{name}@t")
        await world.store.execute(
            "UPDATE cdr SET mos = ?, loss_pct = ?, jitter_ms = ?, rtt_ms = ?, quality = ? "
            "WHERE id = ?", (mos, loss, 3.0 if mos else None, 30.0 if mos else None,
                             legs if name == "bad" else "", ids[name]))
    # the other party's row of the bad call: the admin sees the call once
    await add_cdr(world.store, alice, started_at=T0 + 1, caller="1001", callee="1002",
                  call_id="bad@t")
    await world.store.execute("UPDATE cdr SET mos = 2.1 WHERE user_id = ?", (alice,))
    h = world.auth(bob)
    page = await (await client.get("/fonbo/history", headers=h)).json()
    by_call = {item["call_id"]: item["quality"] for item in page["items"]}
    assert by_call["good@t"] == {"mos": 4.3, "loss_pct": 0.1, "jitter_ms": 3.0,
                                 "rtt_ms": 30.0, "bad": False}
    assert by_call["bad@t"]["bad"] and by_call["none@t"]["mos"] is None
    bad = await (await client.get("/fonbo/history", headers=h, params={"bad": "true"})).json()
    assert [item["call_id"] for item in bad["items"]] == ["bad@t"]
    rest = await (await client.get("/fonbo/history", headers=h, params={"bad": "false"})).json()
    assert sorted(item["call_id"] for item in rest["items"]) == ["good@t", "none@t"]
    r = await client.get("/fonbo/history/export", headers=h, params={"bad": "true"})
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [(row["call_id"], row["mos"]) for row in rows] == [("bad@t", "2.1")]
    # a user is not an admin: the listing of everyone's calls is refused
    assert (await client.get("/fonbo/admin/history", headers=h)).status == 403
    admin = world.auth(alice, admin=True)
    calls = await (await client.get("/fonbo/admin/history", headers=admin,
                                    params={"bad": "true"})).json()
    assert [c["call_id"] for c in calls["items"]] == ["bad@t"]
    leg = calls["items"][0]["quality"]["legs"][0]
    assert (leg["node"], leg["network"], leg["codec"], leg["srtp"]) == \
        ("pbx-a", "tls", "PCMA", True)
    everything = await (await client.get("/fonbo/admin/history", headers=admin,
                                         params={"limit": "2"})).json()
    assert len(everything["items"]) == 2 and everything["next_cursor"]
    last = await (await client.get("/fonbo/admin/history", headers=admin, params={
        "limit": "2", "cursor": everything["next_cursor"]})).json()
    assert [c["call_id"] for c in everything["items"] + last["items"]] == \
        ["none@t", "bad@t", "good@t"]


# --- voicemail ------------------------------------------------------------------------------
async def test_voicemail_list_stream_ranges_mark_delete(client: TestClient, world: World
                                                        ) -> None:
    bob = world.users["bob"]
    h = world.auth(bob)
    wav = write_wav(world.data_dir / "voicemail" / "m1.wav", 0.5)
    data = wav.read_bytes()
    msg = await add_voicemail(world.store, bob, wav)
    await add_voicemail(world.store, bob, write_wav(world.data_dir / "voicemail" / "m2.wav"),
                        heard=True)
    listed = await (await client.get("/fonbo/voicemail", headers=h)).json()
    assert listed["total"] == 2 and listed["unread"] == 1
    r = await client.get(f"/fonbo/voicemail/{msg}/audio", headers=h)
    assert r.status == 200 and r.content_type == "audio/wav"
    assert await r.read() == data
    assert r.headers["Accept-Ranges"] == "bytes"
    r = await client.get(f"/fonbo/voicemail/{msg}/audio", headers={**h, "Range": "bytes=0-43"})
    assert r.status == 206 and await r.read() == data[:44]
    assert r.headers["Content-Range"] == f"bytes 0-43/{len(data)}"
    r = await client.get(f"/fonbo/voicemail/{msg}/audio", headers={**h, "Range": "bytes=-10"})
    assert r.status == 206 and await r.read() == data[-10:]
    r = await client.get(f"/fonbo/voicemail/{msg}/audio",
                         headers={**h, "Range": f"bytes={len(data) + 5}-"})
    assert r.status == 416
    # a ticket for <audio src>: works without the header, only for that message
    ticket = await (await client.post(f"/fonbo/voicemail/{msg}/ticket", headers=h)).json()
    r = await client.get(ticket["url"])
    assert r.status == 200 and await r.read() == data
    other = listed["items"][0]["id"] if listed["items"][0]["id"] != msg else listed["items"][1][
        "id"]
    r = await client.get(f"/fonbo/voicemail/{other}/audio", params={"ticket": ticket["ticket"]})
    assert r.status == 404
    r = await client.get(f"/fonbo/voicemail/{msg}/audio", params={"ticket": "x.y"})
    assert r.status == 401
    r = await client.patch(f"/fonbo/voicemail/{msg}", headers=h, json={"heard": True})
    assert (await r.json())["heard"] is True
    assert await (await client.get("/fonbo/voicemail/unread", headers=h)).json() == {"unread": 0}
    assert (await client.delete(f"/fonbo/voicemail/{msg}", headers=h)).status == 204
    assert not wav.exists()
    assert (await client.get(f"/fonbo/voicemail/{msg}", headers=h)).status == 404


# --- forwarding -----------------------------------------------------------------------------
async def test_forwarding_rules_and_validation(client: TestClient, world: World) -> None:
    h = world.auth(world.users["bob"])
    sub = await world.bus.subscribe("settings.changed")
    r = await client.put("/fonbo/forwarding/busy", headers=h,
                         json={"enabled": True, "target_type": "number",
                               "target_number": "600111222"})
    assert r.status == 200
    rule = await r.json()
    assert rule["kind"] == "busy" and rule["enabled"] is True and rule["timeout_s"] == 20
    event = await sub.get(timeout=2)
    assert event.payload["table"] == "forwarding_rules" and event.payload["id"] == rule["id"]
    rules = (await (await client.get("/fonbo/forwarding", headers=h)).json())["rules"]
    assert [x["kind"] for x in rules] == ["not_logged_in", "no_answer", "busy", "unconditional"]
    assert rules[2]["target_number"] == "600111222"
    for body, words in (
            ({"enabled": True, "target_type": "number"}, "needs the number"),
            ({"enabled": True, "target_type": "number", "target_number": "2002"},
             "your own number"),
            ({"enabled": True, "target_type": "number", "target_number": "1",
              "timeout_s": 601}, "at most 600")):
        r = await client.put("/fonbo/forwarding/no_answer", headers=h, json=body)
        assert r.status in (400, 422) and words in (await r.json())["error"]["message"]
    r = await client.put("/fonbo/forwarding/sometimes", headers=h,
                         json={"enabled": False, "target_type": "voicemail"})
    assert r.status == 404
    r = await client.put("/fonbo/forwarding/no_answer", headers=h,
                         json={"enabled": True, "target_type": "voicemail",
                               "target_number": "600", "timeout_s": 15})
    assert (await r.json())["target_number"] == ""
    await sub.close()


# --- my phones ------------------------------------------------------------------------------
def _png_rows(data: bytes) -> list[tuple[int, ...]]:
    _w, _h, rows, _info = png.Reader(bytes=data).read()
    return [tuple(r) for r in rows]


async def test_my_phones_order_enable_and_provisioning_qr(client: TestClient, world: World,
                                                          monkeypatch: Any) -> None:
    alice = world.users["alice"]
    h = world.auth(alice)
    items = (await (await client.get("/fonbo/phones", headers=h)).json())["items"]
    assert [(p["extension"], p["position"]) for p in items] == [("2001", 0), ("2001", 1)]
    first, second = items
    r = await client.put("/fonbo/phones/order", headers=h, json={"items": [
        {"id": first["id"], "ring_order": 5}, {"id": second["id"], "ring_order": 1}]})
    assert [p["id"] for p in (await r.json())["items"]] == [second["id"], first["id"]]
    r = await client.patch(f"/fonbo/phones/{first['id']}", headers=h, json={"enabled": False})
    assert (await r.json())["enabled"] is False
    r = await client.post(f"/fonbo/phones/{first['id']}/provision", headers=h)
    assert r.status == 409 and "secure" in (await r.json())["error"]["message"]
    monkeypatch.setattr(phones_repo, "new_secret", lambda: "known-secret-123")
    r = await client.post(f"/fonbo/phones/{second['id']}/provision", headers=h)
    assert r.status == 200 and r.content_type == "image/png"
    assert r.headers["Cache-Control"] == "no-store"
    image = await r.read()
    row = await world.store.fetchone("SELECT sip_username, sip_ha1_md5, sip_ha1_sha256, "
                                     "secret_expires_at FROM phones WHERE id = ?",
                                     (second["id"],))
    assert row is not None
    user = row["sip_username"]
    assert row["sip_ha1_md5"] == hashlib.md5(f"{user}:webfon:known-secret-123".encode()
                                             ).hexdigest()
    assert row["sip_ha1_sha256"] == hashlib.sha256(
        f"{user}:webfon:known-secret-123".encode()).hexdigest()
    expected = phones_repo.qr_png(phones_repo.provisioning_payload(
        username=user, secret="known-secret-123", realm="webfon",
        registrar=world.settings.provisioning_registrar, extension="2001",
        expires_at=row["secret_expires_at"]))
    assert _png_rows(image) == _png_rows(expected)
    payload = json.loads(phones_repo.provisioning_payload(
        username=user, secret="s", realm="webfon", registrar="sip:x", extension="2001",
        expires_at=1))
    assert payload["type"] == "webfon-provisioning" and "password" in payload
    secret_hits = await world.store.fetchval(
        "SELECT COUNT(*) AS n FROM phones WHERE sip_ha1_md5 = 'known-secret-123' "
        "OR sip_username = 'known-secret-123'")
    assert secret_hits == 0


# --- smart buttons, preferences, logo --------------------------------------------------------
async def test_buttons_global_and_mine(client: TestClient, world: World) -> None:
    admin = world.auth(world.users["alice"], admin=True)
    bob = world.auth(world.users["bob"])
    r = await client.post("/fonbo/admin/buttons", headers=admin,
                          json={"code": "*43#", "label": "Retrollamada", "kind": "feature"})
    assert r.status == 201
    glob = await r.json()
    r = await client.post("/fonbo/buttons", headers=bob, json={"code": "3100", "label": "ACD"})
    mine = await r.json()
    assert mine["user_id"] == world.users["bob"]
    r = await client.post("/fonbo/buttons", headers=bob,
                          json={"code": "abc", "label": "x", "kind": "dial"})
    assert r.status == 422
    listed = await (await client.get("/fonbo/buttons", headers=bob)).json()
    assert [b["id"] for b in listed["global"]] == [glob["id"]]
    assert [b["id"] for b in listed["mine"]] == [mine["id"]]
    assert (await client.delete(f"/fonbo/buttons/{glob['id']}", headers=bob)).status == 404
    assert (await client.post("/fonbo/admin/buttons", headers=bob,
                              json={"code": "1", "label": "x"})).status == 403
    r = await client.patch(f"/fonbo/buttons/{mine['id']}", headers=bob, json={"position": 3})
    assert (await r.json())["position"] == 3


async def test_preferences_and_profile(client: TestClient, world: World) -> None:
    h = world.auth(world.users["bob"])
    r = await client.put("/fonbo/me/preferences", headers=h,
                         json={"audio_input_id": "mic-1", "ringer_output_id": "spk-9"})
    assert await r.json() == {"audio_input_id": "mic-1", "audio_output_id": "",
                              "ringer_output_id": "spk-9", "language": ""}
    r = await client.put("/fonbo/me/preferences", headers=h, json={"language": "en"})
    assert (await r.json())["audio_input_id"] == "mic-1"
    me = await (await client.get("/fonbo/me", headers=h)).json()
    assert me["numbers"] == ["1002", "2002"] and me["role"] == "user"


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture
async def any_backend(store: Store, data_dir: Path) -> AsyncIterator[tuple[TestClient, World]]:
    world = make_world(store, data_dir)
    world.users["alice"] = await make_user(store, "1001", "Alice", role="admin")
    world.users["bob"] = await make_user(store, "1002", "Bob")
    client = await start_client(world)
    yield client, world
    await client.close()


async def test_logo_upload_limits_and_public_serving(
        any_backend: tuple[TestClient, World]) -> None:
    client, world = any_backend
    admin = world.auth(world.users["alice"], admin=True)
    assert (await client.get("/fonbo/logo")).status == 404
    r = await client.put("/fonbo/admin/logo", data=PNG_1PX,
                         headers={**admin, "Content-Type": "image/png"})
    assert r.status == 200
    etag = (await r.json())["etag"]
    r = await client.get("/fonbo/logo")
    assert r.status == 200 and await r.read() == PNG_1PX and r.content_type == "image/png"
    r = await client.get("/fonbo/logo", headers={"If-None-Match": f'"{etag}"'})
    assert r.status == 304
    r = await client.put("/fonbo/admin/logo", data=b"<svg/>",
                         headers={**admin, "Content-Type": "image/svg+xml"})
    assert r.status == 415
    r = await client.put("/fonbo/admin/logo", data=b"GIF89a....",
                         headers={**admin, "Content-Type": "image/png"})
    assert r.status == 415
    big = PNG_1PX + b"\0" * world.settings.logo_max_bytes
    r = await client.put("/fonbo/admin/logo", data=big,
                         headers={**admin, "Content-Type": "image/png"})
    assert r.status == 413
    r = await client.put("/fonbo/admin/logo", data=PNG_1PX,
                         headers={**world.auth(world.users["bob"]), "Content-Type": "image/png"})
    assert r.status == 403
    assert (await client.delete("/fonbo/admin/logo", headers=admin)).status == 204
    assert (await client.get("/fonbo/logo")).status == 404


async def test_openapi_lists_every_route(client: TestClient, world: World) -> None:
    spec = await (await client.get("/fonbo/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    served = {(r.method, r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/fonbo/")
              and r.method != "HEAD"}
    assert served == documented
