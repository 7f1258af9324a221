"""Settings of the web front (``WEBFON_WEB_<FIELD>`` in the environment)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlparse

from webfon.config import ConfigError
from webfon.settings import BaseSettings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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
    # Client configuration handed to the browser (/config.json).
    ice_servers: str = ""
    default_language: str = "es"
    app_title: str = "VIVAit Call Web"
    hsts: bool = False
    # Peers whose X-Forwarded-For is kept (a proxy in front of this one, such as nginx).
    # From anyone else the header is replaced by the peer address, so it cannot be forged.
    trusted_proxies: list[str] = dataclasses.field(default_factory=list)

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
            url = urlparse(getattr(self, key))
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ConfigError(f"expected an http(s) URL, got {getattr(self, key)!r}",
                                  key=key)
        if self.default_language not in ("es", "en"):
            raise ConfigError("must be 'es' or 'en'", key="default_language")
        for net in self.trusted_proxies:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(f"not a network: {net!r}", key="trusted_proxies") from None
        if self.upstream_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ConfigError("timeouts must be positive", key="upstream_timeout_s")

    def trusted_proxy_networks(self) -> list[IPNetwork]:
        return [ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies]

    def ice_server_list(self) -> list[dict[str, str]]:
        """``stun:host:port,turn:user:pass@host:port`` as RTCIceServer dicts."""
        servers: list[dict[str, str]] = []
        for item in (part.strip() for part in self.ice_servers.split(",")):
            if not item:
                continue
            scheme, _, rest = item.partition(":")
            if "@" in rest:
                creds, _, host = rest.rpartition("@")
                user, _, password = creds.partition(":")
                servers.append({"urls": f"{scheme}:{host}", "username": user,
                                "credential": password})
            else:
                servers.append({"urls": item})
        return servers
