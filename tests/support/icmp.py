"""Forged ICMP errors: what an attacker on the path sends to make a UDP socket believe its
peer has gone ("port unreachable"). Needs a raw socket (root), as the tests' network
namespaces do."""

from __future__ import annotations

import socket
import struct

Addr = tuple[str, int]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def forge_port_unreachable(local: Addr, remote: Addr, size: int = 172) -> None:
    """Send ``local``'s host an ICMP "port unreachable" that quotes a UDP datagram of ``size``
    bytes from ``local`` to ``remote``: the kernel hands it to the socket connected from
    ``local`` to ``remote`` (``ECONNREFUSED`` on its next read or write)."""
    quoted = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + size, 0, 0x4000, 64,
                         socket.IPPROTO_UDP, 0, socket.inet_aton(local[0]),
                         socket.inet_aton(remote[0]))
    quoted += struct.pack("!HHHH", local[1], remote[1], 8 + size, 0)
    header = struct.pack("!BBHI", 3, 3, 0, 0)  # destination unreachable: port
    header = struct.pack("!BBHI", 3, 3, _checksum(header + quoted), 0)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        raw.sendto(header + quoted, (local[0], 0))
    finally:
        raw.close()
