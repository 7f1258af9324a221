"""The delay a media server adds to each RTP packet it relays, from a packet capture.

``tcpdump`` records every UDP datagram the server receives and sends, with kernel timestamps.
On loopback (or the inside end of a veth pair) a datagram's timestamp is the moment it was
handed to the server's socket, or the moment the server sent it, so the difference between a
packet going in and the same packet going out is the server's own queueing and processing:
its added delay, without the load generator's or the far end's.

The bench's packets make the pairing possible. Each client's RTP payload carries its call
index and packet number (``PAYLOAD_FORMAT``); on the SIP side the payload is plain, and on the
WebRTC side the SRTP header is (only the payload is encrypted), so:

* towards SIP, a client packet (known by its source port and sequence number, i.e. its packet
  number) is matched to the plain packet to the SIP peer that carries the same call index and
  packet number;
* towards the browser, a plain packet from the SIP peer (call index, packet number, sequence
  number) is matched to the SRTP packet to that client whose sequence number differs by the
  offset the server applies on that call (found as the most common difference between each
  packet out and the packet in just before it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import struct
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# send time (perf_counter), measuring flag, call index, packet number
PAYLOAD_FORMAT = "!dIII"
PAYLOAD_FIELDS = struct.calcsize(PAYLOAD_FORMAT)

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276


@dataclass(frozen=True)
class Datagram:
    t: float
    src: tuple[str, int]
    dst: tuple[str, int]
    data: bytes


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def read_pcap(path: Path) -> Iterator[Datagram]:
    """IPv4 UDP datagrams of a classic pcap file (µs or ns timestamps)."""
    with path.open("rb") as fh:
        header = fh.read(24)
        if len(header) < 24:
            return
        magic = header[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            raise ValueError(f"{path}: not a pcap file")
        scale = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
        linktype = struct.unpack(endian + "I", header[20:24])[0] & 0x0FFFFFFF
        record = struct.Struct(endian + "IIII")
        while True:
            head = fh.read(16)
            if len(head) < 16:
                return
            sec, frac, incl, _ = record.unpack(head)
            frame = fh.read(incl)
            if len(frame) < incl:
                return
            packet = _ipv4_of(frame, linktype)
            if packet is None or len(packet) < 28 or packet[9] != 17:
                continue
            ihl = (packet[0] & 0x0F) * 4
            udp = packet[ihl:]
            if len(udp) < 8:
                continue
            sport, dport = struct.unpack_from("!HH", udp)
            yield Datagram(sec + frac * scale, (_ip(packet[12:16]), sport),
                           (_ip(packet[16:20]), dport), bytes(udp[8:]))


def _ipv4_of(frame: bytes, linktype: int) -> bytes | None:
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14 or frame[12:14] != b"\x08\x00":
            return None
        return frame[14:]
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16 or frame[14:16] != b"\x08\x00":
            return None
        return frame[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20 or frame[0:2] != b"\x08\x00":
            return None
        return frame[20:]
    if linktype == LINKTYPE_RAW:
        return frame if frame and frame[0] >> 4 == 4 else None
    if linktype == LINKTYPE_NULL:
        return frame[4:] if len(frame) > 4 else None
    return None


def _rtp(data: bytes) -> tuple[int, int] | None:
    """(sequence number, payload offset) of an RTP packet, None for RTCP/STUN/DTLS."""
    if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
        return None
    start = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
    return (data[2] << 8) | data[3], start


@dataclass
class CallPorts:
    """What the load generator knows of one call: its index, its ICE socket's port and the
    sequence number before its first packet (packet n goes out as ``seq0 + n``)."""

    index: int
    client_port: int
    seq0: int


@dataclass
class RelayDelays:
    to_sip: list[float] = field(default_factory=list)  # seconds, browser -> SIP traversal
    to_browser: list[float] = field(default_factory=list)  # SIP -> browser traversal
    unmatched_to_sip: int = 0
    unmatched_to_browser: int = 0


def relay_delays(packets: Iterator[Datagram] | list[Datagram], calls: list[CallPorts],
                 sip_media: tuple[str, int]) -> RelayDelays:
    """Per-packet time inside the server, both directions, for packets of the measuring
    window (payload flag 1)."""
    by_port = {c.client_port: c for c in calls}
    client_in: dict[tuple[int, int], float] = {}  # (index, n) -> t (client -> server)
    sip_out: dict[tuple[int, int], float] = {}  # (index, n) -> t (server -> SIP peer)
    sip_in: dict[int, list[tuple[float, int, int]]] = defaultdict(list)  # index -> (t, seq, n)
    browser_out: dict[int, list[tuple[float, int]]] = defaultdict(list)  # index -> (t, seq)
    for pkt in packets:
        rtp = _rtp(pkt.data)
        if rtp is None:
            continue
        seq, start = rtp
        if pkt.src[1] in by_port and pkt.dst != sip_media:
            call = by_port[pkt.src[1]]
            client_in[(call.index, (seq - call.seq0) & 0xFFFF)] = pkt.t
        elif pkt.dst[1] in by_port and pkt.src != sip_media:
            browser_out[by_port[pkt.dst[1]].index].append((pkt.t, seq))
        elif pkt.dst == sip_media or pkt.src == sip_media:
            if len(pkt.data) < start + PAYLOAD_FIELDS:
                continue
            _, flag, index, n = struct.unpack_from(PAYLOAD_FORMAT, pkt.data, start)
            if flag != 1:
                continue
            if pkt.dst == sip_media:
                sip_out[(index, n)] = pkt.t
            else:
                sip_in[index].append((pkt.t, seq, n))
    result = RelayDelays()
    for key, t_out in sip_out.items():
        t_in = client_in.get(key)
        if t_in is None or t_out < t_in:
            result.unmatched_to_sip += 1
        else:
            result.to_sip.append(t_out - t_in)
    for index, arrivals in sip_in.items():
        arrivals.sort()
        sent = sorted(browser_out.get(index, []))
        offset = _seq_offset(arrivals, sent)
        if offset is None:
            result.unmatched_to_browser += len(arrivals)
            continue
        departures = {seq: t for t, seq in sent}
        for t_in, seq, _ in arrivals:
            t_out = departures.get((seq + offset) & 0xFFFF)
            if t_out is None or t_out < t_in:
                result.unmatched_to_browser += 1
            else:
                result.to_browser.append(t_out - t_in)
    return result


def _seq_offset(arrivals: list[tuple[float, int, int]],
                sent: list[tuple[float, int]]) -> int | None:
    """The sequence-number offset between packets in and out on one call: the most common
    difference between each packet out and the last packet in before it."""
    if not arrivals or not sent:
        return None
    votes: Counter[int] = Counter()
    i = -1
    for t_out, seq_out in sent:
        while i + 1 < len(arrivals) and arrivals[i + 1][0] <= t_out:
            i += 1
        if i >= 0:
            votes[(seq_out - arrivals[i][1]) & 0xFFFF] += 1
    if not votes:
        return None
    return votes.most_common(1)[0][0]


def dropped_by_kernel(log: str) -> int | None:
    """The "N packets dropped by kernel" figure tcpdump prints when it stops."""
    for line in log.splitlines():
        words = line.split()
        if len(words) >= 5 and words[1:] == ["packets", "dropped", "by", "kernel"]:
            return int(words[0])
    return None


class Capture:
    """``tcpdump`` writing UDP datagrams of one interface to a file, optionally inside a
    network namespace; stopped with SIGINT so the file is complete."""

    def __init__(self, path: Path, interface: str = "lo", netns: str | None = None) -> None:
        self.path = path
        self.interface = interface
        self.netns = netns
        self.proc: asyncio.subprocess.Process | None = None
        self.log = path.parent / "tcpdump.log"

    def dropped(self) -> int | None:
        """Packets tcpdump says the kernel dropped (after :meth:`stop`)."""
        return dropped_by_kernel(self.log.read_text(errors="replace")) \
            if self.log.exists() else None

    @staticmethod
    def available() -> bool:
        return shutil.which("tcpdump") is not None and os.geteuid() == 0

    async def start(self) -> None:
        cmd = ["tcpdump", "-i", self.interface, "-n", "-s", "128", "-B", "32768",
               "-w", str(self.path), "udp"]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        log = self.log.open("wb")
        self.proc = await asyncio.create_subprocess_exec(*cmd, stdout=log, stderr=log)
        await asyncio.sleep(1.0)  # tcpdump opens the interface before it writes
        if self.proc.returncode is not None:
            raise RuntimeError(f"tcpdump exited: see {self.path.parent / 'tcpdump.log'}")

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
