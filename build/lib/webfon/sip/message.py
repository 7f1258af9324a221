"""SIP requests and responses: header storage, typed accessors, parsing and serialization.

Parsing is strict and bounded: anything malformed or larger than ``max_size`` raises
:class:`~webfon.sip.errors.ParseError` and nothing else. Header values are kept as text and
parsed on access by the typed properties (once per message: the result is cached until the
header changes), so relaying a message never loses what we do not understand;
:meth:`Message.validate` parses everything a message must have. Throughput is measured by
``benchmarks/sip_parse_bench.py``.

Why not ``sipmessage``: it was evaluated (and is used by the tests as an independent parser
to cross-check our output) but its parameter handling URL-escapes quoted-string values such
as ``+sip.instance="<urn:…>"`` when serializing, it has no URI headers, no Content-Length
handling or header folding, and its errors are plain ``ValueError``/``KeyError`` from deep
inside; a relay must round-trip what it does not understand and reject garbage with one
clear exception type, hence this small parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import ParseError
from .grammar import is_token
from .headers import (
    KNOWN_NAMES,
    LIST_HEADERS,
    Address,
    CSeq,
    Via,
    canonical_name,
    split_list,
)
from .uri import SipURI

MAX_MESSAGE_SIZE = 65535
"""Default bound on a message's size in bytes (headers and body)."""
MAX_HEADERS = 256
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # CTLs other than TAB, LF, CR

REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


class Headers:
    """Ordered, case-insensitive, multi-valued header storage.

    Each entry is one header field line (``name, value``); names are stored canonically
    (compact forms expanded). :meth:`values` additionally splits comma lists.

    Typed values parsed by :class:`Message`'s accessors are cached here (keys: the canonical
    header name, alone or with a suffix of ``_CACHE_SUFFIXES``) and dropped when that header
    changes, so a header is parsed at most once per message however often it is read.
    """

    __slots__ = ("_cache", "_items")
    _cache: dict[str, Any]

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = \
            [(canonical_name(k), v) for k, v in items] if items else []
        self._cache = {}

    def _first(self) -> dict[str, str]:
        """First value of every header name as stored (exact names; cached until a change)."""
        index = self._cache.get(_INDEX)
        if index is None:
            index = self._cache[_INDEX] = dict(reversed(self._items))
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name`` or ``default``."""
        cname = canonical_name(name)
        if cname in KNOWN_NAMES:  # stored canonically: an exact lookup is enough
            return self._first().get(cname, default)
        key = cname.lower()
        size = len(cname)
        for k, v in self._items:
            if k == cname or (len(k) == size and k.lower() == key):
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every field value of ``name`` in order (comma lists not split)."""
        cname = canonical_name(name)
        if cname in KNOWN_NAMES:
            return [v for k, v in self._items if k == cname]
        key = cname.lower()
        size = len(cname)
        return [v for k, v in self._items
                if k == cname or (len(k) == size and k.lower() == key)]

    def values(self, name: str) -> list[str]:
        """Every value of ``name``, comma lists split for list headers (Via, Route, Contact…)."""
        raw = self.get_all(name)
        if canonical_name(name).lower() not in LIST_HEADERS:
            return raw
        out: list[str] = []
        for value in raw:
            if "," in value:
                out.extend(split_list(value))
            else:
                item = value.strip()
                if not item:
                    raise ParseError("empty item in header list")
                out.append(item)
        return out

    def _changed(self, cname: str) -> None:
        """Drop what is cached about header ``cname`` (and the first-value index)."""
        cache = self._cache
        if cache:
            cache.pop(_INDEX, None)
            for suffix in _CACHE_SUFFIXES:
                cache.pop(cname + suffix, None)

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        """Append a header line (or put it before the others of that name with ``first``)."""
        name = canonical_name(name)
        self._changed(name)
        if first:
            key = name.lower()
            for i, (k, _) in enumerate(self._items):
                if k.lower() == key:
                    self._items.insert(i, (name, value))
                    return
        self._items.append((name, value))

    def set(self, name: str, value: str | Iterable[str]) -> None:
        """Replace every line of ``name`` by ``value`` (or several values), in place."""
        name = canonical_name(name)
        self._changed(name)
        key = name.lower()
        new = [value] if isinstance(value, str) else list(value)
        out: list[tuple[str, str]] = []
        placed = False
        for k, v in self._items:
            if k.lower() == key:
                if not placed:
                    out.extend((name, x) for x in new)
                    placed = True
            else:
                out.append((k, v))
        if not placed:
            out.extend((name, x) for x in new)
        self._items = out

    def remove(self, name: str) -> int:
        """Remove every line of ``name``; return how many were removed."""
        cname = canonical_name(name)
        self._changed(cname)
        key = cname.lower()
        before = len(self._items)
        self._items = [(k, v) for k, v in self._items if k.lower() != key]
        return before - len(self._items)

    def pop_first(self, name: str) -> str | None:
        """Remove and return the first value of ``name`` (splitting a comma list if needed)."""
        cname = canonical_name(name)
        key = cname.lower()
        for i, (k, v) in enumerate(self._items):
            if k.lower() == key:
                if key in LIST_HEADERS:
                    items = split_list(v)
                    if len(items) > 1:
                        self._changed(cname)
                        self._items[i] = (k, ", ".join(items[1:]))
                        return items[0]
                self._changed(cname)
                del self._items[i]
                return v
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        new = Headers()
        new._items = list(self._items)
        return new

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


_MISSING = object()
_INDEX = "#index"  # key of Headers._first's index in the cache (never a header name)
# Cache keys of a header are its canonical name plus one of these suffixes (see Message).
_CACHE_SUFFIXES = ("", "*", ",")


class Message:
    """Common part of :class:`Request` and :class:`Response`.

    ``source`` is ``(host, port)`` of the peer a received message came from, ``transport`` the
    name of the transport it arrived on and ``connection`` the transport object's handle for
    connection-oriented transports (None for messages built locally).

    Typed accessors parse on first access and cache the result in :class:`Headers` (dropped
    when headers change); mutable values (addresses, Vias) are returned as fresh copies, so
    changing what an accessor returned never changes the message.
    """

    headers: Headers
    body: bytes

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.source: tuple[str, int] | None = None
        self.transport: str | None = None
        self.connection: Any = None

    # --- typed accessors -------------------------------------------------------------------
    def _need(self, name: str) -> str:
        """First value of ``name`` (a canonical, well-known header name) or ParseError."""
        value = self.headers._first().get(name)
        if value is None:
            raise ParseError(f"missing {name} header")
        return value

    def _address(self, name: str) -> Address:
        """The parsed (cached, shared: do not modify) address of header ``name``."""
        cache = self.headers._cache
        addr = cache.get(name)
        if addr is None:
            addr = cache[name] = Address.parse(self._need(name))
        return addr

    def _address_list(self, name: str) -> list[Address]:
        """Parsed (cached, shared) addresses of every ``name`` value."""
        key = name + "*"
        cache = self.headers._cache
        addrs = cache.get(key)
        if addrs is None:
            addrs = cache[key] = [Address.parse(v) for v in self.headers.values(name)]
        return addrs

    def _via_values(self) -> list[str]:
        cache = self.headers._cache
        values = cache.get("Via,")
        if values is None:
            values = cache["Via,"] = self.headers.values("Via")
        return values

    def _top_via(self) -> Via:
        """The parsed (cached, shared) top Via."""
        cache = self.headers._cache
        top = cache.get("Via")
        if top is None:
            values = self._via_values()
            if not values:
                raise ParseError("missing Via header")
            vias = cache.get("Via*")
            top = cache["Via"] = vias[0] if vias else Via.parse(values[0])
        return top

    def _vias(self) -> list[Via]:
        cache = self.headers._cache
        vias = cache.get("Via*")
        if vias is None:
            values = self._via_values()
            top = cache.get("Via")
            vias = [top] if top is not None else []
            vias.extend(Via.parse(v) for v in values[len(vias):])
            cache["Via*"] = vias
        return vias

    @property
    def call_id(self) -> str:
        return self._need("Call-ID").strip()

    @call_id.setter
    def call_id(self, value: str) -> None:
        self.headers.set("Call-ID", value)

    @property
    def cseq(self) -> CSeq:
        cache = self.headers._cache
        cseq = cache.get("CSeq")
        if cseq is None:
            cseq = cache["CSeq"] = CSeq.parse(self._need("CSeq"))
        return cseq  # immutable: shared

    @cseq.setter
    def cseq(self, value: CSeq) -> None:
        self.headers.set("CSeq", str(value))

    @property
    def from_(self) -> Address:
        return self._address("From").copy()

    @from_.setter
    def from_(self, value: Address) -> None:
        self.headers.set("From", str(value))

    @property
    def to(self) -> Address:
        return self._address("To").copy()

    @to.setter
    def to(self, value: Address) -> None:
        self.headers.set("To", str(value))

    @property
    def from_tag(self) -> str | None:
        return self._address("From").tag

    @property
    def to_tag(self) -> str | None:
        return self._address("To").tag

    @property
    def vias(self) -> list[Via]:
        return [v.copy() for v in self._vias()]

    @vias.setter
    def vias(self, value: list[Via]) -> None:
        self.headers.set("Via", [str(v) for v in value])

    @property
    def via(self) -> Via:
        """The top Via."""
        return self._top_via().copy()

    @via.setter
    def via(self, value: Via) -> None:
        """Replace the top Via value."""
        rest = self.headers.values("Via")[1:]
        self.headers.set("Via", [str(value), *rest])

    @property
    def contacts(self) -> list[Address]:
        return [a.copy() for a in self._address_list("Contact")]

    @property
    def contact(self) -> Address | None:
        cache = self.headers._cache
        addrs = cache.get("Contact*")
        if addrs is not None:
            return addrs[0].copy() if addrs else None
        top = cache.get("Contact", _MISSING)
        if top is _MISSING:
            values = self.headers.values("Contact")
            top = cache["Contact"] = Address.parse(values[0]) if values else None
        return top.copy() if top is not None else None

    @property
    def routes(self) -> list[Address]:
        return [a.copy() for a in self._address_list("Route")]

    @property
    def record_routes(self) -> list[Address]:
        return [a.copy() for a in self._address_list("Record-Route")]

    def _int(self, name: str) -> int | None:
        value = self.headers.get(name)
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or not value.isascii() or len(value) > 10:
            raise ParseError(f"bad {name}")
        return int(value)

    @property
    def max_forwards(self) -> int | None:
        return self._int("Max-Forwards")

    @property
    def expires(self) -> int | None:
        return self._int("Expires")

    @property
    def content_length(self) -> int | None:
        return self._int("Content-Length")

    @property
    def content_type(self) -> str | None:
        """The media type, lowercased, without parameters (``application/sdp``)."""
        value = self.headers.get("Content-Type")
        return value.split(";", 1)[0].strip().lower() if value else None

    def set_body(self, body: bytes | str, content_type: str | None = None) -> None:
        """Set the body (str is UTF-8 encoded) and its Content-Type (removed when empty)."""
        self.body = body.encode() if isinstance(body, str) else body
        if content_type:
            self.headers.set("Content-Type", content_type)
        elif not self.body:
            self.headers.remove("Content-Type")

    # --- serialization ---------------------------------------------------------------------
    def first_line(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        """Wire form; Content-Length is always written from the actual body."""
        lines = [self.first_line()]
        for k, v in self.headers._items:
            if k != "Content-Length":
                lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def __bytes__(self) -> bytes:
        return self.encode()

    def __str__(self) -> str:
        return self.encode().decode(errors="replace")

    def validate(self) -> None:
        """Check the mandatory headers parse; raise :class:`ParseError` naming the problem."""
        first = self.headers._first()
        for name in MANDATORY:
            if name not in first:
                raise ParseError(f"missing {name} header")
        self._top_via()  # the top Via is what this hop needs; others parse on access
        self._address("From")
        self._address("To")
        self.cseq  # noqa: B018 - parse for validation
        call_id = first["Call-ID"].strip()
        if not call_id:
            raise ParseError("empty Call-ID")
        if len(call_id.split()) != 1:  # whitespace inside (str.split uses str.isspace's set)
            raise ParseError("bad Call-ID")
        if "Max-Forwards" in first:
            self._int("Max-Forwards")
        if "Expires" in first:
            self._int("Expires")


class Request(Message):
    """A SIP request."""

    def __init__(self, method: str, uri: SipURI | str, headers: Headers | None = None,
                 body: bytes = b"") -> None:
        super().__init__(headers, body)
        upper = method.upper()
        self.method = upper if upper in _KNOWN_METHODS else method
        self.uri = SipURI.parse(uri) if isinstance(uri, str) else uri

    def first_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def copy(self) -> Request:
        """An independent copy (headers list and URI copied; body shared, it is immutable)."""
        return Request(self.method, self.uri.copy(), self.headers.copy(), self.body)

    def validate(self) -> None:
        super().validate()
        if self.cseq.method != self.method:
            raise ParseError("CSeq method does not match the request method")

    def create_response(self, status: int, reason: str | None = None, *,
                        to_tag: str | None = None, headers: Iterable[tuple[str, str]] = (),
                        body: bytes = b"", content_type: str | None = None) -> Response:
        """A response to this request (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied;
        ``to_tag`` added to To unless it already has one; Record-Route copied on 1xx/2xx."""
        resp = Response(status, reason)
        tag_to = bool(to_tag) and status != 100 and not self.to_tag
        copied = _RESPONSE_COPY_RR if 100 < status < 300 else _RESPONSE_COPY
        # one pass in wire order per name: Via, From, To, Call-ID, CSeq, Record-Route
        lines: dict[str, list[str]] = {}
        for name, value in self.headers._items:
            if name in copied:
                if name == "To" and tag_to:
                    # parameters after a name-addr or an addr-spec are header parameters, so
                    # the tag can be appended to the text as received
                    value = f"{value};tag={to_tag}"
                    tag_to = False
                lines.setdefault(name, []).append(value)
        items = resp.headers._items
        for name in copied:
            for value in lines.get(name, ()):
                items.append((name, value))
        for name, value in headers:
            resp.headers.add(name, value)
        if body:
            resp.set_body(body, content_type)
        return resp

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response."""

    def __init__(self, status: int, reason: str | None = None, headers: Headers | None = None,
                 body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason if reason is not None else REASONS.get(status, "Unknown")
        self.local = False  # True for responses synthesized by the stack (timeouts)

    def first_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_final(self) -> bool:
        return self.status >= 200

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


_RESPONSE_COPY = ("Via", "From", "To", "Call-ID", "CSeq")
_RESPONSE_COPY_RR = (*_RESPONSE_COPY, "Record-Route")
_KNOWN_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO",
                            "PRACK", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE",
                            "PUBLISH"})


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split ``data`` at the empty line ending the headers; None if there is none."""
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        return data[:idx], data[idx + 4:]
    idx = data.find(b"\n\n")
    if idx >= 0:
        return data[:idx], data[idx + 2:]
    return None


def _wire_name(name: str) -> str:
    """Canonical name of a header name as received (``name`` is the text before ``:``)."""
    cname = _WIRE_NAMES.get(name)
    if cname is None:
        stripped = name.rstrip(" \t")
        if not is_token(stripped):
            raise ParseError("bad header line")
        cname = canonical_name(stripped)
        if len(_WIRE_NAMES) < _WIRE_NAMES_MAX:  # bounded: names come from the network
            _WIRE_NAMES[name] = cname
    return cname


_WIRE_NAMES: dict[str, str] = {}
_HEADER_LINE = re.compile(r"^([^:\n]*):(.*)$", re.M)
_WIRE_NAMES_MAX = 2048


def parse_message(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE,
                  stream: bool = False) -> Request | Response:
    """Parse one SIP message from ``data``.

    With ``stream`` (TCP framing) ``data`` must be exactly one message. On datagrams a body
    longer than Content-Length is truncated, a shorter one is an error (RFC 3261 §18.3).
    Raises :class:`ParseError` for anything malformed. Only the start line and the header
    lines are checked here; header values are parsed by the accessors and by
    :meth:`Message.validate`.
    """
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ParseError("message must be bytes")
        data = bytes(data)
    if len(data) > max_size:
        raise ParseError("message too large", 513)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        head_bytes, body = data[:idx], data[idx + 4:]
    else:
        idx = data.find(b"\n\n")
        if idx < 0:
            raise ParseError("no end of headers")
        head_bytes, body = data[:idx], data[idx + 2:]
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("headers are not UTF-8") from None
    head = head.replace("\r\n", "\n")
    if _CONTROL.search(head):
        raise ParseError("control character in message headers")
    lines = head.split("\n")
    first = lines[0]
    if "\t" in first:
        raise ParseError("control character in start line")
    msg: Request | Response
    if first.startswith("SIP/"):
        pieces = first.split(" ", 2)
        if len(pieces) < 2 or pieces[0] != "SIP/2.0":
            raise ParseError("bad status line", 505 if pieces[0] != "SIP/2.0" else 400)
        code = pieces[1]
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] == "0":
            raise ParseError("bad status code")
        msg = Response(int(code), pieces[2] if len(pieces) > 2 else "")
    else:
        pieces = first.split(" ")
        if len(pieces) != 3:
            raise ParseError("bad request line")
        method, uri_text, version = pieces
        if not is_token(method):
            raise ParseError("bad method")
        if version != "SIP/2.0":
            raise ParseError("unsupported SIP version", 505)
        msg = Request(method, SipURI.parse(uri_text))
    items = msg.headers._items
    count = len(lines) - 1
    if count <= MAX_HEADERS and "\n " not in head and "\n\t" not in head:
        # no folding: one regular expression pass; lines without ":" make the counts differ
        # and the loop below reports them
        pairs = _HEADER_LINE.findall(head, len(first) + 1) if count else []
        if len(pairs) == count:
            wire = _WIRE_NAMES
            items.extend([(wire.get(n) or _wire_name(n), v.strip(" \t")) for n, v in pairs])
            return _finish(msg, body, stream)
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not items:
                raise ParseError("continuation line without header")
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ParseError("bad header line")
        cname = _wire_name(name)
        value = value.strip(" \t")
        items.append((cname, value))
        if len(items) > MAX_HEADERS:
            raise ParseError("too many headers", 513)
    return _finish(msg, body, stream)


def _finish(msg: Request | Response, body: bytes, stream: bool) -> Request | Response:
    """Check the body against Content-Length and attach it."""
    clen_text = msg.headers._first().get("Content-Length")
    if clen_text is not None:
        clen_text = clen_text.strip()
        if not clen_text.isdigit() or not clen_text.isascii() or len(clen_text) > 10:
            raise ParseError("bad Content-Length")
        clen = int(clen_text)
        if clen > len(body):
            raise ParseError("body shorter than Content-Length")
        if stream and clen != len(body):
            raise ParseError("body longer than Content-Length")
        if clen != len(body):
            body = body[:clen]
    elif stream and body:
        raise ParseError("missing Content-Length")
    msg.body = body
    return msg


def parse_request_or_response(data: bytes) -> Request | Response:
    """Alias of :func:`parse_message` with default limits."""
    return parse_message(data)
