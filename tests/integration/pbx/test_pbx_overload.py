"""Overload control: while the PBX's event loop lags beyond ``overload_lag_ms``, a new call and
a new registration get ``503`` with ``Retry-After`` (nobody rings), the call already in
progress is served (its BYE gets 200), and once the lag has stayed low for
``overload_recover_s`` calls are taken again. The PBX reports the lag and the 503s sent
(``/control/stats``: ``overload``)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from pbx.overload import Overload
from tests.integration.pbx.pbxrun import start_pbx, stop_pbx
from tests.integration.pbx.test_pbx_routing_features import answered_call
from tests.support.net import wait_until
from webfon.sip.transport import UdpTransport

RETRY_AFTER_S = 7


async def test_a_lagging_loop_turns_new_calls_away_and_keeps_the_admitted_ones(
        tmp_path: Path) -> None:
    pbx = await start_pbx(tmp_path, overload_lag_ms=80.0, overload_recover_s=1.0,
                          overload_retry_after_s=RETRY_AFTER_S)
    try:
        a = await pbx.registered("2001")
        b = await pbx.registered("2002")
        c = await pbx.registered("2003")
        first = await answered_call(pbx, a, "1002", b)
        assert not pbx.engine.overload.overloaded
        # one stall the loop catches up with turns nobody away
        time.sleep(0.4)
        await asyncio.sleep(0.3)
        assert not pbx.engine.overload.overloaded
        # the loop (the PBX's, shared with this test) stays behind, as under more work than
        # it can do: every turn comes 0.15 s late for over a second
        for _ in range(8):
            time.sleep(0.15)
            await asyncio.sleep(0)
        await wait_until(lambda: pbx.engine.overload.overloaded, timeout=1,
                         message="the lag to be noticed")
        second = c.dial("1002", pbx.host, pbx.port)
        resp = await second.wait_answer(5)
        assert resp.status == 503
        assert resp.headers.get("Retry-After") == str(RETRY_AFTER_S)
        late = await pbx.phone("2004")
        assert (await late.register(refresh=False)).status == 503
        assert not b.ua.incoming.qsize()
        # the admitted call is served: its BYE goes through while new work is turned away
        assert pbx.engine.overload.overloaded
        bye = await first.bye()
        assert bye is not None and bye.status == 200
        snap = pbx.engine.stats_snapshot()
        assert snap["overload"]["shed"] == 2 and snap["overload"]["max_lag_ms"] >= 300
        # calm again: new calls are taken
        await wait_until(lambda: not pbx.engine.overload.overloaded, timeout=5,
                         message="the overload to clear")
        third = await answered_call(pbx, c, "1002", b)
        await third.bye()
        await wait_until(lambda: not pbx.engine.calls, timeout=5)
    finally:
        await stop_pbx(pbx)


async def test_the_probe_times_a_datagram_through_the_sip_socket_queue() -> None:
    """The probe's datagram is read by the SIP transport (not parsed as SIP): its delay is
    the time it waited in the socket's queue, and while it waits its age counts."""
    received: list[bytes] = []
    udp = UdpTransport(lambda data, *_: received.append(data))
    await udp.start("127.0.0.1", 0)
    overload = Overload(lag_ms=100.0, retry_after_s=5, recover_s=1.0)
    try:
        overload.attach(udp)
        assert overload._probe_lag(time.monotonic()) == 0.0  # sends the first probe
        time.sleep(0.25)  # nothing reads the socket meanwhile
        assert overload._probe_lag(time.monotonic()) >= 250  # still queued: its age
        await wait_until(lambda: overload._probe_sent is None, timeout=2,
                         message="the probe to be read")
        assert overload._probe_lag_ms >= 250 and not received
    finally:
        overload.close()
        await udp.close()
    assert not udp.taps


async def test_no_probe_while_no_sip_datagram_comes_in() -> None:
    """An idle PBX does not time its empty queue twenty times a second: a probe goes only
    when SIP datagrams were read since the last one."""
    udp = UdpTransport(lambda data, *_: None)
    await udp.start("127.0.0.1", 0)
    read = [0]
    overload = Overload(lag_ms=100.0, retry_after_s=5, recover_s=1.0)
    try:
        overload.attach(udp, activity=lambda: read[0])
        overload._probe_lag(time.monotonic())  # the first probe goes
        assert overload._probe_sent is not None
        await wait_until(lambda: overload._probe_sent is None, timeout=2,
                         message="the probe to be read")
        for _ in range(3):  # nothing came in: nothing sent
            overload._probe_lag(time.monotonic())
            assert overload._probe_sent is None
        read[0] += 1  # a SIP datagram was read: the next tick probes again
        overload._probe_lag(time.monotonic())
        assert overload._probe_sent is not None
    finally:
        overload.close()
        await udp.close()


async def test_a_probe_dropped_by_a_full_buffer_is_sent_again() -> None:
    """A flood fills the SIP socket's receive buffer and the kernel drops the probe with the
    flood's overflow: its age counts as the lag until it is taken as lost, then a new probe
    times the queue again — once the flood is read, the lag is low and the PBX takes calls
    again (an age growing for ever would turn everyone away long after the flood)."""
    read = [0]
    udp = UdpTransport(lambda data, *_: read.__setitem__(0, read[0] + 1))
    await udp.start("127.0.0.1", 0)
    overload = Overload(lag_ms=100.0, retry_after_s=5, recover_s=0.2, sustain_s=0.0)
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        overload.attach(udp, activity=lambda: read[0])
        # the loop does not run meanwhile: nothing reads the SIP socket until it is full
        for size, count in ((60_000, 400), (1, 5_000)):  # 24 MB against a 4 MB buffer
            for _ in range(count):  # (doubled by the kernel), then its last bytes
                flood.sendto(b"x" * size, udp.local_address)
        start = time.monotonic()
        overload.observe(overload._probe_lag(start), start)  # the probe finds it full
        assert overload._probe_sent is not None
        await wait_until(lambda: read[0] > 0, timeout=2, message="the flood to be read")
        await asyncio.sleep(0.3)  # the flood is read; the probe never comes
        assert overload._probe_sent is not None and overload.probes_lost == 0
        later = start + 0.5
        assert overload._probe_lag(later) >= 500  # its age, for all we know still queued
        lost_at = start + 1.2
        overload.observe(overload._probe_lag(lost_at), lost_at)
        assert overload.probes_lost == 1 and overload.overloaded  # taken as lost; sent again
        await wait_until(lambda: overload._probe_sent is None, timeout=2,
                         message="the new probe to come back")
        now = time.monotonic()
        for step in range(6):  # low lag for longer than recover_s: calls are taken again
            read[0] += 1
            overload.observe(overload._probe_lag(now + 0.05 * step), now + 0.05 * step)
            await wait_until(lambda: overload._probe_sent is None, timeout=2,
                             message="the probe to come back")
        assert not overload.overloaded and overload.lag_ms < 100
    finally:
        flood.close()
        overload.close()
        await udp.close()
