"""The one SDP model of webfon (RFC 4566, RFC 3264 offer/answer), for SIP and WebRTC alike.

Parses and builds ``v= o= s= c= t= m= a=`` with ``a=rtpmap``, ``a=fmtp``, direction
attributes, ``a=ptime`` and ``a=rtcp``; any other line (ICE, DTLS, ``a=rtcp-fb``, ``a=mid`` …)
is kept verbatim, so a B2BUA or the gateway can pass descriptions through and rewrite a
browser's SDP (keep some formats, add an RFC 4733 ``telephone-event``) without losing what it
does not understand. Helpers make G.711 (PCMU/PCMA + telephone-event) offers and answers and
change direction for hold.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from .errors import ParseError

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
STATIC_CODECS = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 18: ("G729", 8000)}
MAX_SDP_SIZE = 16384


@dataclass
class Codec:
    """One payload format of a media line."""

    pt: int
    name: str
    rate: int = 8000
    channels: int | None = None
    fmtp: str | None = None

    @property
    def is_dtmf(self) -> bool:
        return self.name.lower() == "telephone-event"

    @property
    def key(self) -> str:
        """The encoding name in lower case (``pcmu``, ``opus``, ``telephone-event``)."""
        return self.name.lower()


@dataclass
class Media:
    """One ``m=`` section."""

    kind: str = "audio"
    port: int = 0
    proto: str = "RTP/AVP"
    formats: list[int] = field(default_factory=list)
    connection: str | None = None
    rtpmap: dict[int, tuple[str, int, int | None]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str | None = None
    ptime: int | None = None
    rtcp: tuple[int, str | None] | None = None
    rtcp_mux: bool = False
    other: list[str] = field(default_factory=list)
    """Attributes we do not model, as ``name[:value]`` strings, kept in order."""

    @property
    def codecs(self) -> list[Codec]:
        """The formats in preference order with their names (static ones filled in)."""
        out = []
        for pt in self.formats:
            if pt in self.rtpmap:
                name, rate, ch = self.rtpmap[pt]
            elif pt in STATIC_CODECS:
                name, rate = STATIC_CODECS[pt]
                ch = None
            else:
                continue
            out.append(Codec(pt, name, rate, ch, self.fmtp.get(pt)))
        return out

    def codec(self, name: str) -> Codec | None:
        for c in self.codecs:
            if c.name.lower() == name.lower():
                return c
        return None

    @property
    def effective_direction(self) -> str:
        return self.direction or "sendrecv"

    def add_codec(self, codec: Codec) -> None:
        self.formats.append(codec.pt)
        self.rtpmap[codec.pt] = (codec.name, codec.rate, codec.channels)
        if codec.fmtp:
            self.fmtp[codec.pt] = codec.fmtp

    def keep_formats(self, keep: list[int]) -> None:
        """Reduce the section to the payload types in ``keep`` (in that order), with their
        ``rtpmap``, ``fmtp`` and ``rtcp-fb`` lines."""
        keep = [pt for pt in keep if pt in self.formats]
        dropped = {pt for pt in self.formats if pt not in keep}
        self.formats = keep
        for pt in dropped:
            self.rtpmap.pop(pt, None)
            self.fmtp.pop(pt, None)
        prefixes = tuple(f"a=rtcp-fb:{pt} " for pt in dropped)
        self.other = [ln for ln in self.other if not ln.startswith(prefixes)]

    @property
    def telephone_event(self) -> int | None:
        """Payload type of 8 kHz RFC 4733 events, if offered."""
        for codec in self.codecs:
            if codec.is_dtmf and codec.rate == 8000:
                return codec.pt
        return None

    def add_telephone_event(self, pt: int, rate: int = 8000) -> None:
        """Offer RFC 4733 events (digits 0-16) on payload type ``pt``."""
        if pt not in self.formats:
            self.add_codec(Codec(pt, "telephone-event", rate, None, "0-16"))

    def free_dynamic_pt(self, preferred: int = 101) -> int:
        """A dynamic payload type (96-127) not used in this section."""
        used = set(self.formats)
        if preferred not in used:
            return preferred
        for pt in range(96, 128):
            if pt not in used:
                return pt
        raise ParseError("no free dynamic payload type")


@dataclass
class SessionDescription:
    """A whole SDP body."""

    origin_user: str = "-"
    session_id: int = 0
    session_version: int = 0
    origin_address: str = "127.0.0.1"
    session_name: str = "-"
    connection: str | None = None
    direction: str | None = None
    media: list[Media] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    """Session-level lines we do not model (``b=``, ``a=group:…`` …), kept verbatim."""

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body; raises :class:`ParseError` on anything malformed."""
        if isinstance(data, bytes):
            if len(data) > MAX_SDP_SIZE:
                raise ParseError("SDP too large")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ParseError("SDP is not UTF-8") from None
        else:
            text = data
        lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
        if not lines or not lines[0].startswith("v="):
            raise ParseError("doesn't start with v=")
        if lines[0].strip() != "v=0":
            raise ParseError("SDP must be version 0")
        sd = cls()
        seen_origin = False
        current: Media | None = None
        for line in lines[1:]:
            if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
                raise ParseError("bad SDP line")
            kind, value = line[0], line[2:].strip()
            if kind == "o":
                parts = value.split()
                if len(parts) != 6 or not parts[1].isdigit() or not parts[2].isdigit():
                    raise ParseError("bad SDP origin")
                sd.origin_user = parts[0]
                sd.session_id = int(parts[1])
                sd.session_version = int(parts[2])
                sd.origin_address = parts[5]
                seen_origin = True
            elif kind == "s":
                sd.session_name = value or "-"
            elif kind == "c":
                addr = _parse_connection(value)
                if current is None:
                    sd.connection = addr
                else:
                    current.connection = addr
            elif kind == "m":
                current = _parse_media_line(value)
                sd.media.append(current)
            elif kind == "a":
                if current is None:
                    if value in DIRECTIONS:
                        sd.direction = value
                    else:
                        sd.other.append(line)
                else:
                    _parse_media_attribute(current, value)
            elif kind == "t":
                if current is None and line not in sd.other:
                    sd.other.append(line)
            elif current is None:
                sd.other.append(line)
            else:
                current.other.append(line)
        if not seen_origin:
            raise ParseError("SDP without origin")
        for m in sd.media:
            if m.port and not (m.connection or sd.connection):
                raise ParseError("SDP media without connection address")
        return sd

    # ------------------------------------------------------------------ output
    def __str__(self) -> str:
        out = ["v=0",
               f"o={self.origin_user} {self.session_id} {self.session_version} IN "
               f"{_ip_kind(self.origin_address)} {self.origin_address}",
               f"s={self.session_name}"]
        if self.connection:
            out.append(f"c=IN {_ip_kind(self.connection)} {self.connection}")
        extra = [ln for ln in self.other if not ln.startswith("t=")]
        times = [ln for ln in self.other if ln.startswith("t=")] or ["t=0 0"]
        out += [ln for ln in extra if ln[0] == "b"]
        out += times
        out += [ln for ln in extra if ln[0] != "b"]
        if self.direction:
            out.append(f"a={self.direction}")
        for m in self.media:
            out.append(f"m={m.kind} {m.port} {m.proto} {' '.join(str(f) for f in m.formats)}")
            if m.connection:
                out.append(f"c=IN {_ip_kind(m.connection)} {m.connection}")
            out += [ln for ln in m.other if not ln.startswith("a=")]
            for pt in m.formats:
                if pt in m.rtpmap:
                    name, rate, ch = m.rtpmap[pt]
                    out.append(f"a=rtpmap:{pt} {name}/{rate}" + (f"/{ch}" if ch else ""))
                if pt in m.fmtp:
                    out.append(f"a=fmtp:{pt} {m.fmtp[pt]}")
            if m.ptime:
                out.append(f"a=ptime:{m.ptime}")
            if m.rtcp:
                port, addr = m.rtcp
                out.append(f"a=rtcp:{port}" + (f" IN {_ip_kind(addr)} {addr}" if addr else ""))
            if m.rtcp_mux:
                out.append("a=rtcp-mux")
            out += [ln for ln in m.other if ln.startswith("a=")]
            if m.direction:
                out.append(f"a={m.direction}")
        return "\r\n".join(out) + "\r\n"

    def encode(self) -> bytes:
        return str(self).encode()

    # ------------------------------------------------------------------ helpers
    @property
    def audio(self) -> Media | None:
        """The first audio section with a non-zero port, or the first audio section."""
        audios = [m for m in self.media if m.kind == "audio"]
        for m in audios:
            if m.port:
                return m
        return audios[0] if audios else None

    def address_of(self, media: Media) -> str | None:
        return media.connection or self.connection

    def direction_of(self, media: Media) -> str:
        """Effective direction: media-level, else session-level, else sendrecv; a c= of
        0.0.0.0 (old-style hold) counts as sendonly."""
        direction = media.direction or self.direction or "sendrecv"
        if self.address_of(media) == "0.0.0.0" and direction == "sendrecv":
            return "sendonly"
        return direction

    def copy(self) -> SessionDescription:
        return SessionDescription.parse(str(self))

    @property
    def audio_address(self) -> tuple[str, int] | None:
        """Where the active audio stream wants RTP: (address, port), or None."""
        m = self.audio
        if m is None or not m.port:
            return None
        host = self.address_of(m)
        return (host, m.port) if host else None


def reverse_direction(direction: str) -> str:
    """The direction seen from the other side (``sendonly`` <-> ``recvonly``)."""
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)


def _ip_kind(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _parse_connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise ParseError("bad SDP connection line")
    return parts[2].split("/")[0]


def _parse_media_line(value: str) -> Media:
    parts = value.split()
    if len(parts) < 4:
        raise ParseError("bad SDP media line")
    port_text = parts[1].split("/")[0]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ParseError("bad SDP media port")
    formats = []
    for f in parts[3:]:
        if not f.isdigit() or int(f) > 127:
            if parts[2].upper().startswith("RTP") or "RTP/" in parts[2].upper():
                raise ParseError("bad SDP payload type")
            continue
        formats.append(int(f))
    return Media(kind=parts[0], port=int(port_text), proto=parts[2], formats=formats)


def _parse_media_attribute(m: Media, value: str) -> None:
    name, _, arg = value.partition(":")
    if name in DIRECTIONS and not arg:
        m.direction = name
    elif name == "rtpmap":
        pt_text, _, enc = arg.partition(" ")
        bits = enc.strip().split("/")
        if not pt_text.isdigit() or len(bits) < 2 or not bits[0] or not bits[1].isdigit():
            raise ParseError("bad SDP rtpmap")
        ch = int(bits[2]) if len(bits) > 2 and bits[2].isdigit() else None
        m.rtpmap[int(pt_text)] = (bits[0], int(bits[1]), ch)
    elif name == "fmtp":
        pt_text, _, params = arg.partition(" ")
        if not pt_text.isdigit():
            raise ParseError("bad SDP fmtp")
        m.fmtp[int(pt_text)] = params.strip()
    elif name == "ptime":
        if not arg.strip().isdigit():
            raise ParseError("bad SDP ptime")
        m.ptime = int(arg.strip())
    elif name == "rtcp":
        parts = arg.split()
        if not parts or not parts[0].isdigit() or int(parts[0]) > 65535:
            raise ParseError("bad SDP rtcp attribute")
        addr = parts[3] if len(parts) >= 4 else None
        m.rtcp = (int(parts[0]), addr)
    elif name == "rtcp-mux":
        m.rtcp_mux = True
    else:
        m.other.append("a=" + value)


# ---------------------------------------------------------------------- offer / answer
G711 = {"PCMU": Codec(0, "PCMU"), "PCMA": Codec(8, "PCMA")}


def make_offer(address: str, port: int, *, codecs: tuple[str, ...] = ("PCMA", "PCMU"),
               telephone_event: int | None = 101, direction: str = "sendrecv",
               ptime: int | None = 20, session_id: int | None = None,
               proto: str = "RTP/AVP") -> SessionDescription:
    """An audio offer for G.711 (and RFC 4733 events on payload ``telephone_event``)."""
    sid = session_id if session_id is not None else _session_id()
    media = Media(kind="audio", port=port, proto=proto, direction=direction, ptime=ptime)
    for name in codecs:
        codec = G711.get(name.upper())
        if codec is None:
            raise ValueError(f"unsupported codec {name}")
        media.add_codec(codec)
    if telephone_event is not None:
        media.add_codec(Codec(telephone_event, "telephone-event", 8000, None, "0-16"))
    return SessionDescription(session_id=sid, session_version=sid, origin_address=address,
                              connection=address, media=[media])


def answer_direction(offered: str, wanted: str = "sendrecv") -> str:
    """RFC 3264 §6.1: our direction given the offer's and what we would like."""
    allowed = {"sendrecv": {"sendrecv", "sendonly", "recvonly", "inactive"},
               "sendonly": {"recvonly", "inactive"},
               "recvonly": {"sendonly", "inactive"},
               "inactive": {"inactive"}}[offered]
    if wanted in allowed:
        return wanted
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(offered, "inactive") \
        if wanted == "sendrecv" else "inactive"


def make_answer(offer: SessionDescription, address: str, port: int, *,
                codecs: tuple[str, ...] = ("PCMA", "PCMU"), telephone_event: bool = True,
                direction: str = "sendrecv", session_id: int | None = None,
                secure: bool = False) -> tuple[SessionDescription, Codec | None]:
    """Answer ``offer``: the first offered codec we support (offer order), the offered
    telephone-event payload, and the matching direction. Every other m= line is rejected
    with port 0. Returns ``(answer, chosen codec)``; the codec is None (and the audio port 0)
    when nothing matches, which the caller should turn into a 488. A secure profile
    (RTP/SAVP) is answered only with ``secure`` (the caller then adds its ``a=crypto``)."""
    sid = session_id if session_id is not None else _session_id()
    answer = SessionDescription(session_id=sid, session_version=sid, origin_address=address,
                                connection=address)
    chosen: Codec | None = None
    wanted = {c.upper() for c in codecs}
    audio = offer.audio
    for m in offer.media:
        am = Media(kind=m.kind, port=0, proto=m.proto, formats=list(m.formats[:1]) or [0])
        if m is audio and m.port and (secure or "SAVP" not in m.proto.upper()):
            for codec in m.codecs:
                if codec.name.upper() in wanted and codec.rate == 8000:
                    chosen = codec
                    break
            if chosen is not None:
                am = Media(kind="audio", port=port, proto=m.proto, ptime=m.ptime)
                am.add_codec(Codec(chosen.pt, chosen.name, chosen.rate))
                dtmf = m.codec("telephone-event")
                if telephone_event and dtmf is not None:
                    am.add_codec(Codec(dtmf.pt, "telephone-event", dtmf.rate, None,
                                       dtmf.fmtp or "0-16"))
                am.direction = answer_direction(offer.direction_of(m), direction)
        answer.media.append(am)
    return answer, chosen


def with_direction(sdp: SessionDescription, direction: str) -> SessionDescription:
    """A copy with every active audio stream set to ``direction`` and the version bumped
    (hold: ``sendonly``; resume: ``sendrecv``)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"bad direction {direction}")
    new = sdp.copy()
    new.session_version += 1
    new.direction = None
    for m in new.media:
        if m.port:
            m.direction = direction
    return new


def _session_id() -> int:
    return int(time.time()) * 1000 + secrets.randbelow(1000)
