"""Free loopback ports and bounded waiting."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import socket
import time
from collections.abc import Callable

HOST = "127.0.0.1"


def free_port(kind: str = "udp", host: str = HOST) -> int:
    """A port that is free right now for ``kind`` "udp", "tcp" or "both" on ``host``."""
    for _ in range(200):
        with contextlib.ExitStack() as stack:
            kinds = ("udp", "tcp") if kind == "both" else (kind,)
            first = stack.enter_context(_sock(kinds[0]))
            first.bind((host, 0))
            port = first.getsockname()[1]
            ok = True
            for other in kinds[1:]:
                s = stack.enter_context(_sock(other))
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
            if ok:
                return port
    raise RuntimeError(f"no free {kind} port on {host}")


def free_port_block(count: int, kind: str = "udp", host: str = HOST, even: bool = True) -> int:
    """First port of ``count`` consecutive free ports (even first port by default); e.g. RTP
    + RTCP, or sipp's media port and the +2 port it also binds."""
    for _ in range(200):
        base = free_port(kind, host)
        if even:
            base &= ~1
        if base + count > 65535 or base < 1024:
            continue
        with contextlib.ExitStack() as stack:
            try:
                for p in range(base, base + count):
                    s = stack.enter_context(_sock(kind))
                    s.bind((host, p))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no block of {count} free {kind} ports on {host}")


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def listen_port(kind: str = "tcp", host: str = HOST, count: int = 1,
                taken: set[int] | None = None) -> int:
    """First of ``count`` consecutive ports free now and outside the kernel's ephemeral
    range: for a server that binds it some time later (after other processes started), which
    an outgoing connection's local port could otherwise have taken meanwhile. Ports already
    handed out for the same set of servers (``taken``, updated) are never given twice."""
    taken = set() if taken is None else taken
    pick = random.SystemRandom()
    high = _ephemeral_low() - count
    for _ in range(500):
        base = pick.randrange(10_000, high)
        block = range(base, base + count)
        if taken.intersection(block):
            continue
        with contextlib.ExitStack() as stack:
            try:
                for p in block:
                    for k in (("udp", "tcp") if kind == "both" else (kind,)):
                        stack.enter_context(_sock(k)).bind((host, p))
            except OSError:
                continue
        taken.update(block)
        return base
    raise RuntimeError(f"no block of {count} free {kind} ports below {high} on {host}")


def _sock(kind: str) -> socket.socket:
    if kind == "udp":
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if kind == "tcp":
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raise ValueError(f"unknown port kind {kind!r}")


async def wait_until(cond: Callable[[], object], timeout: float = 10.0,
                     interval: float = 0.02, message: str = "condition") -> None:
    """Poll ``cond`` (a function returning a value or an awaitable of one) until its value is
    true; raise ``TimeoutError`` naming ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = cond()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {message}")
        await asyncio.sleep(interval)


async def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until a TCP port accepts connections."""

    async def probe() -> bool:
        try:
            _r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (OSError, TimeoutError):
            return False
        w.close()
        with contextlib.suppress(OSError):
            await w.wait_closed()
        return True

    await wait_until(probe, timeout, 0.05, f"TCP {host}:{port}")
