"""UDP port allocation inside the configured ``rtp_port_range`` (ICE and plain RTP alike)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from typing import Any

# RTP uses even ports by convention; ICE host candidates may use any port.


class PortAllocator:
    def __init__(self, port_range: tuple[int, int] | None) -> None:
        self.port_range = port_range

    async def bind_udp(self, factory: Callable[[], asyncio.DatagramProtocol], host: str,
                       even: bool = False, **kwargs: Any
                       ) -> tuple[asyncio.DatagramTransport, asyncio.DatagramProtocol]:
        loop = asyncio.get_running_loop()
        if self.port_range is None:
            return await loop.create_datagram_endpoint(factory, local_addr=(host, 0), **kwargs)
        low, high = self.port_range
        candidates = list(range(low, high + 1, 2 if even else 1))
        if even and low % 2:
            candidates = list(range(low + 1, high + 1, 2))
        random.shuffle(candidates)
        last: OSError | None = None
        for port in candidates[:200]:
            try:
                return await loop.create_datagram_endpoint(factory, local_addr=(host, port),
                                                           **kwargs)
            except OSError as exc:
                last = exc
        raise OSError(f"no free UDP port in {low}-{high} on {host}: {last}")


def set_socket_buffers(transport: asyncio.BaseTransport, size: int = 1 << 20) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError:
            pass
