"""RtpEndpoint and RtpPortAllocator on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.support.net import wait_until as wait_for
from webfon.rtp import detect, g711, tones
from webfon.rtp.endpoint import PortRangeExhausted, RtpEndpoint, RtpPortAllocator, RtpRecorder
from webfon.rtp.packet import RtpPacket, build_header, rewrite_header
from webfon.rtp.rtcp import ReceiverReport, SenderReport, parse_rtcp
from webfon.rtp.strict import SourceState, StrictSource


def free_even_port() -> int:
    """The even port at or below one the kernel just found free (the start of a range for an
    allocator)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    base = probe.getsockname()[1] & ~1
    probe.close()
    return base


def test_allocator_skips_busy_ports_and_wraps() -> None:
    base = free_even_port()
    alloc = RtpPortAllocator(base, base + 5)  # 3 pairs
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        blocker.bind(("127.0.0.1", base + 2))
    except OSError:
        blocker.close()
        pytest.fail("could not reserve the port this test needs")
    socks = []
    try:
        a = alloc.bind("127.0.0.1", rtcp=True)
        b = alloc.bind("127.0.0.1", rtcp=True)
        socks += [a, b]
        ports = [a[0].getsockname()[1], b[0].getsockname()[1]]
        assert ports == [base, base + 4]
        assert a[1] is not None and a[1].getsockname()[1] == base + 1
        with pytest.raises(PortRangeExhausted):
            alloc.bind("127.0.0.1")
        a[0].close()
        a[1].close()
        alloc.release(base)
        c = alloc.bind("127.0.0.1", rtcp=False)
        socks.append(c)
        assert c[0].getsockname()[1] == base and c[1] is None
    finally:
        blocker.close()
        for pair in socks:
            for s in pair:
                if s is not None:
                    s.close()
    with pytest.raises(ValueError):
        RtpPortAllocator(5000, 5000)


async def test_tone_stream_stats_and_rtcp() -> None:
    rec = RtpRecorder()
    rx = await RtpEndpoint.open("127.0.0.1", rtcp=True, on_rtp=rec)
    tx = await RtpEndpoint.open("127.0.0.1", rtcp=True, remote=rx.local_addr)
    try:
        sent = await tx.play(tones.tone_frames(440, 1.0, g711.PT_PCMA), g711.PT_PCMA)
        await wait_for(lambda: rec.count >= sent)
        assert sent == 50
        assert rx.remote_addr == tx.local_addr  # latched (symmetric RTP)
        assert rx.stats is not None and rx.stats.ssrc == tx.ssrc
        assert (rx.stats.received, rx.stats.lost) == (50, 0)
        assert rx.stats.jitter_ms < 20
        assert abs(detect.dominant_frequency(rec.samples(), 8000) - 440) < 2
        assert rec.payload_types == {8}
        # RTCP: tx sends an SR, rx answers with an RR that reports on tx's stream
        got_rr: list[ReceiverReport] = []
        tx.on_rtcp = lambda ep, data, addr: got_rr.extend(
            p for p in parse_rtcp(data) if isinstance(p, ReceiverReport))
        tx.send_rtcp(tx.build_report())
        await wait_for(lambda: rx.last_sender_report is not None)
        assert isinstance(rx.last_sender_report, SenderReport)
        assert rx.last_sender_report.packet_count == 50
        rx.send_rtcp(rx.build_report())
        await wait_for(lambda: bool(got_rr))
        block = got_rr[0].reports[0]
        assert block.ssrc == tx.ssrc and block.cumulative_lost == 0
        assert block.lsr == rx.last_sender_report.lsr
    finally:
        tx.close()
        rx.close()


async def test_dtmf_between_endpoints() -> None:
    rec = RtpRecorder(dtmf_payload_type=101)
    rx = await RtpEndpoint.open("127.0.0.1", on_rtp=rec)
    tx = await RtpEndpoint.open("127.0.0.1", remote=rx.local_addr)
    try:
        await tx.send_dtmf("19#", payload_type=101, duration_ms=60, gap_ms=20)
        await wait_for(lambda: len(rec.dtmf.digits) == 3)
        assert rec.digits == "19#"
        assert [e.kind for e in rec.dtmf_events] == ["start", "end"] * 3
    finally:
        tx.close()
        rx.close()


async def test_relay_rewrites_in_place() -> None:
    """A two-socket relay built from endpoints: B's traffic arrives at A with A's SSRC."""
    rec = RtpRecorder()
    sink = await RtpEndpoint.open("127.0.0.1", on_rtp=rec)
    out_leg = await RtpEndpoint.open("127.0.0.1", remote=sink.local_addr)

    def forward(ep: RtpEndpoint, data: bytes, addr: tuple[str, int]) -> None:
        buf = bytearray(data)
        rewrite_header(buf, ssrc=out_leg.ssrc)
        out_leg.send_raw(buf)

    in_leg = await RtpEndpoint.open("127.0.0.1", on_rtp=forward, track_stats=False)
    src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(5):
            src.sendto(build_header(0, i, i * 160, 1234) + bytes(160), in_leg.local_addr)
        await wait_for(lambda: rec.count == 5)
        assert sink.stats is not None and sink.stats.ssrc == out_leg.ssrc
        assert in_leg.stats is None
        # garbage is counted, not fatal
        src.sendto(b"\x00garbage", in_leg.local_addr)
        await wait_for(lambda: in_leg.invalid_received == 1)
        assert RtpPacket.parse(build_header(0, 1, 1, 1)).seq == 1
    finally:
        src.close()
        for ep in (sink, out_leg, in_leg):
            ep.close()


async def test_pooled_sockets_reused_after_the_idle_time_and_drop_packets_meanwhile() -> None:
    base = free_even_port()
    alloc = RtpPortAllocator(base, base + 39, pool_size=2, reuse_after=0.2)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(2.0)
    packet = build_header(8, 1, 160, 1234) + b"\xd5" * 160
    try:
        first = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True)
        port = first.port
        first.close()
        assert alloc.pooled == 1 and alloc.in_use == 1  # kept bound, port not handed out
        peer.sendto(packet, ("127.0.0.1", port))  # a late packet of the old call: dropped
        fresh = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True)
        assert fresh.port != port and alloc.reused == 0  # still idle too briefly
        await asyncio.sleep(0.25)
        got: list[bytes] = []
        again = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True,
                                       on_rtp=lambda ep, data, addr: got.append(data))
        assert again.port == port and alloc.reused == 1 and alloc.pooled == 0
        assert again.packets_received == 0 and again.remote_addr is None
        peer.sendto(packet, ("127.0.0.1", port))
        await wait_for(lambda: bool(got), 2.0)
        assert got == [packet] and again.remote_addr == peer.getsockname()  # latched anew
        rtcp_got: list[bytes] = []
        again.on_rtcp = lambda ep, data, addr: rtcp_got.append(data)
        report = ReceiverReport(99, []).build()
        peer.sendto(report, ("127.0.0.1", port + 1))
        await wait_for(lambda: bool(rtcp_got), 2.0)
        again.send_raw(b"x" * 20)
        assert peer.recv(100) == b"x" * 20
        # a full pool closes what it cannot keep; close_pool frees every kept port
        for ep in (again, fresh, await RtpEndpoint.open("127.0.0.1", allocator=alloc)):
            ep.close()
        assert alloc.pooled == 2 and alloc.in_use == 2
        alloc.close_pool()
        assert alloc.pooled == 0 and alloc.in_use == 0
    finally:
        peer.close()
        alloc.close_pool()


async def test_full_range_takes_a_pooled_pair_before_its_idle_time() -> None:
    base = free_even_port()
    alloc = RtpPortAllocator(base, base + 3, pool_size=4, reuse_after=60)  # 2 pairs
    a = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True)
    b = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True)
    a.close()
    c = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True)
    assert c.port == a.port and alloc.reused == 1
    with pytest.raises(PortRangeExhausted):
        await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True)
    b.close()
    c.close()
    alloc.close_pool()
    assert alloc.in_use == 0


def test_a_closed_endpoint_is_freed_without_the_collector() -> None:
    """A closed endpoint, with or without a pool to keep its sockets, must not stay reachable
    from its sockets' readiness callbacks (nor, with uvloop, from anything a closed socket
    leaves behind), or every call's endpoints wait in a reference cycle for a full
    collection."""
    import gc
    import weakref

    import uvloop

    async def main() -> list[weakref.ref[RtpEndpoint]]:
        refs = []
        pooled = RtpPortAllocator(40000, 40099, pool_size=1)
        for allocator in (None, pooled, pooled):  # the pool takes one pair, not the second
            ep = await RtpEndpoint.open("127.0.0.1", allocator=allocator, rtcp=True)
            refs.append(weakref.ref(ep))
        for ref in refs:
            endpoint = ref()
            assert endpoint is not None
            endpoint.close()
            del endpoint
        await asyncio.sleep(0.05)  # the transports finish closing
        pooled.close_pool()
        await asyncio.sleep(0.05)
        return refs

    gc.collect()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            refs = runner.run(main())
            assert [ref() for ref in refs] == [None, None, None]
    finally:
        gc.enable()


def udp(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    sock.settimeout(2.0)
    return sock


async def strict_endpoint(got: list[bytes], *, probation: int) -> RtpEndpoint:
    """An endpoint on a port of its own choosing (so it can be connected), with strict RTP
    (a 0.2 s window), keeping what it receives in ``got``."""
    base = free_even_port()
    return await RtpEndpoint.open("127.0.0.1", allocator=RtpPortAllocator(base, base + 9),
                                  rtcp=True, strict=StrictSource(window=0.2,
                                                                 probation=probation),
                                  on_rtp=lambda e, data, addr: got.append(data))


async def test_once_locked_the_source_is_the_only_sender_the_kernel_delivers() -> None:
    """After strict RTP's window the endpoint's socket is connected to the source: a
    stranger's datagrams are refused by the kernel (its socket hears ECONNREFUSED), the
    source's still arrive, and what the endpoint sends still reaches it. A new address from
    signalling opens the socket to anyone again."""
    got: list[bytes] = []
    ep = await strict_endpoint(got, probation=0)
    phone, stranger, moved = udp(), udp(), udp()
    stranger.connect(ep.local_addr)  # (a connected socket is told of the ICMP refusal)
    try:
        ep.expect_remote(phone.getsockname())
        for seq in range(3):
            phone.sendto(build_header(8, seq, seq * 160, 77) + bytes(160), ep.local_addr)
        await wait_for(lambda: len(got) == 3)
        await wait_for(lambda: ep.strict is not None and ep.strict.state is SourceState.LOCKED
                       and ep.remote_addr == phone.getsockname(), 2.0)
        await asyncio.sleep(0.1)  # the timer that locked it also connected the socket
        stranger.send(build_header(8, 1, 160, 99) + b"\x55" * 160)
        with pytest.raises(ConnectionRefusedError):
            for _ in range(20):
                stranger.send(build_header(8, 2, 320, 99) + b"\x55" * 160)
                await asyncio.sleep(0.01)
        phone.sendto(build_header(8, 3, 480, 77) + bytes(160), ep.local_addr)
        await wait_for(lambda: len(got) == 4)
        assert all(data[8:12] == (77).to_bytes(4, "big") for data in got)
        ep.send_raw(b"y" * 20)
        assert phone.recv(100) == b"y" * 20
        # a re-INVITE names another address: learning again, from anyone
        ep.expect_remote(moved.getsockname())
        moved.sendto(build_header(8, 1, 160, 55) + bytes(160), ep.local_addr)
        await wait_for(lambda: len(got) == 5)
        assert got[-1][8:12] == (55).to_bytes(4, "big")
        ep.send_raw(b"z" * 20)
        assert moved.recv(100) == b"z" * 20
    finally:
        ep.close()
        for sock in (phone, stranger, moved):
            sock.close()


async def test_signalling_naming_the_nat_source_leaves_the_socket_connected() -> None:
    """A phone behind NAT, learned and locked; a re-INVITE then names the address it sends
    from: the socket stays connected to it (a stranger is still refused by the kernel)."""
    got: list[bytes] = []
    ep = await strict_endpoint(got, probation=4)
    phone, stranger, sdp = udp(), udp(), udp()
    stranger.connect(ep.local_addr)
    try:
        ep.expect_remote(sdp.getsockname())  # the private address its SDP names
        for seq in range(4):
            phone.sendto(build_header(8, seq, seq * 160, 77) + bytes(160), ep.local_addr)
            await asyncio.sleep(0.02)
        await wait_for(lambda: ep.strict is not None and ep.strict.state is SourceState.LOCKED
                       and ep.remote_addr == phone.getsockname(), 2.0)
        await asyncio.sleep(0.1)
        ep.expect_remote(phone.getsockname())
        assert ep.strict is not None and ep.strict.state is SourceState.LOCKED
        with pytest.raises(ConnectionRefusedError):
            for _ in range(20):
                stranger.send(build_header(8, 2, 320, 99) + b"\x55" * 160)
                await asyncio.sleep(0.01)
        ep.send_raw(b"y" * 20)
        assert phone.recv(100) == b"y" * 20
        assert all(data[8:12] == (77).to_bytes(4, "big") for data in got)
    finally:
        ep.close()
        for sock in (phone, stranger, sdp):
            sock.close()


async def test_a_port_the_kernel_chose_is_not_connected_and_strangers_are_counted() -> None:
    """Disconnecting a socket gives up a port the kernel chose: such an endpoint keeps
    filtering in its own code (strangers counted as dropped) after the window."""
    got: list[bytes] = []
    ep = await RtpEndpoint.open("127.0.0.1", strict=StrictSource(window=0.1, probation=0),
                                on_rtp=lambda e, data, addr: got.append(data))
    phone, stranger = udp(), udp()
    try:
        ep.expect_remote(phone.getsockname())
        phone.sendto(build_header(8, 1, 160, 1) + bytes(160), ep.local_addr)
        await wait_for(lambda: len(got) == 1)
        await asyncio.sleep(0.3)
        stranger.sendto(build_header(8, 1, 160, 2) + bytes(160), ep.local_addr)
        await wait_for(lambda: ep.strict is not None and ep.strict.dropped == 1)
        phone.sendto(build_header(8, 2, 320, 1) + bytes(160), ep.local_addr)
        await wait_for(lambda: len(got) == 2)
    finally:
        ep.close()
        phone.close()
        stranger.close()


async def test_a_connected_socket_goes_back_to_the_pool_open_to_anyone() -> None:
    base = free_even_port()
    alloc = RtpPortAllocator(base, base + 3, pool_size=2, reuse_after=0.0)
    first_phone, next_phone = udp(), udp()
    try:
        first = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True,
                                       strict=StrictSource(window=0.1, probation=0))
        first.expect_remote(first_phone.getsockname())
        first_phone.sendto(build_header(8, 1, 160, 1) + bytes(160), first.local_addr)
        await wait_for(lambda: first.strict is not None
                       and first.strict.state is SourceState.LOCKED, 2.0)
        await asyncio.sleep(0.1)
        port = first.port
        first.close()
        got: list[bytes] = []
        again = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True,
                                       on_rtp=lambda e, data, addr: got.append(data))
        assert again.port == port and alloc.reused == 1
        next_phone.sendto(build_header(8, 1, 160, 2) + bytes(160), again.local_addr)
        await wait_for(lambda: len(got) == 1)
        assert again.remote_addr == next_phone.getsockname()
        again.close()
    finally:
        alloc.close_pool()
        first_phone.close()
        next_phone.close()


@pytest.mark.parametrize("loop_factory", ["asyncio", "uvloop"])
def test_a_refused_datagram_does_not_stop_the_socket_being_read(loop_factory: str) -> None:
    """A connected socket is told when a datagram it sent was refused (ICMP port
    unreachable: the phone's port closed, as at the end of a call while the relay still
    sends). The socket must go on being read — in the call, and by the next call that takes
    it from the pool — on asyncio's loop and on uvloop's, which stops watching a descriptor
    that reported an error."""
    import uvloop

    async def main() -> None:
        base = free_even_port()
        alloc = RtpPortAllocator(base, base + 3, pool_size=2, reuse_after=0.0)
        got: list[bytes] = []
        phone, next_phone = udp(), udp()
        where = phone.getsockname()
        first = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True,
                                       strict=StrictSource(window=0.1, probation=0),
                                       on_rtp=lambda e, data, addr: got.append(data))
        try:
            first.expect_remote(where)
            phone.sendto(build_header(8, 1, 160, 1) + bytes(160), first.local_addr)
            await wait_for(lambda: first.strict is not None
                           and first.strict.state is SourceState.LOCKED, 2.0)
            await asyncio.sleep(0.1)  # connected to the phone by now
            phone.close()
            first.send_raw(b"x" * 20)  # refused: the phone's port is closed
            await wait_for(lambda: first.errors == 1)
            phone = udp(*where)  # the phone is back on its port: still heard
            phone.sendto(build_header(8, 2, 320, 1) + bytes(160), first.local_addr)
            await wait_for(lambda: len(got) == 2)
            phone.close()
            first.send_raw(b"x" * 20)  # refused again, now told while the pair is pooled
            first.close()
            await asyncio.sleep(0.1)
            again = await RtpEndpoint.open("127.0.0.1", allocator=alloc, rtcp=True,
                                           on_rtp=lambda e, data, addr: got.append(data))
            assert again.port == first.port and alloc.reused == 1
            next_phone.sendto(build_header(8, 1, 160, 2) + bytes(160), again.local_addr)
            await wait_for(lambda: len(got) == 3)
            again.close()
        finally:
            first.close()
            alloc.close_pool()
            phone.close()
            next_phone.close()

    factory = uvloop.new_event_loop if loop_factory == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


async def test_statistics_from_a_sample_are_exact_when_read() -> None:
    """The receiver statistics take one packet in eight as it arrives; read, they count
    every packet, the losses and the highest sequence number exactly. A new SSRC starts them
    afresh from its first packet they take."""
    rx = await RtpEndpoint.open("127.0.0.1")
    src = udp()
    try:
        sent = [seq for seq in range(1000, 1061) if seq not in (1010, 1033, 1034)]
        for seq in sent:
            src.sendto(build_header(8, seq, seq * 160, 42) + bytes(160), rx.local_addr)
        await wait_for(lambda: rx.packets_received == len(sent))
        stats = rx.stats
        assert stats is not None and stats.ssrc == 42
        assert (stats.received, stats.lost, stats.max_seq) == (58, 3, 1060)
        assert stats.octets == 58 * 172
        for seq in range(5):
            src.sendto(build_header(8, seq, seq * 160, 43) + bytes(160), rx.local_addr)
        await wait_for(lambda: rx.packets_received == len(sent) + 5)
        stats = rx.stats
        assert stats is not None and stats.ssrc == 43
        assert (stats.received, stats.lost, stats.max_seq) == (1, 0, 4)
        for seq in range(5, 30):
            src.sendto(build_header(8, seq, seq * 160, 43) + bytes(160), rx.local_addr)
        await wait_for(lambda: rx.packets_received == len(sent) + 30)
        stats = rx.stats
        assert stats is not None and (stats.received, stats.lost, stats.max_seq) == (26, 0, 29)
    finally:
        rx.close()
        src.close()
