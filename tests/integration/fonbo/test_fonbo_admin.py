"""Admin API over HTTP: CRUD with validation messages that say why a change is refused."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.unit.fonbo.support import World
from webfon.passwords import verify_password


async def _post(client: TestClient, h: dict[str, str], path: str, body: dict[str, Any]
                ) -> tuple[int, Any]:
    r = await client.post(path, headers=h, json=body)
    return r.status, await r.json()


def _msg(body: Any) -> str:
    return str(body["error"]["message"])


async def test_users_get_argon2id_hashes_and_numbers_stay_unique(client: TestClient,
                                                                 world: World) -> None:
    h = world.auth(world.users["alice"], admin=True)
    status, user = await _post(client, h, "/fonbo/admin/users", {
        "display_name": "Nuevo", "login_number": "1010", "password": "una clave larga",
        "pin": "1234", "email": "n@x.es"})
    assert status == 201, user
    assert "password" not in user and "password_hash" not in user and "pin_hash" not in user
    row = await world.store.fetchone("SELECT password_hash, pin_hash FROM users WHERE id = ?",
                                     (user["id"],))
    assert row is not None and row["password_hash"].startswith("$argon2id$")
    assert verify_password(row["password_hash"], "una clave larga")
    assert verify_password(row["pin_hash"], "1234")
    # the same number for a user, then for an extension: refused with who holds it
    status, body = await _post(client, h, "/fonbo/admin/users", {
        "display_name": "Otro", "login_number": "1010", "password": "otra clave larga"})
    assert status == 409 and "1010 is already in use by a user" in _msg(body)
    status, body = await _post(client, h, "/fonbo/admin/extensions", {"number": "1010"})
    assert status == 409 and "already in use by a user" in _msg(body)
    status, body = await _post(client, h, "/fonbo/admin/users", {
        "display_name": "Otro", "login_number": "2001", "password": "otra clave larga"})
    assert status == 409 and "by an extension" in _msg(body)
    # renumbering frees the old number
    r = await client.patch(f"/fonbo/admin/users/{user['id']}", headers=h,
                           json={"login_number": "1011"})
    assert r.status == 200 and (await r.json())["login_number"] == "1011"
    status, _ = await _post(client, h, "/fonbo/admin/extensions", {"number": "1010"})
    assert status == 201
    assert await world.store.fetchval("SELECT kind FROM numbering WHERE number = '1011'") == "user"
    assert (await client.delete(f"/fonbo/admin/users/{user['id']}", headers=h)).status == 204
    assert await world.store.fetchval(
        "SELECT COUNT(*) AS n FROM numbering WHERE number = '1011'") == 0
    audit = await world.store.fetchall("SELECT action, detail FROM audit_log ORDER BY id")
    assert [a["action"] for a in audit][:2] == ["create users", "update users"]
    assert "una clave larga" not in str(audit) and "1234" not in audit[0]["detail"]


async def test_store_integrity_error_becomes_409(client: TestClient, world: World) -> None:
    """A clash found only by the database (not by the pre-checks) is a 409 with a message."""
    h = world.auth(world.users["alice"], admin=True)
    status, _ = await _post(client, h, "/fonbo/admin/users", {
        "display_name": "U1", "login_number": "1020", "password": "clave larga 1",
        "username": "repetido"})
    assert status == 201
    status, body = await _post(client, h, "/fonbo/admin/users", {
        "display_name": "U2", "login_number": "1021", "password": "clave larga 2",
        "username": "repetido"})
    assert status == 409 and "username is already in use" in _msg(body)
    assert await world.store.fetchval(
        "SELECT COUNT(*) AS n FROM numbering WHERE number = '1021'") == 0  # rolled back


async def test_pool_user_cannot_be_multiterminal(client: TestClient, world: World) -> None:
    h = world.auth(world.users["alice"], admin=True)
    status, pool = await _post(client, h, "/fonbo/admin/webphone_pools",
                               {"name": "Web", "ranges": "7000-7003, 7010"})
    assert status == 201
    numbers = [r["number"] for r in await world.store.fetchall(
        "SELECT number FROM extensions WHERE pool_id = ? ORDER BY number", (pool["id"],))]
    assert numbers == ["7000", "7001", "7002", "7003", "7010"]
    status, body = await _post(client, h, "/fonbo/admin/users", {
        "display_name": "Multi", "login_number": "1030", "password": "clave larga 3",
        "webphone_pool_id": pool["id"], "webphone_mode": "multiterminal"})
    assert status == 422 and "cannot be multiterminal" in _msg(body)
    r = await client.patch(f"/fonbo/admin/users/{world.users['bob']}", headers=h,
                           json={"webphone_pool_id": pool["id"]})
    assert r.status == 200
    r = await client.patch(f"/fonbo/admin/users/{world.users['bob']}", headers=h,
                           json={"webphone_mode": "multiterminal"})
    assert r.status == 422 and "cannot be multiterminal" in _msg(await r.json())
    # a pool web extension gets no phones of its own
    ext = await world.store.fetchval("SELECT id FROM extensions WHERE number = '7000'")
    status, body = await _post(client, h, "/fonbo/admin/phones", {"extension_id": ext})
    assert status == 422 and "pool web extension cannot be multiterminal" in _msg(body)
    # ranges: shrink removes numbers, overlap with another thing is refused
    r = await client.patch(f"/fonbo/admin/webphone_pools/{pool['id']}", headers=h,
                           json={"ranges": "7000-7001"})
    assert r.status == 200
    assert await world.store.fetchval(
        "SELECT COUNT(*) AS n FROM numbering WHERE number = '7010'") == 0
    status, body = await _post(client, h, "/fonbo/admin/webphone_pools",
                               {"name": "Mala", "ranges": "2000-2002"})
    assert status == 409 and "2001 is already in use" in _msg(body)
    status, body = await _post(client, h, "/fonbo/admin/webphone_pools",
                               {"name": "Al revés", "ranges": "7050-7040"})
    assert status == 422 and "ascending" in _msg(body)


async def test_phone_rules(client: TestClient, world: World) -> None:
    h = world.auth(world.users["alice"], admin=True)
    ext = await world.store.fetchval("SELECT id FROM extensions WHERE number = '2002'")
    status, body = await _post(client, h, "/fonbo/admin/phones",
                               {"extension_id": ext, "publishable": True})
    assert status == 422 and "only if it is secure" in _msg(body)
    status, body = await _post(client, h, "/fonbo/admin/phones",
                               {"extension_id": ext, "is_webcall": True, "secure": True})
    assert status == 422 and "neither secure nor publishable" in _msg(body)
    status, body = await _post(client, h, "/fonbo/admin/phones",
                               {"extension_id": ext, "position": 0})
    assert status == 409 and "position 0" in _msg(body)
    created = []
    for _ in range(7):  # bob has one phone already: seven more make eight
        status, body = await _post(client, h, "/fonbo/admin/phones",
                                   {"extension_id": ext, "sip_password": "clave-sip-1"})
        assert status == 201, body
        created.append(body)
    assert sorted(p["position"] for p in created) == list(range(1, 8))
    audit = await world.store.fetchall("SELECT detail FROM audit_log WHERE action = "
                                       "'create phones'")
    assert len(audit) == 7 and not any("ha1" in a["detail"] or "clave-sip" in a["detail"]
                                       for a in audit)
    assert created[0]["sip_username"] == "2002-1"
    status, body = await _post(client, h, "/fonbo/admin/phones", {"extension_id": ext})
    assert status == 422 and "already has 8 phones" in _msg(body)
    r = await client.patch(f"/fonbo/admin/phones/{created[0]['id']}", headers=h,
                           json={"secure": True, "publishable": True})
    assert r.status == 200 and (await r.json())["publishable"] is True
    r = await client.patch(f"/fonbo/admin/phones/{created[0]['id']}", headers=h,
                           json={"secure": False})
    assert r.status == 422


async def test_queues_members_categories_trunks_mdflow(client: TestClient, world: World
                                                       ) -> None:
    h = world.auth(world.users["alice"], admin=True)
    status, q = await _post(client, h, "/fonbo/admin/queues",
                            {"number": "3000", "name": "Soporte", "kind": "hunt"})
    assert status == 201 and q["strategy"] == "ringall"
    ext = await world.store.fetchval("SELECT id FROM extensions WHERE number = '2002'")
    r = await client.put(f"/fonbo/admin/queues/{q['id']}/members/{ext}", headers=h,
                         json={"penalty": 2})
    assert (await r.json())["items"][0]["penalty"] == 2
    r = await client.put(f"/fonbo/admin/queues/{q['id']}/members/{ext}", headers=h,
                         json={"paused": True})
    member = (await r.json())["items"][0]
    assert member["penalty"] == 2 and member["paused"] is True
    assert (await client.delete(f"/fonbo/admin/queues/{q['id']}/members/{ext}",
                                headers=h)).status == 204
    assert (await client.delete(f"/fonbo/admin/queues/{q['id']}/members/{ext}",
                                headers=h)).status == 404
    status, body = await _post(client, h, "/fonbo/admin/categories",
                               {"name": "Rara", "allowed": "internal,lunar"})
    assert status == 422 and "lunar" in _msg(body)
    status, cat = await _post(client, h, "/fonbo/admin/categories",
                              {"name": "Nacional", "allowed": "internal,national"})
    assert status == 201
    r = await client.patch(f"/fonbo/admin/users/{world.users['bob']}", headers=h,
                           json={"category_id": cat["id"]})
    assert r.status == 200
    r = await client.delete(f"/fonbo/admin/categories/{cat['id']}", headers=h)
    assert r.status == 409 and "still refers" in _msg(await r.json())
    r = await client.patch(f"/fonbo/admin/users/{world.users['bob']}", headers=h,
                           json={"category_id": 999})
    assert r.status == 422 and "there is no category 999" in _msg(await r.json())
    status, trunk = await _post(client, h, "/fonbo/admin/trunks",
                                {"name": "Trunk_gw01", "host": "127.0.0.1", "port": 5080})
    assert status == 201 and trunk["ip_auth"] is True
    status, body = await _post(client, h, "/fonbo/admin/trunks",
                               {"name": "Trunk_gw01", "host": "127.0.0.2"})
    assert status == 409 and "name is already in use" in _msg(body)
    # SDES keys travel in the signalling: an SRTP trunk must be on TLS
    status, body = await _post(client, h, "/fonbo/admin/trunks",
                               {"name": "Trunk_srtp", "host": "gw.example.test", "srtp": True})
    assert status == 422 and "transport tls" in _msg(body)
    status, secure = await _post(client, h, "/fonbo/admin/trunks", {
        "name": "Trunk_srtp", "host": "192.0.2.9", "port": 5061, "transport": "tls",
        "srtp": True, "tls_server_name": "gw.example.test"})
    assert status == 201 and secure["srtp"] is True
    r = await client.patch(f"/fonbo/admin/trunks/{secure['id']}", headers=h,
                           json={"transport": "udp"})
    assert r.status == 422 and "transport tls" in _msg(await r.json())
    status, flow = await _post(client, h, "/fonbo/admin/mdflow_flows",
                               {"section": "flujo_2", "flujo": "Cen_Inicio_SIP",
                                "tasa_sal_seg": 2})
    assert status == 201 and flow["en_paso"] is True
    status, body = await _post(client, h, "/fonbo/admin/mdflow_flows",
                               {"section": "flujo_3", "flujo": "x", "tasa_sal_seg": 0})
    assert status == 400 and "tasa_sal_seg" in _msg(body)
    listed = await (await client.get("/fonbo/admin/queues", headers=h,
                                     params={"q": "sopor"})).json()
    assert listed["total"] == 1
    for name in ("mobility_groups", "sites", "departments"):
        status, _ = await _post(client, h, f"/fonbo/admin/{name}", {"name": f"N {name}"})
        assert status == 201


async def test_admin_api_needs_the_admin_role(client: TestClient, world: World) -> None:
    h = world.auth(world.users["bob"])
    for method, path in (("GET", "/fonbo/admin/users"), ("POST", "/fonbo/admin/extensions"),
                         ("PATCH", "/fonbo/admin/phones/1"), ("DELETE", "/fonbo/admin/users/1"),
                         ("PUT", "/fonbo/admin/queues/1/members/1")):
        r = await client.request(method, path, headers=h, json={"x": 1})
        assert r.status == 403, (method, path)
        assert "admin" in _msg(await r.json())
    assert await world.store.fetchval("SELECT COUNT(*) AS n FROM users WHERE id = 1") == 1
