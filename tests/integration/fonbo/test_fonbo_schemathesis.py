"""Property-based run of the whole OpenAPI spec against a live FONBO server: never a 5xx.

The server runs in its own thread and event loop (schemathesis calls it synchronously), once
over SQLite and once over MariaDB, seeded with an admin, a user, phones, CDRs and a voicemail.
Generated requests use the admin's token, so every operation, admin ones included, is
exercised with valid and invalid input (schemathesis' positive and negative modes). Bounded by
``max_examples``.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pymysql
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation

from fonbo.app import build_app, full_api
from fonbo.openapi import build_spec
from tests.unit.fonbo.support import add_cdr, add_voicemail, make_user, make_world, write_wav
from webfon.control_key import ensure_control_key
from webfon.store import open_store

MAX_EXAMPLES = {"sqlite": 6, "mysql": 4}  # per operation and mode; keeps the run short


@dataclass
class Live:
    backend: str
    base_url: str
    admin_token: str
    user_token: str


def _serve(url: str, data_dir: Path, ready: dict[str, object], stop: threading.Event) -> None:
    async def main() -> None:
        store = await open_store(url)
        # the PBX control API, with no call in progress (starting a recording finds none)
        async def no_call(_: web.Request) -> web.Response:
            return web.json_response(
                {"error": {"status": 404, "message": "no connected call found"}}, status=404)

        pbx = web.Application()
        pbx.router.add_post("/control/recording", no_call)
        pbx_runner = web.AppRunner(pbx, access_log=None)
        await pbx_runner.setup()
        pbx_site = web.TCPSite(pbx_runner, "127.0.0.1", 0)
        await pbx_site.start()
        pbx_port = pbx_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ensure_control_key(data_dir)
        world = make_world(store, data_dir, pbx_control_url=f"http://127.0.0.1:{pbx_port}")
        admin = await make_user(store, "1001", "Ana Admin", extension="2001", role="admin",
                                phones=2)
        user = await make_user(store, "1002", "Berto", extension="2002", phones=1)
        for i in range(30):
            await add_cdr(store, admin, started_at=1_700_000_000 + i * 60, caller="600111222",
                          callee="1001", answered=i % 3 != 0)
        await add_voicemail(store, admin, write_wav(data_dir / "vm" / "a.wav", 0.2))
        app = await build_app(world.settings, store=store, bus=world.bus)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready["live"] = Live(url.split(":", 1)[0], f"http://127.0.0.1:{port}",
                             world.token(admin, ("user", "admin"), ttl=3600),
                             world.token(user, ("user",), ttl=3600))
        ready["event"].set()  # type: ignore[attr-defined]
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await runner.cleanup()
        await pbx_runner.cleanup()
        await store.close()

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported to the fixture below
        ready["error"] = exc
        ready["event"].set()  # type: ignore[attr-defined]


def _mysql_database(server_url: str, name: str, drop: bool = False) -> str:
    parts = urlparse(server_url)
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "",
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if not drop:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    return urlunparse(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def fonbo_live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("fonbo_live")
    db_name = f"webfon_st_{secrets.token_hex(4)}"
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'st.db'}"
    else:
        url = _mysql_database(request.getfixturevalue("mysql_server_url"), db_name)
    ready: dict[str, object] = {"event": threading.Event()}
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(url, data_dir, ready, stop), daemon=True)
    thread.start()
    assert ready["event"].wait(30), "FONBO test server did not start"  # type: ignore[attr-defined]
    if "error" in ready:
        raise RuntimeError(f"FONBO test server failed: {ready['error']!r}")
    yield ready["live"]  # type: ignore[misc]
    stop.set()
    thread.join(10)
    if request.param == "mysql":
        _mysql_database(request.getfixturevalue("mysql_server_url"), db_name, drop=True)


SPEC = build_spec(full_api().operations)
SCHEMA = schemathesis.openapi.from_dict(SPEC)
# IVR prompts are uploaded as WAV bodies: generated bytes are sent as they are (the server
# must refuse what is not a WAV with a 4xx, never fail).
schemathesis.serializer.alias(["audio/wav", "audio/x-wav", "audio/wave"],
                              "application/octet-stream")


def _cases() -> list[object]:
    """Every operation in positive mode; those taking input in negative mode too."""
    cases: list[object] = []
    for result in SCHEMA.get_all_operations():
        op = result.ok()
        raw = SPEC["paths"][op.path][op.method.lower()]
        modes = [GenerationMode.POSITIVE]
        if raw.get("parameters") or raw.get("requestBody"):
            modes.append(GenerationMode.NEGATIVE)
        cases += [pytest.param(op, mode, id=f"{op.label}-{mode.value}") for mode in modes]
    return cases


@pytest.mark.parametrize(("operation", "mode"), _cases())
def test_no_server_errors(operation: APIOperation, mode: GenerationMode, fonbo_live: Live
                          ) -> None:
    headers = {"Authorization": f"Bearer {fonbo_live.admin_token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES[fonbo_live.backend], deadline=None, derandomize=True,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=fonbo_live.base_url, headers=headers, timeout=15)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:400]}")
        if response.status_code >= 400 and response.headers.get(
                "Content-Type", "").startswith("application/json"):
            assert isinstance(response.json().get("error", {}).get("message"), str)

    check()
