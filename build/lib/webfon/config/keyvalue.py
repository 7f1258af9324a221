"""Reader for flat ``key = value`` files such as the seed's ``sercen.conf``.

Values may be bare (``smtp_puerto = 0``) or double-quoted (``smtp_host = "mail.local"``, with
``\\"`` and ``\\\\`` escapes). ``#`` and ``;`` start comments outside quotes. Typographic quotes
(as pasted from word processors) are accepted as plain quotes.
"""

from __future__ import annotations

from pathlib import Path

from webfon.config.entries import ConfigEntry, ConfigError

_QUOTES = {'"', "\u201c", "\u201d"}


def _parse_value(raw: str, file: str, line: int, key: str) -> str:
    raw = raw.strip()
    if raw and raw[0] in _QUOTES:
        out: list[str] = []
        i = 1
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                out.append(raw[i + 1])
                i += 2
                continue
            if ch in _QUOTES:
                rest = raw[i + 1 :].strip()
                if rest and rest[0] not in "#;":
                    raise ConfigError(f"unexpected text after quoted value: {rest!r}",
                                      file=file, line=line, key=key)
                return "".join(out)
            out.append(ch)
            i += 1
        raise ConfigError("unterminated quoted string", file=file, line=line, key=key)
    for marker in ("#", ";"):
        pos = raw.find(marker)
        if pos >= 0:
            raw = raw[:pos]
    return raw.strip()


def parse_keyvalue(text: str, file: str = "<string>") -> dict[str, ConfigEntry]:
    """Parse ``key = value`` text; a repeated key is an error (silent overrides hide mistakes)."""
    entries: dict[str, ConfigEntry] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if "=" not in stripped:
            raise ConfigError(f"expected 'key = value', got {stripped!r}", file=file, line=lineno)
        key, _, raw = stripped.partition("=")
        key = key.strip()
        if not key or not all(c.isalnum() or c in "_.-" for c in key):
            raise ConfigError(f"invalid key name {key!r}", file=file, line=lineno)
        if key in entries:
            raise ConfigError(f"duplicate key (first set on line {entries[key].line})",
                              file=file, line=lineno, key=key)
        entries[key] = ConfigEntry(key, _parse_value(raw, file, lineno, key), file, lineno)
    return entries


def read_keyvalue(path: str | Path) -> dict[str, ConfigEntry]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from exc
    return parse_keyvalue(text, str(path))
