"""Typed settings: one dataclass per component, loaded from its file plus ``WEBFON_*`` variables.

Precedence, lowest first: field defaults, the component's file, ``WEBFON_<FIELD>`` (for fields
shared by all components), ``WEBFON_<COMPONENT>_<FIELD>``, explicit keyword overrides. A value
that does not convert to the field's type is rejected with the file (or variable), line and key.

Files are read in the component's own format: libconfig (``.jcfg``), flat ``key = value``
(``sercen.conf``) or INI. In libconfig files a key may sit at top level or inside any group
(``general: { local_nodo_id = 4 }``); the last path segment names the field.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from webfon.config import ConfigEntry, ConfigError, read_ini, read_keyvalue, read_libconfig

log = logging.getLogger("webfon.settings")

_TRUE = {"1", "true", "yes", "y", "on", "si", "sí", "s"}
_FALSE = {"0", "false", "no", "n", "off"}


def _convert(tp: Any, value: Any, entry: ConfigEntry) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        return _convert(args[0], value, entry)
    if origin in (list, tuple):
        (item_tp, *_) = typing.get_args(tp) or (str,)
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            items = [value]
        converted = [_convert(item_tp, v, entry) for v in items]
        return tuple(converted) if origin is tuple else converted
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise entry.error(f"expected a boolean (true/false), got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise entry.error(f"expected an integer, got {value!r}")
        try:
            return int(str(value).strip(), 0) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise entry.error(f"expected an integer, got {value!r}") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise entry.error(f"expected a number, got {value!r}") from None
    if tp is Path:
        return Path(str(value)).expanduser()
    if tp is str:
        if isinstance(value, list | dict):
            raise entry.error(f"expected a string, got {value!r}")
        return str(value)
    return value


@dataclasses.dataclass
class BaseSettings:
    """Fields every component shares; subclasses add their own and set ``component``."""

    component: ClassVar[str] = "common"
    file_format: ClassVar[str] = "libconfig"
    default_file: ClassVar[str | None] = None

    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    bus_url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    # Also listen on this Unix socket (mode 0600: only this service's user reaches it); what
    # the local web front and gateway use to reach sercen and the PBX control API.
    unix_socket: Path | None = None
    # Serve the TCP port over TLS with this certificate (chain) and key (PEM).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    log_level: str = "info"
    log_format: str = "json"
    token_issuer: str = "webfon-sercen"
    token_public_key: Path | None = None
    max_body_bytes: int = 1_048_576
    # Where the other components answer (set by `webfon up` / deployment for each process).
    sercen_url: str = "http://127.0.0.1:8300"
    fonbo_url: str = "http://127.0.0.1:8400"
    pbx_url: str = "http://127.0.0.1:8500"
    gateway_url: str = "http://127.0.0.1:8188"
    web_url: str = "http://127.0.0.1:8080"

    # --- loading -------------------------------------------------------------------------
    @classmethod
    def read_file(cls, path: Path) -> dict[str, ConfigEntry]:
        if cls.file_format == "keyvalue":
            return read_keyvalue(path)
        if cls.file_format == "ini":
            return {f"{section}.{key}": entry for section, entries in read_ini(path).items()
                    for key, entry in entries.items()}
        return read_libconfig(path)

    @classmethod
    def config_path(cls, environ: Mapping[str, str]) -> Path | None:
        explicit = environ.get(f"WEBFON_{cls.component.upper()}_CONFIG")
        if explicit:
            return Path(explicit)
        config_dir = environ.get("WEBFON_CONFIG_DIR")
        if config_dir and cls.default_file:
            candidate = Path(config_dir) / cls.default_file
            if candidate.exists():
                return candidate
        return None

    @classmethod
    def load(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None,
             **overrides: Any) -> Self:
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        file_path = Path(path) if path is not None else cls.config_path(environ)
        entries = cls.read_file(file_path) if file_path is not None else {}
        consumed = cls.consume_extra(entries, values)
        for key, entry in entries.items():
            if key in consumed:
                continue
            name = key.rsplit(".", 1)[-1]
            name = cls.aliases().get(name, name)
            if name not in fields:
                log.warning("unknown setting ignored", extra={"file": entry.file,
                                                              "line": entry.line, "key": key})
                continue
            values[name] = _convert(hints[name], entry.value, entry)
        for name in fields:
            names = [f"WEBFON_{cls.component.upper()}_{name.upper()}"]
            if name in _SHARED_FIELDS:
                names.insert(0, f"WEBFON_{name.upper()}")
            for var in names:
                if var in environ:
                    entry = ConfigEntry(name, environ[var], f"${var}", 0)
                    values[name] = _convert(hints[name], environ[var], entry)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    @classmethod
    def aliases(cls) -> dict[str, str]:
        """Other spellings accepted in files (e.g. a seed's typo) mapped to field names."""
        return {}

    @classmethod
    def consume_extra(cls, entries: dict[str, ConfigEntry], values: dict[str, Any]) -> set[str]:
        """Hook for settings whose keys are patterns (``f1factor_NN_ip``); returns keys used."""
        return set()

    def validate(self) -> None:
        """Checks across fields; raise ConfigError with the key at fault."""
        if self.log_format not in ("json", "logfmt"):
            raise ConfigError("must be 'json' or 'logfmt'", key="log_format")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port out of range: {self.port}", key="port")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError("tls_cert_file and tls_key_file go together",
                              key="tls_cert_file" if self.tls_cert_file is None
                              else "tls_key_file")
        for key in ("tls_cert_file", "tls_key_file"):
            path = getattr(self, key)
            if path is not None and not path.is_file():
                raise ConfigError(f"no such file: {path}", key=key)

    # --- derived -------------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'webfon.db').resolve()}"

    @property
    def public_key_path(self) -> Path:
        return self.token_public_key or self.data_dir / "keys" / "sercen_ed25519.pub.pem"


_SHARED_FIELDS = {f.name for f in dataclasses.fields(BaseSettings)} - {
    "port", "unix_socket", "tls_cert_file", "tls_key_file"}
