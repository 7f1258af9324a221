"""The gateway ⇄ media worker channel: messages in order, sockets passed, closing noticed."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from gateway.media.channel import Channel


async def test_messages_and_sockets_cross_in_order() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    got: list[tuple[tuple[Any, ...], list[int]]] = []
    arrived = asyncio.Event()

    def received(message: tuple[Any, ...], fds: list[int]) -> None:
        got.append((message, fds))
        if message[0] == "last":
            arrived.set()

    sender = Channel(left, lambda m, f: None)
    receiver = Channel(right, received)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    sender.send(("open", 1, {"remote": ("127.0.0.1", 9)}), [udp.fileno()])
    udp_name = udp.getsockname()
    udp.close()  # the channel kept its own copy until it went out
    for i in range(2000):  # more than the socket buffer holds at once: queued, not lost
        sender.send(("packet", i, b"x" * 200))
    sender.send(("last", 0))
    await asyncio.wait_for(arrived.wait(), 10)
    (first, fds), *rest = got
    assert first == ("open", 1, {"remote": ("127.0.0.1", 9)}) and len(fds) == 1
    passed = socket.socket(fileno=fds[0])
    assert passed.getsockname() == udp_name
    passed.close()
    assert [m[1] for m, _ in rest[:-1]] == list(range(2000))
    sender.close()
    receiver.close()


async def test_the_other_end_closing_is_reported() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    closed = asyncio.Event()
    channel = Channel(left, lambda m, f: None, closed.set)
    right.close()
    await asyncio.wait_for(closed.wait(), 5)
    assert channel.closed
    channel.send(("ignored", 1))  # sending on a closed channel is a no-op


async def test_an_oversized_message_is_refused() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    channel = Channel(left, lambda m, f: None)
    with pytest.raises(ValueError):
        channel.send(("big", b"x" * 70000))
    channel.close()
    right.close()
