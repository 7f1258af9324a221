"""Stream framing (Content-Length on TCP), keep-alives and connection reuse."""

from __future__ import annotations

import asyncio

import pytest

from webfon.sip import ParseError, Request, ServerTransaction, StreamFramer

MSG = (b"MESSAGE sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
       b"From: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n"
       b"l: 5\r\n\r\nhello")


def test_framer_splits_and_joins() -> None:
    framer = StreamFramer()
    data = MSG + b"\r\n\r\n" + MSG + MSG[:30]
    out = []
    for i in range(0, len(data), 7):  # byte dribble
        out += framer.feed(data[i:i + 7])
    assert out == [MSG, MSG]
    assert framer.pings == 1
    assert framer.feed(MSG[30:]) == [MSG]


def test_framer_limits() -> None:
    with pytest.raises(ParseError):
        StreamFramer(max_message_size=100).feed(MSG.replace(b"l: 5", b"l: 500"))
    with pytest.raises(ParseError):
        StreamFramer(max_message_size=100).feed(b"X" * 200)
    with pytest.raises(ParseError, match="Content-Length"):
        StreamFramer().feed(MSG.replace(b"l: 5", b"l: -5"))
    with pytest.raises(ParseError, match="conflicting"):
        StreamFramer().feed(MSG.replace(b"l: 5", b"l: 5\r\nContent-Length: 6"))


async def test_tcp_server_frames_pings_and_closes_on_garbage(make_endpoint) -> None:
    ep = await make_endpoint(transports=("udp", "tcp"))
    seen: list[Request] = []

    def handler(request: Request, tx: ServerTransaction | None) -> None:
        seen.append(request)
        if tx is not None:
            tx.respond(200)

    ep.handler = handler
    reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
    port = writer.get_extra_info("sockname")[1]
    msg = MSG.replace(b"TCP h;", f"TCP 127.0.0.1:{port};".encode())
    writer.write(b"\r\n\r\n" + msg[:40])
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"  # pong
    writer.write(msg[40:])
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert head.startswith(b"SIP/2.0 200 OK") and b"Content-Length: 0" in head
    assert len(seen) == 1 and seen[0].body == b"hello"
    # garbage Content-Length: the connection is closed, the endpoint keeps running
    writer.write(MSG.replace(b"l: 5", b"l: zz"))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    assert ep.transports["tcp"].errors == 1
