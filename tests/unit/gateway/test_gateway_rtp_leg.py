"""The plain RTP leg's relay: payload types remapped, WebRTC header extensions stripped,
SSRC replaced, payload untouched, hold directions honoured, symmetric RTP latching."""

from __future__ import annotations

import asyncio
import socket
import struct

from gateway.media.ports import PortAllocator
from gateway.media.rtp_leg import RtpLeg
from webfon.rtp.packet import RtpPacket, build_header


class FakeBridge:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.handler = None
        self.audio = None

    def link(self, leg: RtpLeg) -> None:
        self.handler = leg._from_webrtc

    def unlink(self, leg: RtpLeg) -> None:
        self.handler = None

    def send_rtp(self, packet: bytearray) -> None:
        self.sent.append(bytes(packet))


def with_extension(pt: int, seq: int, payload: bytes) -> bytes:
    header = bytearray(build_header(pt, seq, 1000, 0x11111111, marker=True))
    header[0] |= 0x10
    ext = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xff\x00\x00"
    return bytes(header) + ext + payload


async def test_relay_both_ways() -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    leg = RtpLeg(PortAllocator((41000, 41999)), "127.0.0.1")
    port = await leg.open()
    assert 41000 <= port <= 41999 and port % 2 == 0
    bridge = FakeBridge()
    leg.configure(peer.getsockname(), {0: 111, 101: 126}, sip_dtmf_pt=101)
    leg.attach(bridge)
    loop = asyncio.get_running_loop()
    try:
        payload = bytes(range(160))
        bridge.handler(with_extension(111, 7, payload))
        data = await asyncio.wait_for(loop.sock_recv(peer, 2048), 2)
        pkt = RtpPacket.parse(data)
        assert (pkt.payload_type, pkt.seq, pkt.ssrc, pkt.payload) == (0, 7, leg.ssrc, payload)
        assert pkt.extension_profile is None and pkt.marker
        bridge.handler(bytes(build_header(126, 8, 1000, 5)) + b"\x05\x0a\x00\xa0")
        data = await asyncio.wait_for(loop.sock_recv(peer, 2048), 2)
        assert RtpPacket.parse(data).payload_type == 101
        bridge.handler(bytes(build_header(96, 9, 1000, 5)) + b"x")  # not negotiated: dropped

        await loop.sock_sendto(peer, bytes(build_header(0, 50, 160, 42)) + payload,
                               ("127.0.0.1", port))
        for _ in range(50):
            if bridge.sent:
                break
            await asyncio.sleep(0.01)
        out = RtpPacket.parse(bridge.sent[0])
        assert (out.payload_type, out.seq, out.payload) == (111, 50, payload)
        assert leg.describe()["packets_from_sip"] == 1

        leg.send_enabled = False  # e.g. we put the call on hold with recvonly
        bridge.handler(bytes(build_header(111, 10, 1000, 5)) + payload)
        leg.recv_enabled = False
        await loop.sock_sendto(peer, bytes(build_header(0, 51, 320, 42)) + payload,
                               ("127.0.0.1", port))
        await asyncio.sleep(0.1)
        assert len(bridge.sent) == 1
        peer_has_more = True
        try:
            peer.recv(2048)
        except BlockingIOError:
            peer_has_more = False
        assert not peer_has_more
    finally:
        leg.close()
        peer.close()


async def test_latches_to_the_real_source() -> None:
    leg = RtpLeg(PortAllocator(None), "127.0.0.1")
    port = await leg.open()
    bridge = FakeBridge()
    leg.configure(("127.0.0.1", 9), {0: 0})
    leg.attach(bridge)
    nat = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    nat.bind(("127.0.0.1", 0))
    try:
        # behind NAT the phone sends from elsewhere than its SDP: a few packets in sequence
        # from one source make it the remote (strict RTP's learning, not the first packet)
        for seq in range(1, 5):
            nat.sendto(bytes(build_header(0, seq, 160 * seq, 1)) + b"\xff" * 160,
                       ("127.0.0.1", port))
            await asyncio.sleep(0.02)  # a phone's pace
        for _ in range(50):
            if leg.remote != ("127.0.0.1", 9):
                break
            await asyncio.sleep(0.01)
        assert leg.remote == nat.getsockname()
        assert len(bridge.sent) == 1  # the probation packets before it are not relayed
    finally:
        leg.close()
        nat.close()
