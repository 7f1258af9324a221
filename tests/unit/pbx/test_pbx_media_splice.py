"""What the PBX relays to a leg after playing to it continues the leg's own stream (one SSRC,
sequence numbers and timestamps carried on, the marker at each switch); legs never played to
get the relayed packets untouched. Relayed sender reports follow the stream."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from pbx.media import Leg, connect
from webfon.rtp.endpoint import RtpEndpoint
from webfon.rtp.packet import build_header


class Phone:
    """A UDP socket standing for a phone: sends RTP to its leg, collects what arrives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    @property
    def addr(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def send(self, leg: Leg, seq: int, ts: int, ssrc: int) -> None:
        self.sock.sendto(build_header(8, seq, ts, ssrc, False) + bytes(160),
                         ("127.0.0.1", leg.port))

    async def headers(self, count: int) -> list[tuple[bool, int, int, int]]:
        """(marker, seq, timestamp, ssrc) of the next ``count`` packets."""
        loop = asyncio.get_running_loop()
        out = []
        for _ in range(count):
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 2048), 2)
            out.append((bool(data[1] & 0x80), int.from_bytes(data[2:4], "big"),
                        int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big")))
        return out


@pytest.fixture
async def legs() -> AsyncIterator[tuple[Leg, Leg, Phone, Phone]]:
    a = Leg(await RtpEndpoint.open("127.0.0.1"), "a")
    b = Leg(await RtpEndpoint.open("127.0.0.1"), "b")
    pa, pb = Phone(), Phone()
    a.set_remote(*pa.addr)
    b.set_remote(*pb.addr)
    connect(a, b)
    try:
        yield a, b, pa, pb
    finally:
        a.close()
        b.close()
        pa.sock.close()
        pb.sock.close()


async def relay(pa: Phone, a: Leg, pb: Phone, seqs: range, ts0: int, ssrc: int
                ) -> list[tuple[bool, int, int, int]]:
    for i, seq in enumerate(seqs):
        pa.send(a, seq, ts0 + 160 * i, ssrc)
        await asyncio.sleep(0.005)
    return await pb.headers(len(seqs))


async def test_a_leg_never_played_to_gets_the_packets_untouched(
        legs: tuple[Leg, Leg, Phone, Phone]) -> None:
    a, _b, pa, pb = legs
    got = await relay(pa, a, pb, range(100, 103), 5000, 0xAAAA)
    assert got == [(False, 100 + i, 5000 + 160 * i, 0xAAAA) for i in range(3)]


async def test_after_a_prompt_relayed_packets_continue_the_legs_stream(
        legs: tuple[Leg, Leg, Phone, Phone]) -> None:
    a, b, pa, pb = legs
    ep = b.endpoint
    ep.seq, ep.timestamp = 60000, 1000  # the relayed stream's numbers are far behind
    await b.play([bytes(160)] * 3)  # ringback, a prompt…
    played = await pb.headers(3)
    assert [h[1] for h in played] == [60000, 60001, 60002]
    assert {h[3] for h in played} == {ep.ssrc}
    got = await relay(pa, a, pb, range(100, 103), 5000, 0xAAAA)
    # one stream for the phone: our SSRC, numbers on from the prompt's, marker at the switch
    assert got == [(i == 0, 60003 + i, 1480 + 160 * i, ep.ssrc) for i in range(3)]
    # another source (a transfer) continues it too; so does what we play next
    got = await relay(pa, a, pb, range(7, 9), 90, 0xBBBB)
    assert got == [(i == 0, 60006 + i, 1960 + 160 * i, ep.ssrc) for i in range(2)]
    await b.play([bytes(160)])
    assert (await pb.headers(1))[0][1:] == (60008, 2280, ep.ssrc)
    got = await relay(pa, a, pb, range(9, 10), 410, 0xBBBB)
    assert got == [(True, 60009, 2440, ep.ssrc)]


def sender_report(ssrc: int) -> bytes:
    return bytes((0x80, 200, 0, 6)) + ssrc.to_bytes(4, "big") + bytes(range(1, 21))


async def test_relayed_sender_reports_follow_the_stream(
        legs: tuple[Leg, Leg, Phone, Phone]) -> None:
    a, b, pa, pb = legs
    loop = asyncio.get_running_loop()
    pa.sock.sendto(sender_report(0xAAAA), ("127.0.0.1", a.port))
    assert await asyncio.wait_for(loop.sock_recv(pb.sock, 2048), 2) == sender_report(0xAAAA)
    await b.play([bytes(160)])
    await pb.headers(1)
    # spliced: the report is in the leg's SSRC's name (the phone's reports echo it), the rest
    # as sent
    pa.sock.sendto(sender_report(0xAAAA), ("127.0.0.1", a.port))
    got = await asyncio.wait_for(loop.sock_recv(pb.sock, 2048), 2)
    assert got == sender_report(b.endpoint.ssrc)
