"""Routing: users before extensions, queues, categories, trunks, «solo entrantes»."""

from typing import Any

from pbx.directory import Directory
from pbx.routing import Router, should_failover, trunk_number
from webfon.store import Store


async def _router(store: Store) -> tuple[Router, Directory]:
    d = Directory(store)
    return Router(d, outside_prefix="0", local_prefixes=("91",)), d


async def _caller(router: Router, d: Directory, username: str):  # type: ignore[no-untyped-def]
    phone = await d.phone_by_username(username)
    assert phone is not None
    return await router.caller_for_phone(phone)


async def test_user_number_resolves_to_user_with_hard_extension(store: Store, org: Any) -> None:
    router, d = await _router(store)
    caller = await _caller(router, d, "2001")
    route = await router.route("1002", caller)
    assert route.kind == "user" and route.user is not None
    assert route.user.id == org.users["1002"]
    assert route.extension is not None and route.extension.number == "2002"
    ext_route = await router.route("2002", caller)
    assert ext_route.kind == "extension" and ext_route.user is not None
    q = await router.route("3000", caller)
    assert q.kind == "queue" and q.queue is not None and q.queue.strategy == "linear"
    missing = await router.route("2999", caller)
    assert (missing.kind, missing.status) == ("reject", 404)


async def test_category_of_user_decides(store: Store, org: Any) -> None:
    router, d = await _router(store)
    national = await _caller(router, d, "2001")  # user 1001: Nacional
    ok = await router.route("0611223344", national)
    assert ok.kind == "external" and ok.number == "611223344" and ok.dest_class == "mobile"
    assert [t.name for t in ok.trunks] == ["Trunk_vivait_gw01", "Trunk_vivait_gw02"]
    intl = await router.route("000442071234567", national)
    assert intl.kind == "reject" and intl.status == 403
    assert intl.reason == "Category Nacional does not allow international calls"
    internal_only = await _caller(router, d, "2002")  # user 1002: Interna
    assert (await router.route("0934556677", internal_only)).status == 403
    assert (await router.route("112", internal_only)).dest_class == "emergency"


async def test_phone_category_overrides_user(store: Store, org: Any) -> None:
    await store.execute("UPDATE phones SET category_id = ? WHERE id = ?",
                        (org.cats["Internacional"], org.phones["2002"]))
    router, d = await _router(store)
    caller = await _caller(router, d, "2002")
    assert (await router.route("000442071234567", caller)).kind == "external"


async def test_solo_entrantes_needs_mobility(store: Store, org: Any) -> None:
    router, d = await _router(store)
    caller = await _caller(router, d, "6722")
    r = await router.route("2001", caller)
    assert r.status == 403 and "Incoming-only" in r.reason
    assert (await router.route("112", caller)).kind == "external"


async def test_router_refuses_mobility_codes(store: Store, org: Any) -> None:
    """Codes are resolved by admission; one reaching the router (nested in another, or a
    path that skipped admission) goes nowhere."""
    router, d = await _router(store)
    r = await router.route("*72*6721*1111#2002", await _caller(router, d, "2001"))
    assert (r.kind, r.status) == ("reject", 484) and "1111" not in r.number


async def test_no_trunks_is_503(store: Store, org: Any) -> None:
    await store.execute("UPDATE trunks SET enabled = 0")
    router, d = await _router(store)
    r = await router.route("0611223344", await _caller(router, d, "2001"))
    assert (r.status, r.reason) == (503, "No trunk available")


def test_failover_rules() -> None:
    assert should_failover(None) and should_failover(503) and should_failover(408)
    assert not should_failover(486) and not should_failover(404) and not should_failover(200)


async def test_trunk_prefix_strip(store: Store, org: Any) -> None:
    await store.execute("UPDATE trunks SET prefix_strip = 2 WHERE priority = 1")
    trunks = await Directory(store).trunks()
    assert trunk_number(trunks[0], "0044207") == "44207"
    assert trunk_number(trunks[1], "0044207") == "0044207"
