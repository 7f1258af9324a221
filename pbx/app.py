"""The PBX component's aiohttp application: control API plus the SIP engine in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from webfon.control_key import ensure_control_key
from webfon.http import create_app
from webfon.runner import STORE_KEY, attach_store

from .control import (
    CONTROL_SECRET_KEY,
    CONTROL_UNIX_ONLY_KEY,
    CORE_KEY,
    add_routes,
    control_auth,
)
from .core import PbxCore
from .gcpolicy import QuietCollector, YoungCollector, tune_gc
from .mdflow import running
from .metrics import add_metrics_route
from .settings import PbxSettings

log = logging.getLogger("pbx.app")


async def _open_bus(url: str):  # type: ignore[no-untyped-def]
    from webfon.bus import open_bus

    return await open_bus(url)


async def build(settings: PbxSettings) -> web.Application:
    app = create_app("pbx", settings.max_body_bytes, middlewares=[control_auth])
    app[CONTROL_SECRET_KEY] = ensure_control_key(settings.data_dir)
    app[CONTROL_UNIX_ONLY_KEY] = settings.control_listen == "unix"
    attach_store(app, settings)
    add_routes(app)
    add_metrics_route(app)

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        from .engine import SipEngine

        bus = await _open_bus(settings.bus_url)
        core = PbxCore.create(settings, app[STORE_KEY], bus)
        await core.load_mdflow_from_store()
        engine = SipEngine(core)
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(running(core.mdflow))
            await engine.start()
            stack.push_async_callback(engine.close)
            watch = asyncio.create_task(core.nodes.run())
            stack.callback(watch.cancel)
            frozen = tune_gc()
            engine.overload.reset()
            engine.gc.reset(frozen)
            quiet = QuietCollector(lambda: len(engine.active),
                                   lambda: engine.overload.overloaded,
                                   lingering=lambda: engine.endpoint.transaction_count)
            engine.background.spawn(quiet.run())
            engine.background.spawn(YoungCollector(
                activity=lambda: engine.endpoint.stats["received"]).run())
            app[CORE_KEY] = core
            log.info("pbx ready", extra={"sip_port": engine.port,
                                         "transports": settings.sip_transports,
                                         "realm": settings.realm})
            yield
        await bus.close()

    app.cleanup_ctx.append(engine_ctx)
    return app
