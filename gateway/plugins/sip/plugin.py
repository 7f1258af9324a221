"""The SIP plugin type: one SIP endpoint and user-agent hub for every handle of the gateway.

Each account registers its own Contact (random user part) on the shared endpoint; the hub of
:mod:`webfon.sip.ua` routes incoming requests to the account's user agent, and in-dialog
requests to their call, matched by full dialog id.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gateway.media.ports import PortAllocator
from gateway.plugins.base import HandleContext, Plugin, PluginSession
from gateway.plugins.sip.context import SipContext
from gateway.plugins.sip.pbx import PbxControl, PbxError
from gateway.plugins.sip.session import SipSession
from gateway.settings import GatewaySettings
from webfon.control_key import control_key_path
from webfon.sip import SipEndpoint
from webfon.sip.ua import UaHub

log = logging.getLogger("gateway.sip")


class SipPlugin(Plugin):
    package = "vivait.plugin.webfon"
    aliases = ("janus.plugin.sip",)
    name = "webfon SIP plugin"
    version = 8
    version_string = "0.0.8"
    description = ("Registers WebRTC users at a SIP server (or logs webfon users in as "
                   "webphones) and bridges their calls, relaying G.711 without transcoding.")

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        endpoint = SipEndpoint(settings.local_ip, settings.sip_port,
                               user_agent=settings.sip_user_agent,
                               server_header=settings.sip_user_agent)
        # routes the endpoint's requests to the accounts' user agents, by Contact or AoR user;
        # a request for anyone else gets 404, even while only one account is registered
        UaHub.of(endpoint).only_agent_takes_all = False
        key = settings.pbx_control_key
        pbx = PbxControl(settings.pbx_control_url,
                         control_key_path(settings.data_dir) if not key else Path(key),
                         ca_file=settings.pbx_control_ca, node_id=settings.local_nodo_id)
        self.sip = SipContext(settings, endpoint, PortAllocator(settings.port_range()), pbx,
                              destinations=settings.sip_destinations())

    @property
    def endpoint(self) -> SipEndpoint:
        return self.sip.endpoint

    async def start(self) -> None:
        await self.sip.endpoint.start()
        log.info("SIP endpoint listening", extra={
            "address": self.sip.endpoint.address("udp"),
            "allowed_servers": self.sip.destinations.describe()})
        if self.settings.local_nodo_id:
            self.sip.spawn(self._release_node())

    async def _release_node(self) -> None:
        try:
            released = await self.sip.pbx.release_node(self.settings.local_nodo_id)
            log.info("webphone extensions of this node released",
                     extra={"node_id": self.settings.local_nodo_id, "released": released})
        except PbxError as exc:
            log.warning("could not release this node's webphone extensions: %s", exc.message,
                        extra={"node_id": self.settings.local_nodo_id})

    async def stop(self) -> None:
        if self.settings.colas_limpiar_siempre and self.settings.local_nodo_id:
            await self._release_node()
        self.sip.cancel_tasks()
        await self.sip.endpoint.close()

    def create_session(self, ctx: HandleContext) -> PluginSession:
        return SipSession(self.sip, ctx)

    # --- monitoring ---------------------------------------------------------------------
    @property
    def calls(self) -> dict[str, Any]:
        return self.sip.calls

    def list_calls(self) -> list[dict[str, Any]]:
        return [line.describe_call() for line in self.sip.calls.values()]

    def metrics(self) -> dict[str, float]:
        figures = [line.call_metrics() for line in self.sip.calls.values()]
        times = sorted(self.sip.setup_times)
        return {"sip_registered_accounts": sum(1 for a in self.sip.accounts.values()
                                               if a.registered),
                "sip_calls": len(figures),
                "sip_calls_established": sum(1 for f in figures if f[4]),
                "sip_calls_total": self.sip.calls_total,
                "rtp_packets_from_sip": sum(f[0] for f in figures),
                "rtp_packets_to_sip": sum(f[1] for f in figures),
                "rtp_lost_from_sip": sum(f[2] for f in figures),
                "rtp_jitter_ms_max": max((f[3] for f in figures), default=0.0),
                "call_setup_ms_p50": times[len(times) // 2] if times else 0.0,
                "sip_refused_destinations_total": self.sip.refused_destinations,
                "sip_refused_sources_total": self.sip.refused_sources,
                "sip_limit_refusals_total": self.sip.limit_refusals}
