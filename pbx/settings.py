"""Settings of the embedded PBX (component ``pbx``): SIP listeners, media ports, timers, files."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from pathlib import Path
from typing import ClassVar

from webfon.config import ConfigError
from webfon.settings import BaseSettings
from webfon.sip.tls import TlsConfig


@dataclasses.dataclass
class PbxSettings(BaseSettings):
    """``WEBFON_PBX_*`` variables or ``pbx.jcfg`` (libconfig) override these defaults."""

    component: ClassVar[str] = "pbx"
    file_format: ClassVar[str] = "libconfig"
    default_file: ClassVar[str | None] = "pbx.jcfg"

    port: int = 8500
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    sip_transports: list[str] = dataclasses.field(default_factory=lambda: ["udp", "tcp"])
    # SIP over TLS ("tls" in sip_transports): its own port; our certificate (the control
    # API's tls_cert_file/tls_key_file when these are empty); the CAs that trunks'
    # certificates are checked against (the system's when empty), by name
    sip_tls_port: int = 5061
    sip_tls_cert_file: Path | None = None
    sip_tls_key_file: Path | None = None
    sip_tls_ca_file: Path | None = None
    sip_tls_verify_server: bool = True
    # MD5 only by default: some phones (baresip 1.0) refuse a REGISTER challenged with SHA-256
    digest_algorithms: list[str] = dataclasses.field(default_factory=lambda: ["MD5"])
    sip_advertised_host: str = ""
    node_name: str = ""
    """This PBX node's name in call-quality records (the host name when empty)."""
    realm: str = "webfon"
    rtp_host: str = ""
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    # strict RTP (as Asterisk's strictrtp): media only from the SDP's address, or from the one
    # source that sends strict_rtp_probation packets in sequence within strict_rtp_window_s of
    # the first packet (a phone behind NAT); everything else is dropped and counted
    strict_rtp: bool = True
    strict_rtp_window_s: float = 5.0
    strict_rtp_probation: int = 4
    qualify_interval_s: float = 30.0
    qualify_timeout_s: float = 5.0
    register_min_expires: int = 60
    register_max_expires: int = 3600
    register_default_expires: int = 3600
    max_contacts_per_aor: int = 8
    nonce_ttl_s: float = 300.0
    directory_cache_s: float = 5.0
    no_answer_timeout_s: float = 20.0
    trunk_timeout_s: float = 30.0
    media_timeout_s: float = 0.0
    voicemail_dir: Path | None = None
    voicemail_max_s: float = 120.0
    mdflow_conf: Path | None = None
    mdflow_flow_phones: str = "Cen_Inicio_SIP"
    mdflow_flow_trunks: str = "Cen_Inicio_TrunkSip"
    outside_prefix: str = "0"
    local_prefixes: str = "91"
    stats_global: bool = False
    """Group statistics for every call (the seed's global ``EstadisticasColaCorp = Si``,
    accepted under that name too)."""
    stats_sla_s: float = 20.0
    moh_frequency_hz: float = 440.0
    # «Retrollamada»: how long a booking lasts, how often free parties are looked for, tries
    callback_ttl_s: float = 3600.0
    callback_poll_s: float = 2.0
    callback_max_attempts: int = 3
    # «Grabar por enrutamiento»: where recordings go (default <data_dir>/recordings), how long
    # they are kept
    recordings_dir: Path | None = None
    recording_retention_days: float = 90.0
    control_key_file: Path | None = None
    # dialler campaigns: how often the dialler looks at them, how long a PBX process holds a
    # campaign it runs without renewing (another takes it over after that), how long a campaign
    # holds its new calls after a limit of the PBX (trunks full, flow control) refused one
    campaigns_enabled: bool = True
    campaign_tick_s: float = 0.5
    campaign_lease_s: float = 10.0
    campaign_limit_backoff_s: float = 5.0
    # gateway nodes: one whose lease heartbeat has not moved for this long is lost (its web
    # phones are released); checked every node_check_s
    node_lease_s: float = 5.0
    node_check_s: float = 1.0
    # Where the control API answers: "any" (the HTTP port, over TLS with tls_cert_file, and the
    # unix_socket when set) or "unix" (only unix_socket; the HTTP port refuses /control/)
    control_listen: str = "any"
    # --- abuse limits (docs/SECURITY.md) ---
    sip_trusted_sources: list[str] = dataclasses.field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    """Networks (CIDR) never rate-limited nor banned: the gateway nodes, the PBX's own host.
    Trunks' addresses are exempt too."""
    sip_source_rate: float = 50.0
    """SIP messages per second one address may send (sustained); 0 turns the limit off."""
    sip_source_burst: int = 200
    """…and in a burst. Beyond, its messages are dropped before they are even parsed."""
    auth_max_failures: int = 10
    """Digest failures (wrong password, unknown user) from one address within
    ``auth_window_s`` that ban it: its requests get 403 without a challenge."""
    auth_window_s: float = 300.0
    auth_ban_s: float = 600.0
    """The first ban; each ban that follows doubles, up to ``auth_max_ban_s``."""
    auth_max_ban_s: float = 86400.0
    mobility_max_failures: int = 5
    """Failed mobility codes from one phone within ``mobility_window_s`` that lock it out."""
    mobility_account_max_failures: int = 10
    """Failed mobility codes for one login (from any phone) that lock the login out."""
    mobility_window_s: float = 900.0
    mobility_lock_s: float = 60.0
    """The first lock-out; each one that follows doubles, up to ``mobility_max_lock_s``."""
    mobility_max_lock_s: float = 3600.0
    conference_pin_max_failures: int = 5
    """Wrong conference-room PINs from one phone within ``conference_pin_window_s`` that lock
    it out of every PIN room."""
    conference_room_max_failures: int = 10
    """Wrong PINs for one room (from any phone) that lock the room's PIN entry (its owner,
    never asked for the PIN, still gets in)."""
    conference_pin_window_s: float = 900.0
    conference_pin_lock_s: float = 60.0
    """The first lock-out; each one that follows doubles, up to
    ``conference_pin_max_lock_s``."""
    conference_pin_max_lock_s: float = 3600.0
    password_checks: int = 0
    """PIN checks (argon2id) run at once; 0: the CPU count (at least 2)."""
    max_calls_per_extension: int = 8
    """Calls in progress one extension may take part in (placing or receiving); a call over
    the limit gets 403. 0: no limit. Ringing an extension also stops at its «líneas»."""
    max_calls_per_trunk: int = 120
    """Calls in progress on one trunk (both ways); a full trunk is skipped like an
    unavailable one, a call from a full trunk gets 503. 0: no limit."""
    # --- hotel PMS interface (CHAR / hmobile connect), see pbx/pms/README.md ---------------
    pms_enabled: bool = False
    # where CHAR's requests arrive: HTTPS only (certificate and key required); with
    # pms_client_ca_file CHAR must also present a certificate signed by that CA
    pms_host: str = "127.0.0.1"
    pms_port: int = 8510
    pms_tls_cert_file: Path | None = None
    pms_tls_key_file: Path | None = None
    pms_client_ca_file: Path | None = None
    pms_allowed_networks: list[str] = dataclasses.field(default_factory=list)
    """Networks CHAR may connect from (CIDR, comma separated); empty: any."""
    # failed logins: pms_max_failures within pms_failure_window_s lock the address and the
    # user out for pms_lock_s
    pms_max_failures: int = 5
    pms_failure_window_s: float = 300.0
    pms_lock_s: float = 900.0
    # where the PBX tells the PMS things (hmobile connect's API, https), with what
    # credentials, trusting which CA (default: the system's), with an optional client
    # certificate of our own
    pms_url: str = ""
    pms_user: str = ""
    pms_password: str = ""
    pms_ca_file: Path | None = None
    pms_cert_file: Path | None = None
    pms_key_file: Path | None = None
    pms_timeout_s: float = 10.0
    # a message the PMS could not take is sent again after pms_retry_min_s, doubling up to
    # pms_retry_max_s; due wake-up calls and messages are looked for every pms_poll_s at most
    pms_retry_min_s: float = 5.0
    pms_retry_max_s: float = 600.0
    pms_poll_s: float = 5.0
    overload_lag_ms: float = 100.0
    """When a new request would wait longer than this before being looked at (the event
    loop lags, or SIP datagrams queue up), new calls and registrations get 503 with
    ``Retry-After`` while the calls in progress go on. 0: never."""
    overload_retry_after_s: int = 5
    """The ``Retry-After`` of those 503s."""
    overload_sustain_s: float = 0.5
    """How long the lag must stay above ``overload_lag_ms`` before new requests are turned
    away (one stall the loop has caught up with is no overload)."""
    overload_recover_s: float = 2.0
    """How long the lag must stay under half of ``overload_lag_ms`` before new requests are
    taken again."""

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"EstadisticasColaCorp": "stats_global"}

    def validate(self) -> None:
        super().validate()
        if self.control_listen not in ("any", "unix"):
            raise ConfigError("must be 'any' or 'unix'", key="control_listen")
        if self.control_listen == "unix" and self.unix_socket is None:
            raise ConfigError("control_listen = unix needs unix_socket", key="control_listen")
        if not 0 <= self.sip_port <= 65535:
            raise ConfigError(f"port out of range: {self.sip_port}", key="sip_port")
        bad = [t for t in self.sip_transports if t.lower() not in ("udp", "tcp", "tls")]
        if bad or not self.sip_transports:
            raise ConfigError("must list udp, tcp and/or tls", key="sip_transports")
        if not 0 <= self.sip_tls_port <= 65535:
            raise ConfigError(f"port out of range: {self.sip_tls_port}", key="sip_tls_port")
        if (self.sip_tls_cert_file is None) != (self.sip_tls_key_file is None):
            raise ConfigError("sip_tls_cert_file and sip_tls_key_file go together",
                              key="sip_tls_cert_file")
        if "tls" in [t.lower() for t in self.sip_transports]:
            tls = self.sip_tls
            if tls.cert_file is None:
                raise ConfigError("SIP over TLS needs a certificate: set sip_tls_cert_file "
                                  "and sip_tls_key_file", key="sip_transports")
            for key in ("cert_file", "key_file", "ca_file"):
                path = getattr(tls, key)
                if path is not None and not Path(path).is_file():
                    raise ConfigError(f"no such file: {path}", key=f"sip_tls_{key}")
        if any(a.upper() not in ("MD5", "SHA-256") for a in self.digest_algorithms) \
                or not self.digest_algorithms:
            raise ConfigError("must list MD5 and/or SHA-256", key="digest_algorithms")
        if not (1024 <= self.rtp_port_min < self.rtp_port_max <= 65535):
            raise ConfigError("rtp_port_min must be >= 1024 and below rtp_port_max <= 65535",
                              key="rtp_port_min")
        if self.strict_rtp_window_s < 0:
            raise ConfigError("must be >= 0", key="strict_rtp_window_s")
        if self.strict_rtp_probation < 0:
            raise ConfigError("must be >= 0 (0 = only the SDP's address, no NAT learning)",
                              key="strict_rtp_probation")
        if (self.rtp_port_max - self.rtp_port_min) < 4:
            raise ConfigError("RTP port range too small", key="rtp_port_max")
        if self.node_lease_s <= 0 or self.node_check_s <= 0:
            raise ConfigError("must be > 0", key="node_lease_s" if self.node_lease_s <= 0
                              else "node_check_s")
        if self.qualify_interval_s < 0:
            raise ConfigError("must be >= 0 (0 disables qualify)", key="qualify_interval_s")
        if self.no_answer_timeout_s <= 0:
            raise ConfigError("must be > 0", key="no_answer_timeout_s")
        if not self.realm:
            raise ConfigError("must not be empty", key="realm")
        if not 0.05 <= self.campaign_tick_s <= 10:
            raise ConfigError("must be between 0.05 and 10", key="campaign_tick_s")
        if self.campaign_lease_s < 2 * self.campaign_tick_s:
            raise ConfigError("must be at least twice campaign_tick_s", key="campaign_lease_s")
        if not 0 < self.campaign_limit_backoff_s <= 600:
            raise ConfigError("must be between 0 and 600", key="campaign_limit_backoff_s")
        if self.callback_ttl_s <= 0:
            raise ConfigError("must be > 0", key="callback_ttl_s")
        if self.callback_poll_s <= 0:
            raise ConfigError("must be > 0", key="callback_poll_s")
        if self.recording_retention_days <= 0:
            raise ConfigError("must be > 0", key="recording_retention_days")
        if self.callback_max_attempts < 1:
            raise ConfigError("must be at least 1", key="callback_max_attempts")
        for net in self.sip_trusted_sources:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(f"not a network: {net!r}", key="sip_trusted_sources") from None
        if self.sip_source_rate < 0 or self.sip_source_burst < 1:
            raise ConfigError("rate must be >= 0 and burst >= 1", key="sip_source_rate")
        for key in ("auth_max_failures", "mobility_max_failures",
                    "mobility_account_max_failures", "conference_pin_max_failures",
                    "conference_room_max_failures"):
            if getattr(self, key) < 1:
                raise ConfigError("must be >= 1", key=key)
        for key in ("auth_window_s", "auth_ban_s", "mobility_window_s", "mobility_lock_s",
                    "conference_pin_window_s", "conference_pin_lock_s"):
            if getattr(self, key) <= 0:
                raise ConfigError("must be > 0", key=key)
        if self.overload_lag_ms < 0 or self.overload_recover_s < 0 \
                or self.overload_sustain_s < 0:
            raise ConfigError("must be >= 0 (0: no overload control)", key="overload_lag_ms")
        if self.overload_retry_after_s < 1:
            raise ConfigError("must be >= 1", key="overload_retry_after_s")
        for key in ("max_calls_per_extension", "max_calls_per_trunk", "password_checks"):
            if getattr(self, key) < 0:
                raise ConfigError("must be >= 0 (0: no limit / default)", key=key)
        if self.pms_enabled:
            self._validate_pms()

    def _validate_pms(self) -> None:
        if self.pms_tls_cert_file is None or self.pms_tls_key_file is None:
            raise ConfigError("the PMS interface answers over HTTPS only: set "
                              "pms_tls_cert_file and pms_tls_key_file", key="pms_tls_cert_file")
        if not 0 <= self.pms_port <= 65535:
            raise ConfigError(f"port out of range: {self.pms_port}", key="pms_port")
        for net in self.pms_allowed_networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(f"not a network: {net!r}", key="pms_allowed_networks") from None
        if self.pms_url and not self.pms_url.lower().startswith("https://"):
            raise ConfigError("hmobile connect is reached over HTTPS only (https://…)",
                              key="pms_url")
        if (self.pms_cert_file is None) != (self.pms_key_file is None):
            raise ConfigError("set both pms_cert_file and pms_key_file, or neither",
                              key="pms_cert_file")
        if self.pms_max_failures < 1 or self.pms_lock_s <= 0 or self.pms_failure_window_s <= 0:
            raise ConfigError("must be >= 1 (and the window and lock > 0)",
                              key="pms_max_failures")
        if not 0 < self.pms_retry_min_s <= self.pms_retry_max_s or self.pms_poll_s <= 0 \
                or self.pms_timeout_s <= 0:
            raise ConfigError("need 0 < pms_retry_min_s <= pms_retry_max_s and positive "
                              "pms_poll_s and pms_timeout_s", key="pms_retry_min_s")

    @property
    def voicemail_path(self) -> Path:
        return self.voicemail_dir or self.data_dir / "voicemail"

    @property
    def recordings_path(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def advertised_host(self) -> str:
        return self.sip_advertised_host or self.sip_host

    @property
    def sip_tls(self) -> TlsConfig:
        """The certificate settings of SIP over TLS."""
        cert, key = self.sip_tls_cert_file, self.sip_tls_key_file
        if cert is None:
            cert, key = self.tls_cert_file, self.tls_key_file
        return TlsConfig(cert_file=cert, key_file=key, ca_file=self.sip_tls_ca_file,
                         verify_server=self.sip_tls_verify_server)

    @property
    def node(self) -> str:
        return self.node_name or socket.gethostname()

    @property
    def media_host(self) -> str:
        return self.rtp_host or self.advertised_host
