"""Build the FONBO application: routes, OpenAPI document, store, bus and Socket.IO."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from fonbo.api import Api, Ctx, Response, json_response
from fonbo.auth import ensure_media_key, make_verifier, verify_token
from fonbo.keys import BUS_KEY, CONTROL_KEY, MEDIA_KEY, REALTIME_KEY, SETTINGS_KEY, STORE_KEY
from fonbo.openapi import build_spec
from fonbo.realtime import Realtime
from fonbo.routes import (
    acd,
    admin,
    agenda,
    callbacks,
    callcentre_admin,
    conferences,
    forwarding,
    history,
    nodes,
    personal,
    phones,
    recordings,
    stats,
    voicemail,
)
from fonbo.settings import FonboSettings
from webfon.bus import Bus, open_bus
from webfon.control_client import ControlClient
from webfon.control_key import control_key_path
from webfon.http import create_app
from webfon.store import Store, open_store


def all_operations() -> Api:
    api = Api()
    for module in (agenda, history, voicemail, forwarding, phones, personal, conferences,
                   callbacks, recordings, admin, callcentre_admin, acd, stats, nodes):
        api.extend(module.api)
    return api


def _spec_route(api: Api) -> Api:
    spec_api = Api()
    spec: dict[str, object] = {}

    @spec_api.op("GET", "/fonbo/openapi.json", summary="This document", tag="meta", auth="none",
                 responses={200: Response("OpenAPI 3 document", {"type": "object"})})
    async def get_openapi(ctx: Ctx) -> web.Response:
        if not spec:
            spec.update(build_spec(api.operations + spec_api.operations))
        return json_response(spec)

    return spec_api


def full_api() -> Api:
    """Every operation, the OpenAPI document's own included."""
    api = all_operations()
    api.extend(_spec_route(api))
    return api


async def build_app(settings: FonboSettings, *, store: Store | None = None,
                    bus: Bus | None = None) -> web.Application:
    """The aiohttp application; ``store``/``bus`` given by the caller stay the caller's."""
    app = create_app("fonbo", settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    app[MEDIA_KEY] = ensure_media_key(settings.data_dir)
    key = settings.pbx_control_key
    app[CONTROL_KEY] = ControlClient(
        settings.pbx_control_url,
        Path(key) if key else control_key_path(settings.data_dir),
        settings.pbx_control_timeout_s, ca_file=settings.pbx_control_ca)
    full_api().register(app)
    origins = [o.strip() for o in settings.cors_allowed_origins.split(",") if o.strip()]

    async def verify(token: str):  # type: ignore[no-untyped-def]
        return await verify_token(app, token)

    realtime = Realtime(app, store_getter=lambda: app[STORE_KEY], bus_getter=lambda: app[BUS_KEY],
                        verify=verify, redis_url=settings.redis_url,
                        shared_bus=bool(settings.bus_url), cors_allowed_origins=origins or None)
    app[REALTIME_KEY] = realtime

    async def resources(app: web.Application) -> AsyncIterator[None]:
        own_store = store is None
        app[STORE_KEY] = store if store is not None else await open_store(
            settings.effective_database_url)
        own_bus = bus is None
        try:
            app[BUS_KEY] = bus if bus is not None else await open_bus(settings.bus_url)
        except BaseException:
            if own_store:
                await app[STORE_KEY].close()
            raise
        make_verifier(app)
        await realtime.start()
        try:
            yield
        finally:
            await realtime.stop()
            if own_bus:
                await app[BUS_KEY].close()
            if own_store:
                await app[STORE_KEY].close()

    app.cleanup_ctx.append(resources)
    return app
