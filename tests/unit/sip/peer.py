"""A raw UDP/TCP peer for tests: sends bytes, records what it receives with timestamps."""

from __future__ import annotations

import asyncio
import time

from webfon.sip import Request, Response, parse_message


class UdpPeer(asyncio.DatagramProtocol):
    """Loopback UDP socket that queues every parsed datagram it receives."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[float, Request | Response, bytes]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> UdpPeer:
        """A peer on ``host`` (another loopback address, 127.0.0.2…, is another source)."""
        loop = asyncio.get_running_loop()
        peer = cls()
        transport, _ = await loop.create_datagram_endpoint(lambda: peer,
                                                           local_addr=(host, 0))
        peer.transport = transport
        peer.port = transport.get_extra_info("sockname")[1]
        return peer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((time.monotonic(), parse_message(data), data))

    def send(self, data: bytes | str, port: int) -> None:
        assert self.transport is not None
        raw = data.encode() if isinstance(data, str) else data
        self.transport.sendto(raw, ("127.0.0.1", port))

    async def recv(self, timeout: float = 3.0) -> Request | Response:
        return (await asyncio.wait_for(self.queue.get(), timeout))[1]

    async def recv_timed(self, timeout: float = 3.0) -> tuple[float, Request | Response]:
        t, msg, _ = await asyncio.wait_for(self.queue.get(), timeout)
        return t, msg

    async def expect_silence(self, duration: float) -> None:
        try:
            _, msg, _ = await asyncio.wait_for(self.queue.get(), duration)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message: {msg!r}")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def request_text(method: str, port: int, *, branch: str = "z9hG4bKpeer1", cseq: int = 1,
                 call_id: str = "call-1", to_tag: str | None = None, from_tag: str = "ft",
                 extra: str = "", body: str = "", target_port: int = 5060,
                 cseq_method: str | None = None) -> str:
    """A request as a peer at 127.0.0.1:``port`` would send it."""
    to = "<sip:uas@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (f"{method} sip:uas@127.0.0.1:{target_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:peer@127.0.0.1>;tag={from_tag}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\n"
            f"Contact: <sip:peer@127.0.0.1:{port}>\r\n"
            f"{extra}"
            f"Content-Length: {len(body)}\r\n\r\n{body}")


def response_to(request: Request, status: int, *, to_tag: str | None = "peer-tag",
                reason: str | None = None) -> bytes:
    resp = request.create_response(status, reason, to_tag=to_tag)
    if 200 <= status < 300:
        resp.headers.add("Contact", "<sip:peer@127.0.0.1>")
    return resp.encode()
