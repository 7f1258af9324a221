"""``;name=value`` parameter lists as used by URIs, name-addrs and Via headers."""

from __future__ import annotations

from .errors import ParseError
from .grammar import split_quoted

Params = dict[str, str | None]
"""Parameters in order of appearance; names lowercased; values raw (quoted strings keep quotes)."""


def parse_params(text: str, *, what: str = "parameter") -> Params:
    """Parse ``a=1;b;c="x;y"`` (the text after the first ``;``) into an ordered dict."""
    params: Params = {}
    if not text.strip():
        raise ParseError(f"empty {what}")
    try:
        parts = split_quoted(text, ";")
    except ValueError as exc:
        raise ParseError(f"bad {what}: {exc}") from None
    for part in parts:
        name, sep, value = part.partition("=")
        name = name.strip()
        if not name or any(ch in name for ch in ' \t"<>,'):
            raise ParseError(f"bad {what} name")
        if sep:
            value = value.strip()
            if not value or (value[0] != '"' and any(ch in value for ch in ' \t"<>,')):
                raise ParseError(f"bad {what} value")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: Params) -> str:
    """Serialize parameters, each preceded by ``;``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())
