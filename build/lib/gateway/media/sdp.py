"""Just enough SDP (RFC 4566) for audio offer/answer on both legs.

Parsing keeps each media section's lines so an SDP can be rewritten (codecs filtered, an
RFC 4733 ``telephone-event`` format added) without touching what we do not understand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
STATIC_PT = {0: ("PCMU", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1),
             18: ("G729", 8000, 1)}


class SdpError(ValueError):
    """The text is not an SDP we can work with."""


@dataclass
class Codec:
    pt: int
    name: str
    rate: int
    channels: int = 1
    fmtp: str = ""

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass
class Media:
    kind: str
    port: int
    proto: str
    formats: list[int]
    lines: list[str] = field(default_factory=list)  # attribute and other lines after m=

    def attributes(self, name: str) -> list[str]:
        prefix = f"a={name}:"
        return [line[len(prefix):] for line in self.lines if line.startswith(prefix)]

    def codecs(self) -> list[Codec]:
        rtpmap: dict[int, Codec] = {}
        for value in self.attributes("rtpmap"):
            try:
                pt_text, enc = value.split(" ", 1)
                parts = enc.strip().split("/")
                pt = int(pt_text)
                rtpmap[pt] = Codec(pt, parts[0], int(parts[1]),
                                   int(parts[2]) if len(parts) > 2 and parts[2] else 1)
            except (ValueError, IndexError):
                continue
        for value in self.attributes("fmtp"):
            pt_text, _, params = value.partition(" ")
            if pt_text.isdigit() and int(pt_text) in rtpmap:
                rtpmap[int(pt_text)].fmtp = params.strip()
        result = []
        for pt in self.formats:
            if pt in rtpmap:
                result.append(rtpmap[pt])
            elif pt in STATIC_PT:
                name, rate, ch = STATIC_PT[pt]
                result.append(Codec(pt, name, rate, ch))
        return result

    @property
    def direction(self) -> str:
        for line in self.lines:
            if line[2:] in DIRECTIONS and line.startswith("a="):
                return line[2:]
        return ""

    @property
    def connection(self) -> str | None:
        for line in self.lines:
            if line.startswith("c="):
                return line.split()[-1].split("/")[0]
        return None

    def render(self) -> list[str]:
        fmts = " ".join(str(f) for f in self.formats)
        return [f"m={self.kind} {self.port} {self.proto} {fmts}", *self.lines]


@dataclass
class Sdp:
    session: list[str]
    media: list[Media]

    @classmethod
    def parse(cls, text: str) -> Sdp:
        if not isinstance(text, str) or not text.lstrip().startswith("v=0"):
            raise SdpError("SDP must start with v=0")
        session: list[str] = []
        media: list[Media] = []
        for raw in text.replace("\r\n", "\n").split("\n"):
            line = raw.strip()
            if not line:
                continue
            if len(line) < 2 or line[1] != "=":
                raise SdpError(f"malformed SDP line: {line[:40]!r}")
            if line.startswith("m="):
                parts = line[2:].split()
                if len(parts) < 3:
                    raise SdpError(f"malformed m= line: {line[:60]!r}")
                try:
                    port = int(parts[1].split("/")[0])
                    formats = [int(p) for p in parts[3:]] if "RTP" in parts[2] else []
                except ValueError:
                    raise SdpError(f"malformed m= line: {line[:60]!r}") from None
                media.append(Media(parts[0], port, parts[2], formats))
            elif media:
                media[-1].lines.append(line)
            else:
                session.append(line)
        if not media:
            raise SdpError("SDP has no media section")
        return cls(session, media)

    def render(self) -> str:
        lines = list(self.session)
        for m in self.media:
            lines.extend(m.render())
        return "\r\n".join(lines) + "\r\n"

    def audio(self) -> Media | None:
        for m in self.media:
            if m.kind == "audio" and m.port != 0:
                return m
        return None

    @property
    def connection(self) -> str | None:
        for line in self.session:
            if line.startswith("c="):
                return line.split()[-1].split("/")[0]
        return None

    def audio_address(self) -> tuple[str, int] | None:
        m = self.audio()
        if m is None:
            return None
        host = m.connection or self.connection
        return (host, m.port) if host else None

    def session_direction(self) -> str:
        for line in self.session:
            if line.startswith("a=") and line[2:] in DIRECTIONS:
                return line[2:]
        return ""


def audio_direction(sdp: Sdp) -> str:
    m = sdp.audio()
    if m is None:
        return "inactive"
    direction = m.direction or sdp.session_direction() or "sendrecv"
    addr = sdp.audio_address()
    if addr and addr[0] == "0.0.0.0" and direction == "sendrecv":  # RFC 2543 hold
        return "sendonly"
    return direction


def keep_formats(media: Media, keep: list[int]) -> None:
    """Reduce a media section to the payload types in ``keep`` (in that order)."""
    keep = [pt for pt in keep if pt in media.formats]
    dropped = {pt for pt in media.formats if pt not in keep}
    media.formats = keep
    lines = []
    for line in media.lines:
        if line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
            pt_text = line.split(":", 1)[1].split(" ", 1)[0]
            if pt_text.isdigit() and int(pt_text) in dropped:
                continue
        lines.append(line)
    media.lines = lines


def add_telephone_event(media: Media, pt: int, rate: int = 8000) -> None:
    if pt in media.formats:
        return
    media.formats.append(pt)
    extra = [f"a=rtpmap:{pt} telephone-event/{rate}", f"a=fmtp:{pt} 0-16"]
    # keep rtpmap lines together: insert after the last rtpmap/fmtp line
    index = max((i for i, line in enumerate(media.lines)
                 if line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"))), default=-1)
    media.lines[index + 1:index + 1] = extra


def set_direction(media: Media, direction: str) -> None:
    media.lines = [line for line in media.lines if line[2:] not in DIRECTIONS]
    media.lines.append(f"a={direction}")


def telephone_event_pt(media: Media, rate: int = 8000) -> int | None:
    for codec in media.codecs():
        if codec.key == "telephone-event" and codec.rate == rate:
            return codec.pt
    return None


def free_dynamic_pt(media: Media, preferred: int = 101) -> int:
    used = set(media.formats)
    if preferred not in used:
        return preferred
    for pt in range(96, 128):
        if pt not in used:
            return pt
    raise SdpError("no free dynamic payload type")


def reverse_direction(direction: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)


def build_audio_sdp(address: str, port: int, codecs: list[Codec], direction: str = "sendrecv",
                    session_id: int | None = None, version: int = 1,
                    username: str = "webfon") -> str:
    """A plain RTP/AVP audio SDP for the SIP leg."""
    sid = session_id if session_id is not None else int(time.time() * 1000) % 10**12
    family = "IP6" if ":" in address else "IP4"
    lines = ["v=0", f"o={username} {sid} {version} IN {family} {address}", "s=webfon",
             f"c=IN {family} {address}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(str(c.pt) for c in codecs)}"]
    for c in codecs:
        ch = f"/{c.channels}" if c.channels > 1 else ""
        lines.append(f"a=rtpmap:{c.pt} {c.name}/{c.rate}{ch}")
        if c.fmtp:
            lines.append(f"a=fmtp:{c.pt} {c.fmtp}")
    lines += ["a=ptime:20", f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"
