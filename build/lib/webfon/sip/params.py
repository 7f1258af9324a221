"""``;name=value`` parameter lists as used by URIs, name-addrs and Via headers."""

from __future__ import annotations

import re

from .errors import ParseError
from .grammar import split_quoted

Params = dict[str, str | None]
"""Parameters in order of appearance; names lowercased; values raw (quoted strings keep quotes)."""


_BAD_CHARS = re.compile(r'[ \t"<>,]')
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_GEN_VALUE = r"[A-Za-z0-9\-.!%*_+`'~\[\]:]+"
_URI_PCHARS = r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+"
SIMPLE_HEADER_PARAMS_RE = rf"{_TOKEN}(?:={_GEN_VALUE})?(?:;{_TOKEN}(?:={_GEN_VALUE})?)*"
"""Header parameters (Via, name-addr) without quotes or blanks: token names, gen-values
(regular expression text without groups, to embed in larger expressions)."""
SIMPLE_URI_PARAMS_RE = (
    rf"{_URI_PCHARS}(?:={_URI_PCHARS})?(?:;{_URI_PCHARS}(?:={_URI_PCHARS})?)*")
"""URI parameters made only of valid (possibly escaped) characters (expression text)."""
SIMPLE_HEADER_PARAMS = re.compile(SIMPLE_HEADER_PARAMS_RE + r"\Z")
SIMPLE_URI_PARAMS = re.compile(SIMPLE_URI_PARAMS_RE + r"\Z")


def split_simple_params(text: str) -> Params:
    """Split parameters already matched by one of the ``SIMPLE_*`` expressions."""
    params: Params = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        params[name.lower()] = value if sep else None
    return params


def parse_simple_params(text: str, pattern: re.Pattern[str]) -> Params | None:
    """Fast path of :func:`parse_params` for text matching ``pattern`` (one of the
    ``SIMPLE_*`` expressions, which only match text that :func:`parse_params` and the
    callers' checks accept); None when it does not match and the full parser must run."""
    if pattern.match(text) is None:
        return None
    return split_simple_params(text)


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
        if not name or _BAD_CHARS.search(name):
            raise ParseError(f"bad {what} name")
        if sep:
            value = value.strip()
            if not value or (value[0] != '"' and _BAD_CHARS.search(value)):
                raise ParseError(f"bad {what} value")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: Params) -> str:
    """Serialize parameters, each preceded by ``;``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())
