"""Settings of the web front (``WEBFON_WEB_<FIELD>`` in the environment)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from webfon.clientip import TrustedProxies
from webfon.config import ConfigError
from webfon.service_url import ServiceUrl
from webfon.settings import BaseSettings
from webfon.turn import STUN_SCHEMES, parse_urls

# launcher/front/settings.py -> repository root -> webclient/
DEFAULT_STATIC_DIR = Path(__file__).resolve().parents[2] / "webclient"


@dataclasses.dataclass
class FrontSettings(BaseSettings):
    """Where the web client lives and where each upstream API listens."""

    component: ClassVar[str] = "web"
    default_file: ClassVar[str | None] = "web.jcfg"

    port: int = 8080
    static_dir: Path = DEFAULT_STATIC_DIR
    gateway_url: str = "http://127.0.0.1:8188"
    sercen_url: str = "http://127.0.0.1:8300"
    fonbo_url: str = "http://127.0.0.1:8400"
    # Seconds an upstream may take to answer; Janus long-polls hold a request for 30 s.
    upstream_timeout_s: float = 75.0
    connect_timeout_s: float = 5.0
    max_body_bytes: int = 16 * 1_048_576
    # Client configuration handed to the browser (/config.json, public): STUN servers only;
    # TURN comes per user, with time-limited credentials, from FONBO (GET /fonbo/ice-servers)
    ice_servers: str = ""
    default_language: str = "es"
    app_title: str = "VIVAit Call Web"
    hsts: bool = False
    # Peers whose X-Forwarded-For is believed (a proxy in front of this one, such as nginx:
    # its address, e.g. "127.0.0.1"). From anyone else the header is ignored; a request that
    # came through an unlisted proxy goes on marked unverified (no trusted-network login,
    # and all its clients share one address: list the proxy here).
    trusted_proxies: list[str] = dataclasses.field(default_factory=list)
    # Largest WebSocket message relayed either way; a bigger one closes that socket (1009).
    max_ws_message_bytes: int = 262_144

    @classmethod
    def load(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None,
             **overrides: Any) -> Self:
        """As BaseSettings.load; upstream URLs also come from ``WEBFON_<COMPONENT>_URL``,
        which ``webfon up`` sets for every component it starts (``WEBFON_WEB_*`` wins)."""
        env = dict(os.environ if environ is None else environ)
        for name in ("gateway", "sercen", "fonbo"):
            own = f"WEBFON_WEB_{name.upper()}_URL"
            shared = f"WEBFON_{name.upper()}_URL"
            if own not in env and shared in env:
                env[own] = env[shared]
        return super().load(path, env, **overrides)

    def validate(self) -> None:
        super().validate()
        for key in ("gateway_url", "sercen_url", "fonbo_url"):
            try:
                ServiceUrl.parse(getattr(self, key))
            except ValueError as exc:
                raise ConfigError(str(exc), key=key) from None
        if self.default_language not in ("es", "en"):
            raise ConfigError("must be 'es' or 'en'", key="default_language")
        try:
            TrustedProxies.parse(self.trusted_proxies)
        except ValueError as exc:
            raise ConfigError(str(exc), key="trusted_proxies") from None
        if self.max_ws_message_bytes < 1024:
            raise ConfigError("must be at least 1024", key="max_ws_message_bytes")
        try:
            parse_urls(self.ice_servers)
        except ValueError as exc:
            raise ConfigError(f"{exc} (FONBO's ice_servers and turn_secret)",
                              key="ice_servers") from None
        if self.upstream_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ConfigError("timeouts must be positive", key="upstream_timeout_s")

    def trusted_proxy_networks(self) -> TrustedProxies:
        return TrustedProxies.parse(self.trusted_proxies)

    def ice_server_list(self) -> list[dict[str, str]]:
        """The STUN servers of ``ice_servers`` as RTCIceServer dicts: ``/config.json`` is
        public, so it never carries TURN credentials (the web client gets time-limited ones
        for its user from ``GET /fonbo/ice-servers``)."""
        return [{"urls": u} for u in parse_urls(self.ice_servers) if u.startswith(STUN_SCHEMES)]
