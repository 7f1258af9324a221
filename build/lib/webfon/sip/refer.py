"""Reading a received REFER (RFC 3515): its Refer-To target and, for an attended transfer, the
dialog named in the target's ``Replaces`` header (RFC 3891)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .errors import SipError
from .headers import Address
from .message import Request


def refer_target(request: Request, tx: Any) -> Address | None:
    """The REFER's Refer-To, or None once the request was answered 400 (missing or not a
    valid address)."""
    refer_to = request.headers.get("Refer-To")
    if not refer_to:
        tx.respond(400, "Missing Refer-To")
        return None
    try:
        return Address.parse(refer_to)
    except SipError:
        tx.respond(400, "Bad Refer-To")
        return None


def replaces_of(target: Address) -> str | None:
    """The unescaped ``Replaces`` value of a Refer-To target ("call-id;to-tag=…;from-tag=…")."""
    replaces = target.uri.headers.get("Replaces")
    return unquote(replaces) if replaces else None
