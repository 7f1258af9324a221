"""Overload control: while the PBX's event loop lags beyond ``overload_lag_ms``, a new call and
a new registration get ``503`` with ``Retry-After`` (nobody rings), the call already in
progress is served (its BYE gets 200), and once the lag has stayed low for
``overload_recover_s`` calls are taken again. The PBX reports the lag and the 503s sent
(``/control/stats``: ``overload``)."""

from __future__ import annotations

import asyncio
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
