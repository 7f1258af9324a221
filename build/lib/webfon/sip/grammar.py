"""Character classes and small helpers of the RFC 3261 grammar shared by the parsers."""

from __future__ import annotations

import re
import string

ALPHANUM = string.ascii_letters + string.digits
TOKEN_CHARS = frozenset(ALPHANUM + "-.!%*_+`'~")
TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# user part of a SIP URI: unreserved / escaped / user-unreserved
USER_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+\Z")
PASSWORD_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*\Z")
PARAM_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+\Z")
HNAME_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-Fa-f]{2})+\Z")
HVALUE_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-Fa-f]{2})*\Z")
HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?\Z"
)
IPV4_RE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\Z")
IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]{2,45}\]\Z")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
SIMPLE_HOST = (
    rf"(?:{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
    r"|(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?)"
)
"""Regular expression (text) of the common hosts: an IPv4 address or a hostname whose top
label starts with a letter. Everything it matches (up to 255 characters) passes
:func:`is_host`; other hosts must be checked with :func:`is_host`."""
_TEL_GLOBAL = frozenset("0123456789-.()")
_TEL_LOCAL = frozenset("0123456789abcdefABCDEF*#-.()")


def is_tel_number(value: str) -> bool:
    """A global (``+34…``) or local telephone-subscriber number of a tel: URI."""
    if value.startswith("+"):
        digits = value[1:]
        return bool(digits) and set(digits) <= _TEL_GLOBAL and any(c.isdigit() for c in digits)
    return bool(value) and set(value) <= _TEL_LOCAL and any(c not in "-.()" for c in value)


def is_token(value: str) -> bool:
    """True if ``value`` is a non-empty RFC 3261 token."""
    return bool(TOKEN_RE.match(value))


def is_host(value: str) -> bool:
    """True for a hostname, an IPv4 address or a bracketed IPv6 reference."""
    if len(value) > 255:
        return False
    if IPV4_RE.match(value):
        return all(int(part) <= 255 for part in value.split("."))
    return bool(IPV6_RE.match(value) or HOSTNAME_RE.match(value))


_SPLIT_RES: dict[str, re.Pattern[str]] = {}


def split_quoted(value: str, sep: str) -> list[str]:
    """Split ``value`` on ``sep`` outside double quotes and angle brackets.

    Raises ValueError on an unterminated quoted string or ``<``.
    """
    if '"' not in value and "<" not in value:
        return value.split(sep)
    pattern = _SPLIT_RES.get(sep)
    if pattern is None:
        pattern = re.compile(r'"(?:[^"\\]|\\.)*"|<[^>]*>|["<]|' + re.escape(sep), re.S)
        _SPLIT_RES[sep] = pattern
    parts: list[str] = []
    start = 0
    for m in pattern.finditer(value):
        token = m.group()
        if token == sep:
            parts.append(value[start:m.start()])
            start = m.end()
        elif token in ('"', "<"):
            raise ValueError("unterminated quoted string or <...>")
    parts.append(value[start:])
    return parts


def unquote(value: str) -> str:
    """Remove the quotes and backslash escapes of a quoted-string (no-op otherwise)."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        if "\\" not in value:
            return value[1:-1]
        out = []
        i = 1
        while i < len(value) - 1:
            ch = value[i]
            if ch == "\\" and i + 1 < len(value) - 1:
                i += 1
                ch = value[i]
            out.append(ch)
            i += 1
        return "".join(out)
    return value


def quote(value: str) -> str:
    """Make a quoted-string from ``value``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
