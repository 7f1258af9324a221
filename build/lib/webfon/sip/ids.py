"""Random identifiers: Via branches (RFC 3261 magic cookie), tags and Call-IDs."""

from __future__ import annotations

import secrets

MAGIC_COOKIE = "z9hG4bK"


def new_branch() -> str:
    """A fresh RFC 3261 branch (starts with the ``z9hG4bK`` magic cookie)."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag."""
    return secrets.token_hex(6)


def new_call_id(host: str = "") -> str:
    """A fresh Call-ID (``random@host`` when a host is given)."""
    token = secrets.token_hex(12)
    return f"{token}@{host}" if host else token
