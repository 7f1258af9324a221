"""Gateway settings, read from ``vivait.plugin.webfon.jcfg`` (libconfig) plus ``WEBFON_GATEWAY_*``.

The seed's keys keep their names (``local_nodo_id``, ``colas_limpiar_siempre``, ``local_ip``,
``max_digi_llam_sal``); the rest are ours. ICE never queries a public STUN server unless
``stun_server`` is set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from gateway.limits import Limits
from gateway.plugins.sip.policy import Destinations
from gateway.plugins.sip.rtp_watchdog import RtpTimeouts
from webfon.config import ConfigError
from webfon.service_url import ServiceUrl
from webfon.settings import BaseSettings


@dataclasses.dataclass
class GatewaySettings(BaseSettings):
    component: ClassVar[str] = "gateway"
    file_format: ClassVar[str] = "libconfig"
    default_file: ClassVar[str | None] = "vivait.plugin.webfon.jcfg"

    port: int = 8188
    # --- seed keys --------------------------------------------------------------------
    local_nodo_id: int = 0
    colas_limpiar_siempre: bool = False
    local_ip: str = "127.0.0.1"
    max_digi_llam_sal: int = 0  # 0 = no limit on the length of a dialled string
    # --- Janus core -------------------------------------------------------------------
    session_timeout: int = 60
    # seconds a session whose WebSocket closed waits for a ``claim`` (Janus's key); 0 = the
    # session, its registration and calls end with the socket
    reclaim_session_timeout: int = 0
    # seconds a call waits for the browser to bring new media (``update`` with an offer) when
    # its WebRTC connection breaks; 0 = the call ends with the connection, as in Janus
    media_reclaim_timeout: int = 0
    max_message_bytes: int = 262_144
    # resource limits (gateway/limits.py); 0 = no limit
    max_sessions: int = 4000
    max_sessions_per_user: int = 8
    max_handles_per_session: int = 16
    max_handles_per_user: int = 32
    ws_max_pending_events: int = 2000
    ws_max_inflight: int = 32
    require_token: bool = True
    check_revocations: bool = True  # refuse revoked tokens (shared store's token_revocations)
    admin_roles: tuple[str, ...] = ("admin",)
    # --- ICE / media ------------------------------------------------------------------
    ice_addresses: tuple[str, ...] = ()  # host candidate addresses; default: local_ip
    rtp_port_range: str = ""  # "min-max" for both ICE and plain RTP sockets; "" = any
    stun_server: str = ""  # "host:port"
    turn_server: str = ""  # "host:port"
    turn_username: str = ""
    turn_password: str = ""
    turn_transport: str = "udp"
    ice_transport_policy: str = "all"  # "relay": only TURN-relayed candidates
    nat_1_1: str = ""  # public address written into ICE candidates instead of the local one
    allow_transcoding: bool = True  # Opus <-> G.711 when a browser refuses G.711
    # strict RTP on the SIP leg (as Asterisk's strictrtp): media only from the SDP's address,
    # or from the one source that sends strict_rtp_probation packets in sequence within
    # strict_rtp_window_s of the first packet (NAT); the rest is dropped and counted
    strict_rtp: bool = True
    strict_rtp_window_s: float = 5.0
    strict_rtp_probation: int = 4
    # processes relaying calls' audio beside the gateway's loop: -1 = one per CPU the
    # gateway may use but one (at least one), 0 = relay in the gateway's own loop, N = N
    media_workers: int = -1
    # the garbage collector's thresholds in the gateway's process (gc.set_threshold).
    # Python's own: a young collection walks the objects made since the last one, so small
    # thresholds keep each walk short (gateway/README.md, "Garbage collector")
    gc_threshold: tuple[int, ...] = (700, 10, 10)
    # --- SIP --------------------------------------------------------------------------
    sip_port: int = 0  # local UDP port for the SIP UAs (0 = any)
    sip_registrar: str = ""  # default registrar/proxy for webfon logins, e.g. sip:127.0.0.1:5060
    sip_outbound_proxy: str = ""
    sip_user_agent: str = "webfon-gateway"
    # the browser leg's quality (loss, jitter, round trip, codec, ICE candidate) for the PBX's
    # CDR, in an X-Webfon-Quality header of our BYE or of our 200 to the PBX's BYE
    quality_header: bool = True
    # seconds between the RTCP reports of each call's SIP leg (RFC 3550: 5, randomised)
    rtcp_interval_s: float = 5.0
    register_ttl: int = 3600
    # RTP timeout (Asterisk's rtptimeout / rtpholdtimeout): an established call whose SIP side
    # sent no RTP for this many seconds ends (BYE; the browser gets hangup 408 "RTP timeout"),
    # as when the PBX or phone dies mid-call. sip_rtp_hold_timeout applies while the call is on
    # hold and the remote still says it sends (a=sendonly: music on hold); a remote that says
    # it does not send (recvonly/inactive) is never timed out. 0 = off
    sip_rtp_timeout: int = 60
    sip_rtp_hold_timeout: int = 0
    allow_guest: bool = False  # guests also allowed for tokens with role admin or test
    # SIP servers users' requests may go to or name (gateway/plugins/sip/policy.py): "host"
    # (ports 5060/5061), "host:port" or "host:*"; empty = sip_registrar and sip_outbound_proxy
    sip_allowed_servers: tuple[str, ...] = ()
    # per token user (0 = no limit): SIP accounts registered (helper lines not counted) and
    # calls holding media (a WebRTC leg and an RTP leg each)
    max_sip_accounts_per_user: int = 8
    max_media_legs_per_user: int = 8
    # --- PBX control API --------------------------------------------------------------
    # http://127.0.0.1:port, unix:/path/pbx.sock or https://host:port (between hosts; plain
    # http to another host is refused, the control key must not cross a network in clear)
    pbx_control_url: str = "http://127.0.0.1:8500"
    pbx_control_ca: Path | None = None  # CA bundle for an https PBX (default: system CAs)
    pbx_control_plain_http: bool = False  # allow http:// to another host anyway
    pbx_control_key: str = ""  # default: <data_dir>/keys/pbx_control.key
    webphone_lines_default: int = 2
    # --- node in the production shape (lease in the shared store, drain) -----------------
    node_name: str = ""  # shown by `webfon status --all`; default gateway-<local_nodo_id>
    node_api_url: str = ""  # where this node's /healthz answers; default http://host:port
    node_heartbeat_s: float = 1.0  # lease refresh period (the PBX's node_lease_s is longer)
    drain_timeout_s: float = 300.0  # SIGTERM: calls have this long to end before exit

    def validate(self) -> None:
        super().validate()
        for key in ("max_sessions", "max_sessions_per_user", "max_handles_per_session",
                    "max_handles_per_user", "ws_max_pending_events", "ws_max_inflight",
                    "max_sip_accounts_per_user", "max_media_legs_per_user"):
            if getattr(self, key) < 0:
                raise ConfigError("must be >= 0 (0 = no limit)", key=key)
        if self.session_timeout < 0:
            raise ConfigError("must be >= 0", key="session_timeout")
        if self.reclaim_session_timeout < 0:
            raise ConfigError("must be >= 0", key="reclaim_session_timeout")
        if self.media_reclaim_timeout < 0:
            raise ConfigError("must be >= 0", key="media_reclaim_timeout")
        for key in ("sip_rtp_timeout", "sip_rtp_hold_timeout"):
            if getattr(self, key) < 0:
                raise ConfigError("must be >= 0 seconds (0 = off)", key=key)
        if self.rtp_port_range:
            self.port_range()
        if not 0.5 <= self.rtcp_interval_s <= 60:
            raise ConfigError("must be between 0.5 and 60 seconds", key="rtcp_interval_s")
        if self.strict_rtp_window_s < 0:
            raise ConfigError("must be >= 0", key="strict_rtp_window_s")
        if self.strict_rtp_probation < 0:
            raise ConfigError("must be >= 0 (0 = only the SDP's address, no NAT learning)",
                              key="strict_rtp_probation")
        if len(self.gc_threshold) != 3 or min(self.gc_threshold) < 1:
            raise ConfigError("three thresholds >= 1 (generations 0, 1, 2)", key="gc_threshold")
        if self.media_workers < -1:
            raise ConfigError("must be -1 (one per CPU but one), 0 or a number of workers",
                              key="media_workers")
        if self.node_heartbeat_s <= 0:
            raise ConfigError("must be > 0", key="node_heartbeat_s")
        if self.drain_timeout_s < 0:
            raise ConfigError("must be >= 0", key="drain_timeout_s")
        try:
            control = ServiceUrl.parse(self.pbx_control_url)
        except ValueError as exc:
            raise ConfigError(str(exc), key="pbx_control_url") from None
        if control.plain_over_network and not self.pbx_control_plain_http:
            raise ConfigError("plain http to another host would send the PBX control key in "
                              "clear: use https:// (pbx_control_ca) or unix:/path, or set "
                              "pbx_control_plain_http = true", key="pbx_control_url")
        try:
            self.sip_destinations()
        except ValueError as exc:
            raise ConfigError(str(exc), key="sip_allowed_servers") from None
        if self.ice_transport_policy not in ("all", "relay"):
            raise ConfigError("must be 'all' or 'relay'", key="ice_transport_policy")

    def port_range(self) -> tuple[int, int] | None:
        if not self.rtp_port_range:
            return None
        try:
            low, high = (int(p) for p in self.rtp_port_range.split("-", 1))
        except ValueError:
            raise ConfigError("expected 'min-max'", key="rtp_port_range") from None
        if not 1024 <= low <= high <= 65535:
            raise ConfigError("expected 1024 <= min <= max <= 65535", key="rtp_port_range")
        return low, high

    def rtp_timeouts(self) -> RtpTimeouts:
        return RtpTimeouts(float(self.sip_rtp_timeout), float(self.sip_rtp_hold_timeout))

    def limits(self) -> Limits:
        return Limits(self.max_sessions, self.max_sessions_per_user,
                      self.max_handles_per_session, self.max_handles_per_user,
                      self.ws_max_pending_events, self.ws_max_inflight)

    def sip_destinations(self) -> Destinations:
        """The SIP servers users may reach (``sip_allowed_servers``, else the PBX)."""
        return Destinations.from_settings(self.sip_allowed_servers, self.sip_registrar,
                                          self.sip_outbound_proxy)

    @property
    def host_addresses(self) -> list[str]:
        return list(self.ice_addresses) or [self.local_ip]
