"""Validation of the SIP plugin's request bodies, with Janus's parameter tables and texts.

Janus checks a body against a table of parameters in order and reports the first problem:
``Missing mandatory element (<name>)`` or ``Invalid element type (<name> should be <type>)``.
The tables here are those of Janus 1.1.2's SIP plugin (plus our own keys), so a client gets
the same error for the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.plugins.sip import codes
from gateway.plugins.sip.codes import SipPluginError
from webfon.sip.headers import canonical_name


@dataclass(frozen=True)
class Param:
    name: str
    kind: type  # str, int, bool, dict, list
    required: bool = False
    positive: bool = False

    def describe(self) -> str:
        if self.positive:
            article = "a positive "
        elif self.kind in (int, list, dict):
            article = "an "
        else:
            article = "a "
        return article + {str: "string", int: "integer", bool: "boolean", dict: "object",
                          list: "array"}[self.kind]

    def valid(self, value: Any) -> bool:
        if self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
            return ok and (not self.positive or value >= 0)
        return isinstance(value, self.kind)


def check(body: dict[str, Any], params: tuple[Param, ...]) -> None:
    """Raise :class:`SipPluginError` (443/444) for the first parameter that is missing or of
    the wrong type."""
    for p in params:
        if p.name not in body:
            if p.required:
                raise SipPluginError(codes.MISSING_ELEMENT,
                                     f"Missing mandatory element ({p.name})")
            continue
        if not p.valid(body[p.name]):
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 f"Invalid element type ({p.name} should be {p.describe()})")


REQUEST = (Param("request", str, required=True),)
REGISTER = (
    Param("type", str), Param("send_register", bool), Param("force_udp", bool),
    Param("force_tcp", bool), Param("sips", bool), Param("rfc2543_cancel", bool),
    Param("username", str, required=True), Param("secret", str), Param("ha1_secret", str),
    Param("authuser", str), Param("display_name", str), Param("user_agent", str),
    Param("headers", dict), Param("contact_params", dict), Param("master_id", int),
    Param("refresh", bool), Param("incoming_header_prefixes", list),
    Param("register_ttl", int))
WEBFON_REGISTER = (Param("type", str), Param("display_name", str))
PROXY = (Param("proxy", str), Param("outbound_proxy", str))
CALL = (
    Param("uri", str, required=True), Param("headers", dict), Param("call_id", str),
    Param("srtp", str), Param("srtp_profile", str), Param("autoaccept_reinvites", bool),
    Param("refer_id", int), Param("secret", str), Param("ha1_secret", str),
    Param("authuser", str))
ACCEPT = (Param("srtp", str), Param("headers", dict), Param("autoaccept_reinvites", bool))
DECLINE = (Param("code", int), Param("headers", dict), Param("refer_id", int))
TRANSFER = (Param("uri", str, required=True), Param("call_id", str))
HOLD = (Param("direction", str),)
RECORDING = (
    Param("action", str, required=True), Param("audio", bool), Param("video", bool),
    Param("peer_audio", bool), Param("peer_video", bool), Param("send_peer_pli", bool),
    Param("filename", str))
DTMF_INFO = (Param("digit", str, required=True), Param("duration", int, positive=True),
             Param("headers", dict))
INFO = (Param("type", str, required=True), Param("content", str, required=True),
        Param("headers", dict))
MESSAGE = (Param("content_type", str), Param("content", str, required=True),
           Param("uri", str), Param("headers", dict), Param("call_id", str))


RESERVED_HEADERS = frozenset({
    "Via", "Route", "Record-Route", "Path", "Service-Route", "Max-Forwards", "From", "To",
    "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type", "Replaces", "Refer-To",
    "Referred-By"})
"""Headers the gateway writes itself: a client's own would route the request elsewhere (Route:
it leaves for another host), take someone's dialog (Replaces) or break the transaction."""


def headers(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``headers`` object as SIP headers; names and values that could break the message
    (line breaks, non-token names) or that the gateway writes itself are refused."""
    raw = body.get("headers")
    if not raw:
        return []
    out = []
    for name, value in raw.items():
        if not isinstance(value, str) or not name.replace("-", "").isalnum() or \
                has_controls(value):
            raise SipPluginError(codes.INVALID_ELEMENT, f"Invalid header {name!r}")
        if canonical_name(name) in RESERVED_HEADERS:
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 f"Invalid header {name!r} (set by the gateway)")
        out.append((str(name), value))
    return out


def has_controls(text: str) -> bool:
    """Control characters (a line break ends a SIP header: what follows would be a header of
    the client's choosing)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def header_safe(body: dict[str, Any], *names: str) -> None:
    """Refuse (444) string elements that go into a SIP header and hold control characters."""
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and has_controls(value):
            raise SipPluginError(codes.INVALID_ELEMENT,
                                 f"Invalid element ({name} holds control characters)")


def call_id(value: str) -> str:
    """A client's Call-ID: one SIP word (visible ASCII, at most 128 characters)."""
    if not value or len(value) > 128 or any(not 32 < ord(c) < 127 for c in value):
        raise SipPluginError(codes.INVALID_ELEMENT, "Invalid element (call_id should be "
                             "visible ASCII without spaces, at most 128 characters)")
    return value
