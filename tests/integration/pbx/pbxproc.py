"""The PBX as its own process (``python -m pbx``), for tests that attack it as an outsider
would: an SQLite store the test fills first, SIP on a given address (the phone network's host
side), settings through ``WEBFON_PBX_*``, its log (JSON lines, as in production) in a file.

``async with pbx_process(tmp_path, host, trunk_port=...) as pbx:`` starts it
(:mod:`tests.support.procs`) with the directory of
:func:`tests.integration.pbx.pbxrun.build_directory` plus :func:`add_security_org` and waits
for ``/healthz``; it is stopped (SIGTERM, then SIGKILL) on the way out.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.pbx.pbxrun import build_directory
from tests.support import procs
from tests.support.net import free_port, free_port_block
from webfon.control_key import ensure_control_key
from webfon.directory import add_phone, create_extension, create_user
from webfon.store import Store, open_store

ROOT = Path(__file__).resolve().parents[3]
Setup = Callable[[Store, dict[str, int]], Awaitable[None]]
PREMIUM = "0905123456"
"""A premium-rate number (905…): no test category but «Total» may call it."""
MOBILE = "0611223344"


@dataclass
class PbxProcess:
    component: procs.Component
    host: str
    sip_port: int
    data_dir: Path
    db_url: str
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def sip(self) -> str:
        return f"{self.host}:{self.sip_port}"

    @property
    def control_port(self) -> int:
        return self.component.port

    @property
    def log_path(self) -> Path:
        return self.component.log

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET ``/control/<path>`` (POST ``body`` when given) on the control API."""
        key = ensure_control_key(self.data_dir)
        url = f"http://127.0.0.1:{self.control_port}/control/{path}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http, \
                http.request("GET" if body is None else "POST", url, json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def metric(self, name: str) -> float:
        """A value of the PBX's ``/metrics``."""
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{self.control_port}/metrics") as resp:
            for line in (await resp.text()).splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise AssertionError(f"{name} not in /metrics")

    async def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        store = await open_store(self.db_url)
        try:
            return await store.fetchall(sql, args)
        finally:
            await store.close()


async def add_security_org(store: Store, ids: dict[str, int], trunk_port: int | None,
                           trunk_host: str) -> None:
    """On top of the test directory: categories «Interna» (internal only) and «Total»
    (everything), user 1002 «Interna», user 1004 «Interna» with a PIN for mobility, extension
    2001 with mobility on in 1004's group, and the test trunk."""
    async with store.transaction() as tx:
        ids["cat_interna"] = await tx.insert(
            "INSERT INTO categories (name, allowed) VALUES ('Interna', 'internal,emergency')")
        ids["cat_total"] = await tx.insert(
            "INSERT INTO categories (name, allowed) VALUES ('Total', 'internal,emergency,"
            "local,national,mobile,international,premium,special')")
        await tx.execute("UPDATE users SET category_id = ? WHERE id = ?",
                         (ids["cat_interna"], ids["user1002"]))
        group = await tx.insert("INSERT INTO mobility_groups (name) VALUES ('sede')")
        ids["user1004"] = await create_user(
            tx, display_name="User 1004", login_number="1004", password="pw", pin="4321",
            category_id=ids["cat_interna"], mobility_group_id=group)
        ids["ext2004"] = eid = await create_extension(tx, number="2004", kind="hard",
                                                      owner_user_id=ids["user1004"])
        await add_phone(tx, extension_id=eid, position=0, sip_username="2004",
                        sip_password="sip-2004")
        await tx.execute("UPDATE extensions SET mobility_enabled = 1 WHERE id = ?",
                         (ids["ext2001"],))
        await tx.execute("INSERT INTO mobility_group_extensions (group_id, extension_id) "
                         "VALUES (?, ?)", (group, ids["ext2001"]))
        if trunk_port is not None:
            await tx.execute("INSERT INTO trunks (name, host, port, priority) "
                             "VALUES ('Trunk_test', ?, ?, 1)", (trunk_host, trunk_port))


@contextlib.asynccontextmanager
async def pbx_process(tmp_path: Path, host: str, *, trunk_port: int | None = None,
                      trunk_host: str | None = None, setup: Setup | None = None,
                      **settings: Any) -> AsyncIterator[PbxProcess]:
    """The PBX process on ``host``; ``setup(store, ids)`` changes the directory before it
    starts; ``settings`` become ``WEBFON_PBX_*`` variables."""
    db = tmp_path / "pbx.db"
    db_url = f"sqlite:///{db}"
    store = await open_store(db_url)
    try:
        ids = await build_directory(store)
        await add_security_org(store, ids, trunk_port, trunk_host or host)
        if setup is not None:
            await setup(store, ids)
    finally:
        await store.close()
    data_dir = tmp_path / "data"
    sip_port = free_port("both", host)
    rtp = free_port_block(200, host=host)
    env = procs.base_env(
        data_dir, WEBFON_DATABASE_URL=db_url, WEBFON_LOG_FORMAT="json",
        WEBFON_PBX_SIP_HOST=host, WEBFON_PBX_SIP_PORT=str(sip_port),
        WEBFON_PBX_RTP_PORT_MIN=str(rtp), WEBFON_PBX_RTP_PORT_MAX=str(rtp + 199),
        WEBFON_PBX_QUALIFY_INTERVAL_S="0", WEBFON_PBX_NO_ANSWER_TIMEOUT_S="5",
        WEBFON_PBX_TRUNK_TIMEOUT_S="5",
        **{f"WEBFON_PBX_{k.upper()}": str(v) for k, v in settings.items()})
    component = await procs.start("pbx", "pbx", free_port("tcp"), env, tmp_path / "logs")
    try:
        yield PbxProcess(component, host, sip_port, data_dir, db_url, ids)
    finally:
        await procs.stop(component)
