"""sercen settings, read from ``sercen.conf`` exactly as the seed writes it.

The seed's keys are kept as field names (``smtps_usa``, ``smtp_host``, ``smtp_puerto``,
``smtp_usuario``, ``smtp_clave``; the seed's own spelling ``smtpps_usa`` is accepted too). The
trusted networks that skip the second factor come as numbered pairs, as many as given::

    f1factor_00_ip = "172.25.0.0"
    f1factor_00_msk = "255.255.0.0"

Each pair is validated (a bad address or mask is a ConfigError naming the file, line and key)
and collected into ``trusted_networks`` as CIDR strings. Everything else has safe defaults.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from pathlib import Path
from typing import Any, ClassVar

from webfon.clientip import TrustedProxies
from webfon.config import ConfigEntry, ConfigError
from webfon.settings import BaseSettings

_PAIR = re.compile(r"^f1factor_(\d+)_(ip|msk)$")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> IPNetwork:
    """A network from ``a.b.c.d/len``, ``a.b.c.d/255.255.0.0`` or a single address."""
    return ipaddress.ip_network(text.strip(), strict=False)


def _pair_network(ip_entry: ConfigEntry, msk_entry: ConfigEntry) -> str:
    try:
        address = ipaddress.ip_address(str(ip_entry.value).strip())
    except ValueError:
        raise ip_entry.error(f"not an IP address: {ip_entry.value!r}") from None
    mask = str(msk_entry.value).strip()
    try:
        network = ipaddress.ip_network(f"{address}/{mask}", strict=False)
    except ValueError:
        raise msk_entry.error(f"not a network mask for {address}: {mask!r}") from None
    return str(network)


@dataclasses.dataclass
class SercenSettings(BaseSettings):
    """Login, second factor, tokens and brute-force regulation."""

    component: ClassVar[str] = "sercen"
    file_format: ClassVar[str] = "keyvalue"
    default_file: ClassVar[str | None] = "sercen.conf"

    port: int = 8300

    # --- seed keys ----------------------------------------------------------------------
    smtps_usa: bool = False          # implicit TLS (SMTPS); otherwise STARTTLS per smtp_starttls
    smtp_host: str = ""
    smtp_puerto: int = 0             # 0 = 465 with SMTPS, 25 otherwise
    smtp_usuario: str = ""
    smtp_clave: str = ""
    trusted_networks: list[str] = dataclasses.field(default_factory=list)  # f1factor_NN pairs

    # --- ours ---------------------------------------------------------------------------
    smtp_from: str = ""              # default: sercen@<smtp_host>
    smtp_starttls: str = "auto"      # auto (when offered) | require | off; ignored with SMTPS
    smtp_verify_tls: bool = True
    smtp_ca_file: Path | None = None  # CA bundle for the SMTP server's certificate
    smtp_timeout: float = 15.0
    email_subject: str = "webfon login code"
    # No mail server (smtp_host empty): write each e-mail here instead (files 0600)
    mail_outbox: Path | None = None

    # Peers whose X-Forwarded-For is believed: networks, or "unix" for the Unix socket (only
    # processes of this service's user reach it; the web front of `webfon up` talks there).
    # Add the address nginx connects from when nginx talks to sercen over TCP.
    trusted_proxies: list[str] = dataclasses.field(default_factory=lambda: ["unix"])

    token_private_key: Path | None = None   # default <data_dir>/keys/sercen_ed25519.pem
    access_ttl: float = 900.0
    refresh_ttl: float = 43_200.0
    session_max_age: float = 7 * 86_400.0
    refresh_reuse_grace: float = 10.0   # a used refresh token seen again this soon: a race
    token_audiences: list[str] = dataclasses.field(
        default_factory=lambda: ["gateway", "fonbo", "sercen"])

    challenge_ttl: float = 900.0
    email_code_ttl: float = 300.0
    email_resend_cooldown: float = 30.0
    email_max_sends: int = 5
    totp_issuer: str = "webfon"
    totp_window: int = 1             # steps accepted either side of now

    max_retries: int = 3
    find_time: float = 120.0
    ban_time: float = 300.0

    secrets_key: str = ""            # urlsafe base64 of 32 bytes; default: key file below
    secrets_key_file: Path | None = None  # default <data_dir>/keys/sercen_secrets.key

    response_delay: float = 0.25     # minimum duration of login / second-factor answers
    response_jitter: float = 0.085
    cleanup_interval: float = 60.0

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"smtpps_usa": "smtps_usa"}

    @classmethod
    def consume_extra(cls, entries: dict[str, ConfigEntry], values: dict[str, Any]) -> set[str]:
        pairs: dict[str, dict[str, ConfigEntry]] = {}
        used: set[str] = set()
        for key, entry in entries.items():
            m = _PAIR.match(key)
            if m:
                pairs.setdefault(m.group(1), {})[m.group(2)] = entry
                used.add(key)
        networks: list[str] = []
        if "trusted_networks" in entries:
            entry = entries["trusted_networks"]
            for item in str(entry.value).split(","):
                if item.strip():
                    try:
                        networks.append(str(parse_network(item)))
                    except ValueError:
                        raise entry.error(f"not a network: {item.strip()!r}") from None
            used.add("trusted_networks")
        for index in sorted(pairs, key=int):
            pair = pairs[index]
            if "ip" not in pair:
                raise pair["msk"].error(f"f1factor_{index}_ip is missing for this mask")
            if "msk" not in pair:
                raise pair["ip"].error(f"f1factor_{index}_msk is missing for this address")
            networks.append(_pair_network(pair["ip"], pair["msk"]))
        if networks or used:
            values["trusted_networks"] = networks
        return used

    def validate(self) -> None:
        super().validate()
        for item in self.trusted_networks:
            try:
                parse_network(item)
            except ValueError:
                raise ConfigError(f"not a network: {item!r}", key="trusted_networks") from None
        try:
            TrustedProxies.parse(self.trusted_proxies)
        except ValueError as exc:
            raise ConfigError(str(exc), key="trusted_proxies") from None
        if self.smtp_starttls not in ("auto", "require", "off"):
            raise ConfigError("must be auto, require or off", key="smtp_starttls")
        if not 0 <= self.smtp_puerto <= 65535:
            raise ConfigError(f"port out of range: {self.smtp_puerto}", key="smtp_puerto")
        for name in ("access_ttl", "refresh_ttl", "session_max_age", "challenge_ttl",
                     "email_code_ttl", "find_time", "ban_time", "smtp_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError("must be greater than 0", key=name)
        for name in ("email_resend_cooldown", "response_delay", "response_jitter",
                     "cleanup_interval", "refresh_reuse_grace"):
            if getattr(self, name) < 0:
                raise ConfigError("must not be negative", key=name)
        if self.max_retries < 1:
            raise ConfigError("must be at least 1", key="max_retries")
        if self.email_max_sends < 1:
            raise ConfigError("must be at least 1", key="email_max_sends")
        if not 0 <= self.totp_window <= 3:
            raise ConfigError("must be between 0 and 3", key="totp_window")
        if not self.token_audiences:
            raise ConfigError("at least one audience is needed", key="token_audiences")

    # --- derived -------------------------------------------------------------------------
    @property
    def trusted_network_list(self) -> list[IPNetwork]:
        return [parse_network(n) for n in self.trusted_networks]

    @property
    def trusted_proxy_list(self) -> TrustedProxies:
        return TrustedProxies.parse(self.trusted_proxies)

    @property
    def effective_smtp_port(self) -> int:
        return self.smtp_puerto or (465 if self.smtps_usa else 25)

    @property
    def effective_smtp_from(self) -> str:
        return self.smtp_from or f"sercen@{self.smtp_host or 'localhost'}"

    @property
    def private_key_path(self) -> Path:
        return self.token_private_key or self.data_dir / "keys" / "sercen_ed25519.pem"

    @property
    def secrets_key_path(self) -> Path:
        return self.secrets_key_file or self.data_dir / "keys" / "sercen_secrets.key"
