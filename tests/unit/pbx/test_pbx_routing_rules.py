"""Routing rules in the PBX's router: they come before the fixed classes, their captures make
the destination, and what they choose is still checked against the caller (category, «solo
entrantes»): a rule can never open a destination the caller's category closes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pbx.directory import Directory
from pbx.routing import Caller, Router
from webfon.store import Store

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Madrid")).timestamp()
MONDAY_22 = datetime(2026, 3, 2, 22, 0, tzinfo=ZoneInfo("Europe/Madrid")).timestamp()


async def add_rule(store: Store, name: str, position: int, **row: Any) -> int:
    row = {"name": name, "position": position, **row}
    cols = ", ".join(row)
    return await store.insert(f"INSERT INTO routing_rules ({cols}) VALUES "
                              f"({', '.join('?' for _ in row)})", list(row.values()))


async def setup(store: Store) -> tuple[Router, Directory]:
    d = Directory(store, phone_ttl=0)
    return Router(d, outside_prefix="0", local_prefixes=("91",)), d


async def phone_caller(router: Router, d: Directory, username: str) -> Caller:
    phone = await d.phone_by_username(username)
    assert phone is not None
    return await router.caller_for_phone(phone)


async def test_rule_sends_a_number_to_a_queue_in_office_hours(store: Store, org: Any) -> None:
    await add_rule(store, "soporte", 10, number_pattern=r"9(\d{3})", action="queue",
                   target="3$1", days="mon-fri", time_from="08:00", time_to="20:00")
    router, d = await setup(store)
    caller = await phone_caller(router, d, "2001")
    route = await router.route("9000", caller, at=MONDAY_10)
    assert (route.kind, route.number, route.rule) == ("queue", "3000", "soporte")
    assert route.queue is not None and route.queue.id == org.queues["3000"]
    # out of hours the rule does not apply, and 9000 is no number of ours
    after = await router.route("9000", caller, at=MONDAY_22)
    assert (after.kind, after.status, after.rule) == ("reject", 404, "")
    # a capture that makes no queue: a clear refusal naming the rule
    missing = await router.route("9001", caller, at=MONDAY_10)
    assert (missing.kind, missing.status) == ("reject", 404)
    assert missing.reason == "Routing rule soporte: 3001 is not a group or queue"


async def test_caller_pattern_and_origin(store: Store, org: Any) -> None:
    await add_rule(store, "vip", 1, number_pattern=r"1002", caller_pattern=r"6\d{8}",
                   origin="trunks", action="extension", target="2001")
    router, d = await setup(store)
    trunk = (await d.trunks())[0]
    vip = await router.route("1002", Caller(trunk=trunk, calling_number="600111222"))
    assert (vip.kind, vip.number, vip.rule) == ("extension", "2001", "vip")
    other = await router.route("1002", Caller(trunk=trunk, calling_number="911222333"))
    assert (other.kind, other.rule) == ("user", "")
    phone = await router.route("1002", await phone_caller(router, d, "2001"))
    assert (phone.kind, phone.rule) == ("user", "")


async def test_trunk_rule_rewrites_the_prefix_and_picks_its_trunk(store: Store, org: Any
                                                                  ) -> None:
    gw02 = await store.fetchval("SELECT id FROM trunks WHERE name = 'Trunk_vivait_gw02'")
    await add_rule(store, "moviles", 1, number_pattern=r"0(6\d{8})", action="trunk",
                   target="+34$1", trunk_id=gw02, trunk_prefix="1055")
    router, d = await setup(store)
    route = await router.route("0612345678", await phone_caller(router, d, "2001"))
    # the number is what the category was checked against; the prefix goes on the trunk only
    assert (route.kind, route.number, route.dial_prefix, route.dest_class) == (
        "external", "+34612345678", "1055", "mobile")
    assert router.outside_refusal(await phone_caller(router, d, "2001"), route.number) is None
    assert [t.name for t in route.trunks] == ["Trunk_vivait_gw02"]


async def test_a_rule_cannot_open_a_forbidden_destination(store: Store, org: Any) -> None:
    """Internal-only callers, «solo entrantes» users and calls from trunks stay restricted
    whatever a rule routes them to."""
    await add_rule(store, "atajo", 1, number_pattern=r"8(\d{3})", action="trunk",
                   target="0044207123$1")
    await add_rule(store, "a-internal", 2, number_pattern=r"77(\d{2})", action="extension",
                   target="20$1")
    router, d = await setup(store)
    national = await phone_caller(router, d, "2001")  # Nacional: no international
    r = await router.route("8456", national)
    assert (r.kind, r.status, r.rule) == ("reject", 403, "atajo")
    assert r.reason == "Category Nacional does not allow international calls"
    internal = await phone_caller(router, d, "2002")  # Interna
    assert (await router.route("8456", internal)).status == 403
    solo = await phone_caller(router, d, "6722")  # «solo entrantes»
    r = await router.route("7701", solo)
    assert (r.status, r.reason) == (403, "Incoming-only user: outgoing calls need "
                                         "call-by-call mobility")
    # a call coming in from a trunk cannot be sent back out by a rule (toll fraud)
    trunk = (await d.trunks())[0]
    r = await router.route("8456", Caller(trunk=trunk, calling_number="600111222"))
    assert (r.kind, r.status) == ("reject", 403)
    # the same rule works for a caller whose category allows it
    await store.execute("UPDATE phones SET category_id = ? WHERE id = ?",
                        (org.cats["Internacional"], org.phones["2002"]))
    r = await router.route("8456", await phone_caller(router, d, "2002"))
    assert (r.kind, r.number, r.dest_class) == ("external", "0044207123456", "international")


async def test_rewrite_then_fixed_classes_and_emergency_untouched(store: Store, org: Any
                                                                  ) -> None:
    await add_rule(store, "corto", 1, number_pattern=r"\*(\d)", action="rewrite",
                   target="100$1")
    await add_rule(store, "secuestro", 2, number_pattern=r"112", action="queue",
                   target="3000")
    await add_rule(store, "bloqueo", 3, number_pattern=r"0905\d+", action="reject",
                   reject_status=603)
    router, d = await setup(store)
    caller = await phone_caller(router, d, "2001")
    r = await router.route("*2", caller)
    assert (r.kind, r.number, r.rewritten_by, r.rule) == ("user", "1002", ("corto",), "")
    assert (await router.route("112", caller)).dest_class == "emergency"  # never a rule
    r = await router.route("0905123456", caller)
    assert (r.status, r.reason) == (603, "Refused by routing rule bloqueo")


async def test_disabled_and_broken_rows_are_left_out(store: Store, org: Any) -> None:
    await add_rule(store, "off", 1, number_pattern=r"9000", action="queue", target="3000",
                   enabled=0)
    await add_rule(store, "broken", 2, number_pattern=r"(a)\1", action="queue", target="3000")
    await add_rule(store, "ok", 3, number_pattern=r"9000", action="extension", target="2002")
    router, d = await setup(store)
    r = await router.route("9000", await phone_caller(router, d, "2001"))
    assert (r.kind, r.rule) == ("extension", "ok")
