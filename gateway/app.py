"""Builds the gateway's aiohttp application: Janus API, admin listing, metrics, and the node
around them (lease in the shared store, drain on SIGTERM, health)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.admin import GC_KEY, add_admin_routes
from gateway.auth import GatewayTokens
from gateway.core import Gateway
from gateway.drain import Drainer
from gateway.lease import NodeIdentity, NodeLease, NodeLoad
from gateway.media import rtp_leg
from gateway.media.ice import configure_ice, rtc_configuration
from gateway.media.workers import MediaWorkers
from gateway.plugins.base import Plugin, PluginRegistry
from gateway.plugins.echotest import EchoTestPlugin
from gateway.settings import GatewaySettings
from gateway.transports import http as http_transport
from gateway.transports.websocket import GATEWAY_KEY, MAX_MESSAGE_KEY, websocket_handler
from webfon import gcwatch, session_end
from webfon.bus import Bus, open_bus
from webfon.http import HEALTH_KEY, create_app
from webfon.runner import DRAIN_KEY, STORE_KEY, attach_store
from webfon.session_end import EndedSessions, SessionEnd, store_account_check
from webfon.tokens import Claims, RefusalCheck, store_revocation_check

log = logging.getLogger("gateway.app")

TOKENS_KEY = web.AppKey("tokens", GatewayTokens)


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
    rtp_leg.RTCP_INTERVAL[0] = settings.rtcp_interval_s
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


def node_load(gateway: Gateway) -> NodeLoad:
    """What the node carries now, for its lease (``webfon status --all``, admin page)."""
    plugin_metrics: dict[str, float] = {}
    for plugin in gateway.registry.unique():
        for key, value in plugin.metrics().items():
            plugin_metrics[key] = plugin_metrics.get(key, 0) + value
    workers = gateway.media_workers.describe() if gateway.media_workers else []
    return NodeLoad(sessions=len(gateway.sessions),
                    registered=int(plugin_metrics.get("sip_registered_accounts", 0)),
                    calls=int(plugin_metrics.get("sip_calls", 0)),
                    media_workers=len(workers),
                    media_workers_alive=sum(1 for w in workers if w["alive"]),
                    media_legs=sum(int(w["legs"]) for w in workers))


def node_identity(settings: GatewaySettings) -> NodeIdentity:
    host = settings.local_ip if settings.host in ("0.0.0.0", "::", "") else settings.host
    sip = f"{settings.local_ip}:{settings.sip_port}" if settings.sip_port else settings.local_ip
    return NodeIdentity(node_id=settings.local_nodo_id,
                        name=settings.node_name or f"gateway-{settings.local_nodo_id}",
                        api_url=settings.node_api_url or f"http://{host}:{settings.port}",
                        sip_address=sip)
def ended_check(ended: EndedSessions) -> RefusalCheck:
    async def refuse(claims: Claims) -> str | None:
        return ended.refusal(claims)

    return refuse


async def _end_sessions(bus: Bus, gateway: Gateway) -> None:
    """Follow ``auth.ended`` on the bus: a user's login session ended somewhere."""
    sub = await bus.subscribe(session_end.TOPIC)
    try:
        async for event in sub:
            end = SessionEnd.from_payload(event.payload)
            if end is None:
                continue
            try:
                await gateway.end_sessions(end)
            except Exception:
                log.exception("ending sessions failed", extra={"user": end.user_id})
    finally:
        with contextlib.suppress(Exception):
            await sub.close()


async def build_app(settings: GatewaySettings, plugins: list[Plugin] | None = None,
                    **kwargs: Any) -> web.Application:
    app = create_app("gateway", max_body_bytes=settings.max_message_bytes)
    tokens = GatewayTokens(settings.public_key_path, settings.token_issuer)
    gateway = make_gateway(settings, plugins, tokens)
    gateway.node_id = settings.local_nodo_id
    app[GATEWAY_KEY] = gateway
    app[TOKENS_KEY] = tokens
    app[GC_KEY] = gcwatch.GcWatch()
    app[MAX_MESSAGE_KEY] = settings.max_message_bytes
    app.router.add_get("/janus", websocket_handler)
    http_transport.add_routes(app)
    add_admin_routes(app)

    # the node's lease lives in the shared store: a node with an id keeps one
    with_lease = settings.local_nodo_id > 0
    if settings.check_revocations or with_lease:
        attach_store(app, settings)
    drainer = Drainer(gateway)

    async def drain() -> None:
        await drainer.drain(settings.drain_timeout_s)

    def health() -> dict[str, Any]:
        info: dict[str, Any] = {"node_id": settings.local_nodo_id,
                                "sessions": len(gateway.sessions)}
        if drainer.draining:
            info["status"] = "draining"
        return info

    app[DRAIN_KEY] = drain
    app[HEALTH_KEY] = health

    async def lost() -> None:
        for session in list(gateway.sessions.values()):
            await gateway.close_session(session, "node lease lost")

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if settings.check_revocations:
            tokens.use_revocations(store_revocation_check(app[STORE_KEY]))
            tokens.use_refusals(store_account_check(app[STORE_KEY], gateway.ended))
        else:
            tokens.use_refusals(ended_check(gateway.ended))
        bus = await open_bus(settings.bus_url)
        ending = asyncio.create_task(_end_sessions(bus, gateway))
        await gateway.start()
        lease = None
        if with_lease:
            lease = NodeLease(app[STORE_KEY], node_identity(settings),
                              heartbeat_s=settings.node_heartbeat_s,
                              load=lambda: node_load(gateway), on_lost=lost)
            drainer.lease = lease
            await lease.start()
        # start-up objects (modules, settings, plugins) are never garbage: frozen, no
        # collection walks them again
        gcwatch.tune(tuple(settings.gc_threshold), app[GC_KEY])  # type: ignore[arg-type]
        try:
            yield
        finally:
            ending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ending
            await gateway.stop()
            if lease is not None:
                await lease.stop()
            await bus.close()

    app.cleanup_ctx.append(lifecycle)
    return app
