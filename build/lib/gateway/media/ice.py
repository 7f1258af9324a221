"""ICE policy for every aiortc peer connection in the process.

aioice gathers host candidates on every interface except 127.0.0.1 and binds random ports. The
gateway instead uses the configured addresses (``ice_addresses`` or ``local_ip``) and the
configured port range, and never contacts a STUN/TURN server that is not in its settings.
"""

from __future__ import annotations

import asyncio
import types
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from gateway.media.ports import PortAllocator

_state: dict[str, Any] = {"addresses": None, "allocator": None}
_original_get_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _state["addresses"]
    if addresses is None:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


class _RangeLoop:
    """A view of the running loop whose UDP binds to port 0 pick a port from the range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, allocator: PortAllocator) -> None:
        self._loop = loop
        self._allocator = allocator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None,
                                       **kwargs: Any) -> Any:
        if local_addr is not None and local_addr[1] == 0:
            return await self._allocator.bind_udp(factory, local_addr[0], **kwargs)
        return await self._loop.create_datagram_endpoint(factory, local_addr=local_addr,
                                                         **kwargs)


class _AsyncioView(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        allocator = _state["allocator"]
        return _RangeLoop(loop, allocator) if allocator is not None else loop


def configure_ice(addresses: list[str] | None, port_range: tuple[int, int] | None) -> None:
    """Apply the host addresses and port range to aioice (process-wide)."""
    _state["addresses"] = list(addresses) if addresses is not None else None
    _state["allocator"] = PortAllocator(port_range) if port_range else None
    aioice.ice.get_host_addresses = _host_addresses
    if port_range:
        aioice.ice.asyncio = _AsyncioView("asyncio")
    else:
        aioice.ice.asyncio = asyncio


def reset_ice() -> None:
    """Undo :func:`configure_ice` (tests that run several gateways in one process)."""
    _state["addresses"] = None
    _state["allocator"] = None
    aioice.ice.get_host_addresses = _original_get_host_addresses
    aioice.ice.asyncio = asyncio


def rtc_configuration(stun_server: str = "", turn_server: str = "", turn_username: str = "",
                      turn_password: str = "", turn_transport: str = "udp",
                      policy: str = "all") -> RTCConfiguration:
    servers: list[RTCIceServer] = []
    if stun_server:
        servers.append(RTCIceServer(urls=f"stun:{stun_server}"))
    if turn_server:
        servers.append(RTCIceServer(urls=f"turn:{turn_server}?transport={turn_transport}",
                                    username=turn_username or None,
                                    credential=turn_password or None))
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=(
        RTCIceTransportPolicy.RELAY if policy == "relay" else RTCIceTransportPolicy.ALL))
