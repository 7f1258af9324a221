"""PBX unit-test fixtures: a small organisation (users, extensions, phones, queue, trunks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from webfon.directory import add_phone, create_extension, create_queue, create_user
from webfon.store import Store


@dataclass
class Org:
    cats: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    exts: dict[str, int] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    pool: int = 0
    mobility: int = 0


async def build_org(store: Store) -> Org:
    org = Org()
    async with store.transaction() as tx:
        site = await tx.insert("INSERT INTO sites (name) VALUES ('Sede Madrid')")
        await tx.execute("INSERT INTO nodes (id, name, type, address, site_id) "
                         "VALUES (4, 'vivait-webfon', 'webrtc', '127.0.0.1', ?)", (site,))
        for name, allowed in (("Interna", "internal,emergency"),
                              ("Nacional", "internal,emergency,local,national,mobile"),
                              ("Internacional",
                               "internal,emergency,local,national,mobile,international")):
            org.cats[name] = await tx.insert(
                "INSERT INTO categories (name, allowed) VALUES (?, ?)", (name, allowed))
        org.mobility = await tx.insert("INSERT INTO mobility_groups (name) VALUES (?)",
                                       ("labo_robotica",))
        org.pool = await tx.insert(
            "INSERT INTO webphone_pools (name, base_extension, ranges) VALUES (?, ?, ?)",
            ("pool", "7000", "7000-7002"))
        for login, ext, cat, utype in (("1001", "2001", "Nacional", "normal"),
                                       ("1002", "2002", "Interna", "normal"),
                                       ("6721", "6721", None, "solo_entrantes")):
            uid = await create_user(
                tx, display_name=f"User {login}", login_number=login, password="pw",
                pin="1111", category_id=org.cats[cat] if cat else None,
                user_type=utype, mobility_group_id=org.mobility,
                webphone_pool_id=org.pool, webphone_lines=-1)
            org.users[login] = uid
            if login == "6721":
                ext = "6722"  # user number and extension differ
            eid = await create_extension(tx, number=ext, kind="hard", owner_user_id=uid,
                                         category_id=org.cats["Interna"], mobility_enabled=1,
                                         line_count=3, conference_rooms=2, beep=1)
            org.exts[ext] = eid
            org.phones[ext] = await add_phone(tx, extension_id=eid, position=0,
                                              sip_username=ext, sip_password=f"sip-{ext}")
        eid = await create_extension(tx, number="2050", kind="hard", mobility_enabled=0)
        org.exts["2050"] = eid
        await tx.execute("INSERT INTO mobility_group_extensions (group_id, extension_id) "
                         "VALUES (?, ?)", (org.mobility, org.exts["2001"]))
        org.queues["3000"] = await create_queue(tx, number="3000", name="Soporte", kind="acd",
                                                strategy="linear")
        await tx.execute("INSERT INTO queue_members (queue_id, extension_id, penalty) "
                         "VALUES (?, ?, 2)", (org.queues["3000"], org.exts["2001"]))
        for prio, name in ((1, "Trunk_vivait_gw01"), (2, "Trunk_vivait_gw02")):
            await tx.execute("INSERT INTO trunks (name, host, port, priority) VALUES (?, ?, ?, ?)",
                             (name, "127.0.0.1", 5080 + prio, prio))
    return org


@pytest.fixture
async def org(store: Store) -> Org:
    return await build_org(store)
