"""Web phone login/logout/release-node: the seed's steps, and everything put back."""

import hashlib
from typing import Any

import pytest

from pbx.webphone import WebphoneError, Webphones, expand_ranges
from webfon.store import Store

TABLES = ("extensions", "phones", "queue_members", "numbering", "webphone_sessions")


async def _snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {t: await store.fetchall(f"SELECT * FROM {t} ORDER BY 1, 2") for t in TABLES}


def _wp(store: Store) -> Webphones:
    return Webphones(store, realm="webfon", registrar="sip:127.0.0.1:5060")


def test_expand_ranges() -> None:
    assert expand_ranges("7000-7002, 7010") == ["7000", "7001", "7002", "7010"]
    assert expand_ranges("0098-0100") == ["0098", "0099", "0100"]
    with pytest.raises(WebphoneError):
        expand_ranges("7005-7000")
    with pytest.raises(WebphoneError):
        expand_ranges("abc")


async def test_exclusive_login_from_pool_and_logout(store: Store, org: Any) -> None:
    before = await _snapshot(store)
    wp = _wp(store)
    res = await wp.login(org.users["1001"], 4)
    assert res.extension == "7000" and res.mode == "exclusivo" and res.domain == "webfon"
    assert res.lines == 3  # webphone_lines -1: inherited from the hard extension
    assert res.registrar == "sip:127.0.0.1:5060"
    ext = await store.fetchone("SELECT * FROM extensions WHERE number = '7000'")
    assert ext is not None and ext["kind"] == "web" and ext["node_id"] == 4
    assert (ext["line_count"], ext["conference_rooms"], ext["beep"]) == (3, 2, 1)
    phone = await store.fetchone("SELECT * FROM phones WHERE extension_id = ?", (ext["id"],))
    assert phone is not None and phone["sip_username"] == res.sip_username
    expected = hashlib.md5(f"{res.sip_username}:webfon:{res.sip_password}".encode()).hexdigest()
    assert phone["sip_ha1_md5"] == expected and phone["is_webcall"] == 1
    # hard extension paused in its queue, web extension added with the same penalty
    members = {(r["extension_id"]): r for r in await store.fetchall(
        "SELECT * FROM queue_members WHERE queue_id = ?", (org.queues["3000"],))}
    assert members[org.exts["2001"]]["paused"] == 1
    assert members[ext["id"]]["penalty"] == 2 and members[ext["id"]]["paused"] == 0
    # a second user gets the next free pool extension
    res2 = await wp.login(org.users["1002"], 4)
    assert res2.extension == "7001"
    # logging in again renews the password but keeps the extension
    again = await wp.login(org.users["1001"], 5)
    assert again.extension == "7000" and again.sip_password != res.sip_password
    assert await wp.logout(org.users["1001"])
    assert await wp.logout(org.users["1002"])
    assert not await wp.logout(org.users["1002"])
    assert await _snapshot(store) == before


async def test_pool_exhausted_is_409(store: Store, org: Any) -> None:
    wp = _wp(store)
    await store.execute("UPDATE webphone_pools SET ranges = '7000' WHERE id = ?", (org.pool,))
    await wp.login(org.users["1001"], 4)
    with pytest.raises(WebphoneError) as exc:
        await wp.login(org.users["1002"], 4)
    assert exc.value.status == 409
    with pytest.raises(WebphoneError) as unknown:
        await wp.login(99999, 4)
    assert unknown.value.status == 404


async def test_fixed_existing_web_extension(store: Store, org: Any) -> None:
    from webfon.directory import add_phone, create_extension

    async with store.transaction() as tx:
        eid = await create_extension(tx, number="7100", kind="web", line_count=1)
        await add_phone(tx, extension_id=eid, position=0, sip_username="web7100",
                        sip_password="old", is_webcall=1)
    await store.execute("UPDATE users SET webphone_extension = '7100', webphone_lines = 4 "
                        "WHERE id = ?", (org.users["1002"],))
    before = await _snapshot(store)
    wp = _wp(store)
    res = await wp.login(org.users["1002"], 4)
    assert (res.extension, res.sip_username, res.lines) == ("7100", "web7100", 4)
    await wp.logout(org.users["1002"])
    after = await _snapshot(store)
    # the phone stays, but its secret is cleared so the handed-out password stops working
    phone_after = next(p for p in after["phones"] if p["sip_username"] == "web7100")
    assert phone_after["sip_ha1_md5"] == ""
    before["phones"] = [p for p in before["phones"] if p["sip_username"] != "web7100"]
    after["phones"] = [p for p in after["phones"] if p["sip_username"] != "web7100"]
    assert after == before


async def test_multiterminal_adds_phone_to_own_extension(store: Store, org: Any) -> None:
    await store.execute("UPDATE users SET webphone_mode = 'multiterminal', "
                        "webphone_pool_id = NULL, webphone_position = 0 WHERE id = ?",
                        (org.users["1001"],))
    before = await _snapshot(store)
    wp = _wp(store)
    res = await wp.login(org.users["1001"], 4)
    assert res.extension == "2001" and res.mode == "multiterminal"
    phones = await store.fetchall("SELECT * FROM phones WHERE extension_id = ? ORDER BY position",
                                  (org.exts["2001"],))
    assert [(p["position"], p["is_webcall"]) for p in phones] == [(0, 0), (1, 1)]
    await wp.logout(org.users["1001"])
    assert await _snapshot(store) == before


async def test_release_node(store: Store, org: Any) -> None:
    wp = _wp(store)
    await wp.login(org.users["1001"], 4)
    await wp.login(org.users["1002"], 5)
    assert await wp.release_node(4) == 1
    assert await store.fetchval("SELECT COUNT(*) FROM webphone_sessions") == 1
    assert await wp.release_node(4) == 0
