"""ICE servers for browsers, with time-limited TURN credentials (the "TURN REST API").

A TURN server relays media for whoever holds its credentials, so static ones must never be
published (a ``/config.json`` anyone can read made the relay everyone's). With coturn's
``use-auth-secret`` / ``static-auth-secret``, each logged-in user instead gets::

    username   = "<expiry unix time>:<user id>"
    credential = base64(HMAC-SHA1(secret, username))

which coturn checks without any database and refuses once the expiry has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

TURN_SCHEMES = ("turn:", "turns:")
STUN_SCHEMES = ("stun:", "stuns:")


def rest_credentials(secret: str, user: str, ttl: float, now: float | None = None
                     ) -> tuple[str, str]:
    """``(username, credential)`` valid for ``ttl`` seconds from ``now``."""
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def parse_urls(spec: str) -> list[str]:
    """``"stun:h:3478, turn:h:3478?transport=udp"`` as a list; ValueError for anything else
    (and for a URL with credentials in it, which would be published)."""
    urls = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if not item.startswith(TURN_SCHEMES + STUN_SCHEMES):
            raise ValueError(f"not a stun:/turn: URL: {item!r}")
        if "@" in item:
            raise ValueError(f"credentials in {item.split('@')[0]}@…: static TURN credentials "
                             "would be given to anyone; use a TURN REST secret (turn_secret)")
        urls.append(item)
    return urls


def ice_servers(urls: list[str], secret: str = "", user: str = "", ttl: float = 0.0,
                now: float | None = None) -> list[dict[str, Any]]:
    """RTCIceServer dicts: STUN as they are, TURN with fresh credentials for ``user`` (TURN
    URLs are left out when there is no secret to sign with)."""
    stun = [u for u in urls if u.startswith(STUN_SCHEMES)]
    turn = [u for u in urls if u.startswith(TURN_SCHEMES)]
    servers: list[dict[str, Any]] = [{"urls": u} for u in stun]
    if turn and secret and user:
        username, credential = rest_credentials(secret, user, ttl, now)
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers
