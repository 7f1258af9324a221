"""Reader for INI files such as the seed's ``MDflow.conf`` (``[section]`` then ``key=value``).

Returns the sections in file order, each as a mapping of keys to entries with line numbers, so
that repeated sections like ``[flujo_2]``, ``[flujo_3]`` keep their order.
"""

from __future__ import annotations

from pathlib import Path

from webfon.config.entries import ConfigEntry, ConfigError
from webfon.config.keyvalue import parse_keyvalue


def parse_ini(text: str, file: str = "<string>") -> dict[str, dict[str, ConfigEntry]]:
    sections: dict[str, dict[str, ConfigEntry]] = {}
    current: dict[str, ConfigEntry] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]") or len(stripped) < 3:
                raise ConfigError(f"malformed section header {stripped!r}", file=file, line=lineno)
            name = stripped[1:-1].strip()
            if name in sections:
                raise ConfigError(f"duplicate section [{name}]", file=file, line=lineno)
            current = sections[name] = {}
            continue
        if current is None:
            current = sections.setdefault("general", {})
        for key, entry in parse_keyvalue(line, file).items():
            if key in current:
                raise ConfigError(f"duplicate key (first set on line {current[key].line})",
                                  file=file, line=lineno, key=key)
            current[key] = ConfigEntry(key, entry.value, file, lineno)
    return sections


def read_ini(path: str | Path) -> dict[str, dict[str, ConfigEntry]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from exc
    return parse_ini(text, str(path))
