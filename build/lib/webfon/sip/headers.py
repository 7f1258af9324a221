"""Typed values of the headers the stack reads: name-addr (From/To/Contact/Route), Via, CSeq.

Each type parses strictly (raising :class:`ParseError`) and serializes back with ``str()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import ParseError
from .grammar import SIMPLE_HOST, is_token, quote, split_quoted, unquote
from .params import (
    SIMPLE_HEADER_PARAMS_RE,
    Params,
    format_params,
    parse_params,
    split_simple_params,
)
from .uri import SIMPLE_URI_RE, SipURI, parse_hostport, simple_uri

# Fast paths for the common shapes; they only match text the full parsers accept, with the
# same result (tests/unit/sip/test_fast_paths.py checks this), anything else takes the full
# parser.
# groups: quoted display name, token display name, the five of SIMPLE_URI_RE or any other
# URI text, simple or other parameters
_SIMPLE_NAME_ADDR = re.compile(
    r'(?:"([^"\\]*(?:\\.[^"\\]*)*)"[ \t]*|([A-Za-z0-9\-.!%*_+`\'~ \t]*))'
    rf'<(?:{SIMPLE_URI_RE}|([^<>"]*))>(?:;(?:({SIMPLE_HEADER_PARAMS_RE})|(.*)))?\Z', re.S)
_SIMPLE_VIA = re.compile(
    rf"SIP/2\.0/([A-Za-z0-9\-.!%*_+`'~]+) ({SIMPLE_HOST})(?::([0-9]{{1,5}}))?"
    rf"(?:;({SIMPLE_HEADER_PARAMS_RE}))?\Z")
_GEN_VALUE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:]*\Z")

COMPACT_FORMS = {
    "a": "Accept-Contact", "u": "Allow-Events", "i": "Call-ID", "m": "Contact",
    "e": "Content-Encoding", "l": "Content-Length", "c": "Content-Type", "o": "Event",
    "f": "From", "y": "Identity", "r": "Refer-To", "b": "Referred-By", "j": "Reject-Contact",
    "d": "Request-Disposition", "x": "Session-Expires", "s": "Subject", "k": "Supported",
    "t": "To", "v": "Via",
}
_CANONICAL = {name.lower(): name for name in (
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "In-Reply-To",
    "Max-Forwards", "Min-Expires", "MIME-Version", "Organization", "P-Asserted-Identity",
    "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck",
    "Reason", "Record-Route", "Refer-To", "Referred-By", "Replaces", "Reply-To", "Require",
    "Retry-After", "Route", "RSeq", "Server", "Session-Expires", "Subject",
    "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
    "Warning", "WWW-Authenticate", "Path", "Min-SE", "Diversion", "Privacy",
    "Remote-Party-ID", "Identity", "Refer-Sub", "Accept-Contact", "Reject-Contact",
    "Request-Disposition",
)}
# Headers whose values are comma-separated lists that may be split into one value each.
LIST_HEADERS = frozenset(n.lower() for n in (
    "Via", "Route", "Record-Route", "Contact", "Allow", "Supported", "Require",
    "Proxy-Require", "Unsupported", "Accept", "Accept-Encoding", "Accept-Language",
    "Allow-Events", "Path", "Content-Encoding", "In-Reply-To",
))


KNOWN_NAMES = frozenset(_CANONICAL.values())
"""Canonical spellings of the well-known headers: every spelling of one of these is stored
canonically, so a lookup of a known name can compare strings exactly."""
_NAME_CACHE: dict[str, str] = {}
_NAME_CACHE_MAX = 2048


def canonical_name(name: str) -> str:
    """Canonical spelling of a header name, expanding compact forms (``v`` → ``Via``)."""
    cached = _NAME_CACHE.get(name)
    if cached is not None:
        return cached
    low = name.lower()
    full = COMPACT_FORMS.get(low) if len(low) == 1 else None
    result = full or _CANONICAL.get(low, name)
    if len(_NAME_CACHE) < _NAME_CACHE_MAX:  # bounded: names come from the network
        _NAME_CACHE[name] = result
    return result


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value (outside quotes and ``<>``) into stripped items."""
    try:
        parts = split_quoted(value, ",")
    except ValueError as exc:
        raise ParseError(f"bad header list: {exc}") from None
    items = [p.strip() for p in parts]
    if any(not p for p in items):
        raise ParseError("empty item in header list")
    return items


@dataclass
class Address:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route, Refer-To…)."""

    uri: SipURI
    display_name: str | None = None
    params: Params = field(default_factory=dict)
    wildcard: bool = False

    @classmethod
    def parse(cls, text: str) -> Address:
        text = text.strip()
        m = _SIMPLE_NAME_ADDR.match(text)
        if m is not None:
            quoted, words, scheme, user, host, port, uparams, uri_text, simple, ptext = \
                m.groups()
            if quoted is not None:
                display: str | None = unquote(f'"{quoted}"') if "\\" in quoted else quoted
            else:
                display = " ".join(words.split()) or None
            if uri_text is None:
                uri = simple_uri(scheme, user, host, port, uparams)
                if uri is None:
                    return cls._parse_full(text)
            else:
                uri = SipURI.parse(uri_text)
            if ptext is not None:
                return cls._check(uri, display, parse_params(ptext, what="address parameter"))
            return cls(uri, display, split_simple_params(simple) if simple is not None else {})
        return cls._parse_full(text)

    @classmethod
    def _check(cls, uri: SipURI, display: str | None, params: Params) -> Address:
        for k, v in params.items():
            if not is_token(k) or (v is not None and not (v.startswith('"') or _is_gen_value(v))):
                raise ParseError("bad address parameter")
        return cls(uri=uri, display_name=display, params=params)

    @classmethod
    def _parse_full(cls, text: str) -> Address:
        """The complete parser (``text`` already stripped)."""
        if text == "*":
            return cls(uri=SipURI(), wildcard=True)
        display: str | None = None
        if "<" in text:
            lt = _find_unquoted(text, "<") if '"' in text else text.find("<")
            if lt < 0:
                raise ParseError("bad name-addr")
            gt = text.find(">", lt)
            if gt < 0:
                raise ParseError("unterminated <")
            name = text[:lt].strip()
            if name:
                if name.startswith('"'):
                    if len(name) < 2 or not name.endswith('"') or _has_bare_quote(name[1:-1]):
                        raise ParseError("bad display name")
                    display = unquote(name)
                else:
                    if not all(is_token(w) for w in name.split()):
                        raise ParseError("bad display name")
                    display = " ".join(name.split())
            uri = SipURI.parse(text[lt + 1:gt])
            rest = text[gt + 1:].strip()
            if rest:
                if not rest.startswith(";"):
                    raise ParseError("unexpected text after name-addr")
                params = parse_params(rest[1:], what="address parameter")
            else:
                params = {}
        else:
            # addr-spec: parameters after the URI belong to the header, not the URI.
            uri_text, sep, ptext = text.partition(";")
            if any(ch in uri_text for ch in ' \t"'):
                raise ParseError("bad addr-spec")
            uri = SipURI.parse(uri_text)
            if uri.headers:
                raise ParseError("URI headers need <...>")
            params = parse_params(ptext, what="address parameter") if sep else {}
        return cls._check(uri, display, params)

    @classmethod
    def parse_list(cls, text: str) -> list[Address]:
        return [cls.parse(item) for item in split_list(text)]

    def __str__(self) -> str:
        if self.wildcard:
            return "*"
        name = f"{quote(self.display_name)} " if self.display_name else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @tag.setter
    def tag(self, value: str | None) -> None:
        if value is None:
            self.params.pop("tag", None)
        else:
            self.params["tag"] = value

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter of a Contact, if any and numeric."""
        value = self.params.get("expires")
        if value is None or not value.isdigit():
            return None
        return int(value)

    def copy(self) -> Address:
        uri = self.uri
        return Address(SipURI(uri.scheme, uri.user, uri.host, uri.port, dict(uri.params),
                              dict(uri.headers), uri.password),
                       self.display_name, dict(self.params), self.wildcard)


def _find_unquoted(text: str, ch: str) -> int:
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == ch:
            return i
        i += 1
    return -1


def _has_bare_quote(inner: str) -> bool:
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            continue
        if inner[i] == '"':
            return True
        i += 1
    return False


def _is_gen_value(value: str) -> bool:
    return _GEN_VALUE.match(value) is not None


@dataclass
class Via:
    """One Via header value: ``SIP/2.0/UDP host:port;branch=…;received=…;rport=…``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        text = text.strip()
        m = _SIMPLE_VIA.match(text)
        if m is not None:
            transport, host, port_text, ptext = m.groups()
            port = int(port_text) if port_text is not None else None
            params = split_simple_params(ptext) if ptext is not None else {}
            rport = params.get("rport")
            if len(host) <= 255 and (port is None or port <= 65535) \
                    and (rport is None or rport.isdigit()):
                return cls(transport.upper(), host, port, params)
        return cls._parse_full(text)

    @classmethod
    def _parse_full(cls, text: str) -> Via:
        """The complete parser (``text`` already stripped)."""
        proto, _, rest = text.partition(" ")
        parts = [p.strip() for p in proto.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0" \
                or not is_token(parts[2]):
            raise ParseError("bad Via protocol")
        rest = rest.strip()
        sent_by, sep, ptext = rest.partition(";")
        host, port = parse_hostport(sent_by)
        params = parse_params(ptext, what="Via parameter") if sep else {}
        for k, v in params.items():
            if not is_token(k) or (v is not None and not _is_gen_value(v)):
                raise ParseError("bad Via parameter")
        rport = params.get("rport")
        if rport is not None and not (rport.isdigit() and rport.isascii()):
            raise ParseError("bad rport")
        return cls(transport=parts[2].upper(), host=host, port=port, params=params)

    @classmethod
    def parse_list(cls, text: str) -> list[Via]:
        return [cls.parse(item) for item in split_list(text)]

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @branch.setter
    def branch(self, value: str) -> None:
        self.params["branch"] = value

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The filled-in ``rport`` value (RFC 3581), or None when absent or empty."""
        value = self.params.get("rport")
        return int(value) if value else None

    @property
    def wants_rport(self) -> bool:
        """True when the sender asked for ``rport`` (the parameter is present)."""
        return "rport" in self.params

    @property
    def sent_by(self) -> tuple[str, int]:
        """``(host, port)`` of sent-by, with the transport's default port filled in."""
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        default = 5061 if self.transport == "TLS" else 5060
        return host, self.port or default

    def copy(self) -> Via:
        return Via(self.transport, self.host, self.port, dict(self.params))


@dataclass(frozen=True)
class CSeq:
    """A CSeq value: sequence number and method."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit() or not parts[0].isascii() \
                or len(parts[0]) > 10 or not is_token(parts[1]):
            raise ParseError("bad CSeq")
        seq = int(parts[0])
        if seq >= 2**31:
            raise ParseError("CSeq number too large")
        return cls(seq, parts[1])

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"
