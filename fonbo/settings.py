"""Settings of the portal API (component ``fonbo``): limits, SIP realm, provisioning."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from webfon.config import ConfigError
from webfon.service_url import ServiceUrl
from webfon.settings import BaseSettings
from webfon.turn import TURN_SCHEMES, parse_urls


@dataclasses.dataclass
class FonboSettings(BaseSettings):
    """``WEBFON_FONBO_*`` variables or ``fonbo.jcfg`` (libconfig) override these defaults."""

    component: ClassVar[str] = "fonbo"
    file_format: ClassVar[str] = "libconfig"
    default_file: ClassVar[str | None] = "fonbo.jcfg"

    port: int = 8400
    realm: str = "webfon"
    # Where a provisioned secure phone registers (written into its QR payload).
    provisioning_registrar: str = "sip:127.0.0.1:5060"
    provisioning_secret_ttl_days: float = 30.0
    logo_max_bytes: int = 262_144
    import_max_rows: int = 5000
    history_page_max: int = 200
    # a call whose E-model MOS is below this is a bad call (history filter "bad")
    bad_call_mos: float = 3.6
    scroll_page_max: int = 5000
    recents_scan_max: int = 5000
    media_ticket_ttl_s: float = 120.0
    cors_allowed_origins: str = ""
    # ICE servers for the browsers (GET /fonbo/ice-servers): "stun:h:3478,turn:h:3478?..."
    ice_servers: str = ""
    # coturn's static-auth-secret (use-auth-secret): TURN credentials per user, time-limited
    turn_secret: str = ""
    turn_credential_ttl_s: float = 12 * 3600.0
    # The PBX's control API: live groups (waiting callers, agents' states, «Mover Cola»),
    # starting and stopping recordings, the routing rule tester (the PBX's own router
    # answers). http://127.0.0.1:port, unix:/path/pbx.sock or https://host:port (plain http to
    # another host is refused: the control key must not cross a network in clear).
    pbx_control_url: str = "http://127.0.0.1:8500"
    pbx_control_key: str = ""  # default: <data_dir>/keys/pbx_control.key
    pbx_control_timeout_s: float = 5.0
    pbx_control_ca: Path | None = None  # CA bundle for an https PBX (default: system CAs)
    pbx_control_plain_http: bool = False  # allow http:// to another host anyway
    stats_max_days: int = 92
    ivr_prompt_max_bytes: int = 1_000_000
    ivr_prompt_max_s: float = 120.0
    campaign_import_max_rows: int = 50000
    # Numbers given to conference rooms made without one (the portal, «Conferencia»), and how
    # long an ad-hoc room waits for its first participant
    conference_numbers: str = "8000-8999"
    conference_adhoc_ttl_s: float = 120.0
    # How long a callback booked in the portal waits for its number to be free
    callback_ttl_s: float = 3600.0

    @property
    def conference_range(self) -> tuple[int, int]:
        low, _, high = self.conference_numbers.partition("-")
        return int(low), int(high or low)

    def validate(self) -> None:
        super().validate()
        if self.logo_max_bytes < 1024:
            raise ConfigError("must be at least 1024", key="logo_max_bytes")
        if self.logo_max_bytes > self.max_body_bytes:
            raise ConfigError("must not exceed max_body_bytes", key="logo_max_bytes")
        if self.ivr_prompt_max_bytes > self.max_body_bytes:
            raise ConfigError("must not exceed max_body_bytes", key="ivr_prompt_max_bytes")
        for key in ("import_max_rows", "history_page_max", "scroll_page_max", "recents_scan_max",
                    "stats_max_days", "campaign_import_max_rows"):
            if getattr(self, key) < 1:
                raise ConfigError("must be positive", key=key)
        if not 1.0 <= self.bad_call_mos <= 4.5:
            raise ConfigError("must be a MOS between 1 and 4.5", key="bad_call_mos")
        if not self.realm:
            raise ConfigError("must not be empty", key="realm")
        try:
            low, high = self.conference_range
        except ValueError:
            raise ConfigError("must be a range of numbers like 8000-8999",
                              key="conference_numbers") from None
        if not 0 <= low <= high:
            raise ConfigError("must be a range of numbers like 8000-8999",
                              key="conference_numbers")
        try:
            control = ServiceUrl.parse(self.pbx_control_url)
        except ValueError as exc:
            raise ConfigError(str(exc), key="pbx_control_url") from None
        if control.plain_over_network and not self.pbx_control_plain_http:
            raise ConfigError("plain http to another host would send the PBX control key in "
                              "clear: use https:// (pbx_control_ca) or unix:/path, or set "
                              "pbx_control_plain_http = true", key="pbx_control_url")
        if self.callback_ttl_s <= 0:
            raise ConfigError("must be > 0", key="callback_ttl_s")
        if self.conference_adhoc_ttl_s <= 0:
            raise ConfigError("must be > 0", key="conference_adhoc_ttl_s")
        try:
            urls = parse_urls(self.ice_servers)
        except ValueError as exc:
            raise ConfigError(str(exc), key="ice_servers") from None
        if any(u.startswith(TURN_SCHEMES) for u in urls) and not self.turn_secret:
            raise ConfigError("TURN servers need turn_secret (coturn static-auth-secret)",
                              key="turn_secret")
        if not 60 <= self.turn_credential_ttl_s <= 7 * 86400:
            raise ConfigError("must be between 60 s and 7 days", key="turn_credential_ttl_s")
