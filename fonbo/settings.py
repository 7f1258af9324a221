"""Settings of the portal API (component ``fonbo``): limits, SIP realm, provisioning."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from webfon.config import ConfigError
from webfon.settings import BaseSettings


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
    scroll_page_max: int = 5000
    recents_scan_max: int = 5000
    media_ticket_ttl_s: float = 120.0
    cors_allowed_origins: str = ""
    # The PBX control API (the routing rule tester asks the PBX itself); the key file defaults
    # to <data_dir>/keys/pbx_control.key, shared with the PBX.
    pbx_control_url: str = "http://127.0.0.1:8500"
    pbx_control_key: str = ""
    campaign_import_max_rows: int = 50000

    def validate(self) -> None:
        super().validate()
        if self.logo_max_bytes < 1024:
            raise ConfigError("must be at least 1024", key="logo_max_bytes")
        if self.logo_max_bytes > self.max_body_bytes:
            raise ConfigError("must not exceed max_body_bytes", key="logo_max_bytes")
        for key in ("import_max_rows", "history_page_max", "scroll_page_max", "recents_scan_max",
                    "campaign_import_max_rows"):
            if getattr(self, key) < 1:
                raise ConfigError("must be positive", key=key)
        if not self.realm:
            raise ConfigError("must not be empty", key="realm")
