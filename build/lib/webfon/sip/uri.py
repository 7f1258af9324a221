"""SIP, SIPS and TEL URIs (RFC 3261 §19.1, RFC 3966) with parameters and headers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import ParseError
from .grammar import (
    HNAME_RE,
    HVALUE_RE,
    PARAM_RE,
    PASSWORD_RE,
    SIMPLE_HOST,
    USER_RE,
    is_host,
    is_tel_number,
)
from .params import (
    SIMPLE_URI_PARAMS_RE,
    Params,
    format_params,
    parse_params,
    split_simple_params,
)

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}
# The common shape ``sip[s]:[user@]host[:port][;params]`` with a hostname or IPv4 host; the
# groups only match text the full parser accepts.
SIMPLE_URI_RE = (
    r"(sips?):(?:((?:[A-Za-z0-9\-_.!~*'()&=+$,;/]|%[0-9A-Fa-f]{2})+)@)?"
    rf"({SIMPLE_HOST})(?::([0-9]{{1,5}}))?(?:;({SIMPLE_URI_PARAMS_RE}))?")
"""Expression text with five groups (scheme, user, host, port, parameters) for
:func:`simple_uri`."""
_SIMPLE_URI = re.compile(SIMPLE_URI_RE + r"\Z")


def simple_uri(scheme: str, user: str | None, host: str, port_text: str | None,
               ptext: str | None) -> SipURI | None:
    """The URI from the groups of :data:`SIMPLE_URI_RE`; None when the full parser must
    decide (port or host out of range)."""
    if len(host) > 255:
        return None
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            return None
    params = split_simple_params(ptext) if ptext is not None else {}
    return SipURI(scheme, user, host, port, params, {}, None)


@dataclass
class SipURI:
    """A ``sip:``, ``sips:`` or ``tel:`` URI.

    For ``tel:`` URIs the number is in ``user`` and ``host`` is empty. ``user`` and parameter
    values are kept escaped as they appear on the wire.
    """

    scheme: str = "sip"
    user: str | None = None
    host: str = ""
    port: int | None = None
    params: Params = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipURI:
        """Parse a URI; raises :class:`ParseError` when it is not valid."""
        text = text.strip()
        uri = cls._parse_simple(text)
        return uri if uri is not None else cls._parse_full(text)

    @classmethod
    def _parse_simple(cls, text: str) -> SipURI | None:
        """Fast path for the common shape; None when the full parser must decide."""
        m = _SIMPLE_URI.match(text)
        return simple_uri(*m.groups()) if m is not None else None

    @classmethod
    def _parse_full(cls, text: str) -> SipURI:
        """The complete parser (``text`` already stripped)."""
        scheme, sep, rest = text.partition(":")
        scheme = scheme.lower()
        if not sep or scheme not in ("sip", "sips", "tel"):
            raise ParseError("unsupported URI scheme")
        if scheme == "tel":
            number, psep, ptext = rest.partition(";")
            if not is_tel_number(number):
                raise ParseError("bad tel URI")
            params = parse_params(ptext, what="URI parameter") if psep else {}
            return cls(scheme="tel", user=number, params=params)
        rest, hsep, htext = rest.partition("?")
        user = password = None
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            user, psep, pw = userinfo.partition(":")
            if not USER_RE.match(user):
                raise ParseError("bad URI user part")
            if psep:
                if not PASSWORD_RE.match(pw):
                    raise ParseError("bad URI password")
                password = pw
        hostport, psep, ptext = rest.partition(";")
        host, port = _split_hostport(hostport)
        params: Params = {}
        if psep:
            params = parse_params(ptext, what="URI parameter")
            for k, v in params.items():
                if not PARAM_RE.match(k) or (v is not None and not PARAM_RE.match(v)):
                    raise ParseError("bad URI parameter")
        headers: dict[str, str] = {}
        if hsep:
            for item in htext.split("&"):
                hname, hsep, hvalue = item.partition("=")
                if not hsep or not HNAME_RE.match(hname) or not HVALUE_RE.match(hvalue):
                    raise ParseError("bad URI header")
                headers[hname] = hvalue
        return cls(scheme=scheme, user=user, host=host, port=port, params=params,
                   headers=headers, password=password)

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    def copy(self, **changes: object) -> SipURI:
        """A deep-enough copy (params and headers dicts are copied) with ``changes`` applied."""
        new = SipURI(self.scheme, self.user, self.host, self.port, dict(self.params),
                     dict(self.headers), self.password)
        for key, value in changes.items():
            setattr(new, key, value)
        return new

    @property
    def transport(self) -> str:
        """Transport to reach this URI: the ``transport`` parameter, ``tls`` for sips:, else udp."""
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def host_port(self) -> tuple[str, int]:
        """``(host, port)`` with the default port of the transport filled in; brackets removed."""
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        return host, self.port or DEFAULT_PORTS.get(self.transport, 5060)

    @property
    def lr(self) -> bool:
        """True when the URI carries the loose-routing ``lr`` parameter."""
        return "lr" in self.params

    def __eq__(self, other: object) -> bool:
        """Loose comparison per RFC 3261 §19.1.4 for the parts we use (case-insensitive host)."""
        if not isinstance(other, SipURI):
            return NotImplemented
        return (self.scheme == other.scheme and self.user == other.user
                and self.host.lower() == other.host.lower() and self.port == other.port
                and {k: (v or "").lower() for k, v in self.params.items()
                     if k in ("transport", "user", "method", "maddr", "ttl")}
                == {k: (v or "").lower() for k, v in other.params.items()
                    if k in ("transport", "user", "method", "maddr", "ttl")})

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, self.host.lower(), self.port))


def _split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError("bad IPv6 reference")
        host, rest = text[: end + 1], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ParseError("bad host")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = text.partition(":")
        port_text = port_text_ if sep else None
    if not is_host(host):
        raise ParseError("bad host")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
            raise ParseError("bad port")
        port = int(port_text)
        if port > 65535:
            raise ParseError("bad port")
    return host, port


def parse_hostport(text: str) -> tuple[str, int | None]:
    """Parse ``host[:port]`` (as in a Via sent-by); raises :class:`ParseError`."""
    return _split_hostport(text.strip())
