"""The PBX's real control API over a store, without its SIP side: what FONBO asks when it
tests routing rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from pbx.control import CONTROL_SECRET_KEY, CORE_KEY, add_routes, control_auth
from pbx.core import PbxCore
from pbx.settings import PbxSettings
from webfon.control_key import ensure_control_key
from webfon.store import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def start_pbx_control(store: Store, data_dir: Path,
                            posts: dict[str, Handler] | None = None) -> TestServer:
    """The control API on a free loopback port, its key in ``data_dir`` (as ``webfon up``
    shares it); ``posts`` answer those paths instead of the PBX (what needs its SIP side);
    close the returned server."""
    settings = PbxSettings.load(environ={}, data_dir=data_dir, directory_cache_s=0)
    app = web.Application(middlewares=[control_auth])
    app[CONTROL_SECRET_KEY] = ensure_control_key(data_dir)
    app[CORE_KEY] = PbxCore.create(settings, store)
    for path, handler in (posts or {}).items():  # matched before the PBX's own routes
        app.router.add_post(path, handler)
    add_routes(app)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server
