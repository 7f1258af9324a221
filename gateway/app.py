"""Builds the gateway's aiohttp application: Janus API, admin listing, metrics."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.admin import add_admin_routes
from gateway.auth import GatewayTokens
from gateway.core import Gateway
from gateway.media import rtp_leg
from gateway.media.ice import configure_ice, rtc_configuration
from gateway.media.workers import MediaWorkers
from gateway.plugins.base import Plugin, PluginRegistry
from gateway.plugins.echotest import EchoTestPlugin
from gateway.settings import GatewaySettings
from gateway.transports import http as http_transport
from gateway.transports.websocket import GATEWAY_KEY, MAX_MESSAGE_KEY, websocket_handler
from webfon.http import create_app
from webfon.runner import STORE_KEY, attach_store
from webfon.tokens import store_revocation_check

TOKENS_KEY = web.AppKey("tokens", GatewayTokens)


def tune_gc() -> None:
    """The relay allocates little per packet; full collections of the long-lived startup
    objects only add latency spikes, so freeze them and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def default_plugins(settings: GatewaySettings) -> list[Plugin]:
    plugins: list[Plugin] = [EchoTestPlugin()]
    try:
        from gateway.plugins.sip.plugin import SipPlugin
    except ImportError:  # pragma: no cover - SIP plugin not installed
        return plugins
    plugins.append(SipPlugin(settings))
    return plugins


def make_gateway(settings: GatewaySettings, plugins: list[Plugin] | None = None,
                 tokens: GatewayTokens | None = None) -> Gateway:
    configure_ice(settings.host_addresses, settings.port_range())
    rtp_leg.STRICT = rtp_leg.StrictConfig(settings.strict_rtp, settings.strict_rtp_window_s,
                                          settings.strict_rtp_probation)
    registry = PluginRegistry()
    for plugin in plugins if plugins is not None else default_plugins(settings):
        registry.add(plugin)
    tokens = tokens or GatewayTokens(settings.public_key_path, settings.token_issuer)
    return Gateway(registry, tokens.verify,
                   rtc_configuration(settings.stun_server, settings.turn_server,
                                     settings.turn_username, settings.turn_password,
                                     settings.turn_transport, settings.ice_transport_policy),
                   session_timeout=settings.session_timeout, nat_1_1=settings.nat_1_1,
                   host_addresses=settings.host_addresses,
                   require_token=settings.require_token,
                   reclaim_session_timeout=settings.reclaim_session_timeout,
                   limits=settings.limits(),
                   media_workers=MediaWorkers(settings.media_workers, settings.log_level,
                                              settings.log_format)
                   if settings.media_workers else None)


async def build_app(settings: GatewaySettings, plugins: list[Plugin] | None = None,
                    **kwargs: Any) -> web.Application:
    app = create_app("gateway", max_body_bytes=settings.max_message_bytes)
    tokens = GatewayTokens(settings.public_key_path, settings.token_issuer)
    gateway = make_gateway(settings, plugins, tokens)
    app[GATEWAY_KEY] = gateway
    app[TOKENS_KEY] = tokens
    app[MAX_MESSAGE_KEY] = settings.max_message_bytes
    app.router.add_get("/janus", websocket_handler)
    http_transport.add_routes(app)
    add_admin_routes(app)

    if settings.check_revocations:
        attach_store(app, settings)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if settings.check_revocations:
            tokens.use_revocations(store_revocation_check(app[STORE_KEY]))
        await gateway.start()
        tune_gc()
        yield
        await gateway.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
