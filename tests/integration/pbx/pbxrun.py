"""A running embedded PBX (store, SIP engine on a free port) and phones, for tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbx.core import PbxCore
from pbx.engine import SipEngine
from pbx.settings import PbxSettings
from tests.support.phone import Phone
from webfon.directory import add_phone, create_extension, create_queue, create_user
from webfon.sip import SipEndpoint
from webfon.sip.ua import Account, UserAgent
from webfon.store import Store, open_store

SIP_PASSWORD = "sip-{ext}"


class RecordingBus:
    """Collects published events (stands in for the event bus)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.events.append((topic, payload))

    def topics(self) -> list[str]:
        return [t for t, _ in self.events]


@dataclass
class RunningPbx:
    core: PbxCore
    engine: SipEngine
    store: Store
    settings: PbxSettings
    ids: dict[str, int] = field(default_factory=dict)
    bus: RecordingBus = field(default_factory=RecordingBus)
    endpoints: list[SipEndpoint] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.engine.port

    @property
    def host(self) -> str:
        return self.settings.sip_host

    async def phone(self, ext: str, *, username: str | None = None,
                    password: str | None = None) -> UserAgent:
        ep = SipEndpoint(self.settings.sip_host, 0)
        await ep.start()
        self.endpoints.append(ep)
        user = username or ext
        return UserAgent(ep, Account(aor=f"sip:{ext}@webfon", username=user,
                                     password=password or SIP_PASSWORD.format(ext=ext),
                                     registrar=f"sip:{self.host}:{self.port}",
                                     outbound_proxy=f"sip:{self.host}:{self.port}",
                                     expires=300))

    async def softphone(self, ua: UserAgent) -> Phone:
        """A test phone on ``ua`` (closed with the PBX)."""
        phone = await Phone.create(ua)
        self.phones.append(phone)
        return phone

    async def registered(self, ext: str) -> Phone:
        """Extension ``ext``'s phone, registered."""
        ua = await self.phone(ext)
        resp = await ua.register()
        assert resp.status == 200, resp
        return await self.softphone(ua)


async def ivr_menu(pbx: RunningPbx, number: str, name: str, **columns: Any) -> int:
    """An IVR menu dialable at ``number`` (its ``ivr_menus`` columns as given)."""
    async with pbx.store.transaction() as tx:
        await tx.execute("INSERT INTO numbering (number, kind) VALUES (?, 'ivr')", (number,))
        row = {"number": number, "name": name, **columns}
        return await tx.insert(f"INSERT INTO ivr_menus ({', '.join(row)}) VALUES "
                               f"({', '.join('?' * len(row))})", list(row.values()))


async def ivr_option(pbx: RunningPbx, menu: int, digit: str, action: str, target: str = "",
                     **columns: Any) -> None:
    """What key ``digit`` of ``menu`` does."""
    row = {"menu_id": menu, "digit": digit, "action": action, "target": target, **columns}
    await pbx.store.execute(f"INSERT INTO ivr_options ({', '.join(row)}) VALUES "
                            f"({', '.join('?' * len(row))})", list(row.values()))


async def build_directory(store: Store) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with store.transaction() as tx:
        ids["cat_nat"] = await tx.insert("INSERT INTO categories (name, allowed) VALUES (?, ?)",
                                         ("Nacional", "internal,emergency,local,national,"
                                                      "mobile"))
        for login, ext in (("1001", "2001"), ("1002", "2002"), ("1003", "2003")):
            uid = await create_user(tx, display_name=f"User {login}", login_number=login,
                                    password="pw", category_id=ids["cat_nat"])
            ids[f"user{login}"] = uid
            eid = await create_extension(tx, number=ext, kind="hard", owner_user_id=uid,
                                         line_count=2)
            ids[f"ext{ext}"] = eid
            ids[f"phone{ext}"] = await add_phone(tx, extension_id=eid, position=0,
                                                 sip_username=ext,
                                                 sip_password=SIP_PASSWORD.format(ext=ext))
        ids["queue"] = await create_queue(tx, number="3000", name="Soporte", kind="acd",
                                          strategy="linear", ring_timeout_s=2, timeout_s=6,
                                          stats_enabled=1)
        for ext in ("2002", "2003"):
            await tx.execute("INSERT INTO queue_members (queue_id, extension_id, penalty) "
                             "VALUES (?, ?, 0)", (ids["queue"], ids[f"ext{ext}"]))
    return ids


MDFLOW = "tick_ms=50\nestad_interv_seg=1\n[flujo_2]\nflujo=Cen_Inicio_SIP\nen_paso=1\n"


async def app_settings(tmp_path: Path, webphone_ranges: str, **overrides: Any
                       ) -> tuple[PbxSettings, dict[str, int]]:
    """Settings for the whole PBX component (``pbx.app.build``): an SQLite store holding the
    test directory with a web phone pool, and an MDflow.conf; the directory's ids."""
    db = f"sqlite:///{tmp_path / 'pbx.db'}"
    store = await open_store(db)
    ids = await build_directory(store)
    await store.execute("INSERT INTO webphone_pools (name, ranges) VALUES ('pool', ?)",
                        (webphone_ranges,))
    await store.execute("UPDATE users SET webphone_pool_id = 1")
    await store.close()
    conf = tmp_path / "MDflow.conf"
    conf.write_text(MDFLOW)
    options: dict[str, Any] = dict(data_dir=tmp_path / "data", database_url=db,
                                   qualify_interval_s=0, mdflow_conf=conf)
    options.update(overrides)
    return PbxSettings.load(environ={}, **options), ids


async def start_pbx(tmp_path: Path, host: str = "127.0.0.1",
                    **overrides: Any) -> RunningPbx:
    store = await open_store(f"sqlite:///{tmp_path / 'pbx.db'}")
    ids = await build_directory(store)
    base = random.randrange(30000, 60000, 2)
    options: dict[str, Any] = dict(data_dir=tmp_path / "data", sip_host=host, sip_port=0,
                                   rtp_port_min=base, rtp_port_max=base + 400,
                                   no_answer_timeout_s=3.0, trunk_timeout_s=3.0,
                                   qualify_interval_s=0, voicemail_max_s=6.0,
                                   # the loop is shared with the test's own phones: its lag
                                   # is not the PBX's (the overload tests turn this on)
                                   overload_lag_ms=0.0)
    options.update(overrides)
    settings = PbxSettings.load(environ={}, **options)
    bus = RecordingBus()
    core = PbxCore.create(settings, store, bus)
    engine = SipEngine(core)
    await engine.start()
    return RunningPbx(core, engine, store, settings, ids, bus)


async def stop_pbx(running: RunningPbx) -> None:
    for phone in running.phones:
        await phone.close()
    await running.engine.close()
    for ep in running.endpoints:
        await ep.close()
    await running.store.close()
