"""Calls in progress per extension and per trunk are limited (``max_calls_per_extension``,
``max_calls_per_trunk``): a phone that tries one call too many gets a 403 that says why, a full
trunk is passed over like an unavailable one and a call from it gets 503; the calls in
progress are not disturbed and the limits free up when they end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.pbx.pbxrun import RunningPbx, start_pbx, stop_pbx
from tests.integration.pbx.test_pbx_routing_features import _trunk, answered_call
from tests.support.net import wait_until


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[RunningPbx]:
    running = await start_pbx(tmp_path, max_calls_per_extension=1, max_calls_per_trunk=1)
    try:
        yield running
    finally:
        await stop_pbx(running)


async def test_one_call_too_many_from_an_extension_is_refused(limited: RunningPbx) -> None:
    pbx = limited
    a = await pbx.registered("2001")
    b = await pbx.registered("2002")
    c = await pbx.registered("2003")
    first = await answered_call(pbx, a, "1002", b)
    second = a.dial("1003", pbx.host, pbx.port)
    resp = await second.wait_answer(5)
    assert (resp.status, resp.reason) == (403, "Too many calls in progress on extension 2001")
    assert c.ua.incoming.empty()
    # the call in progress goes on; once it ends the extension may call again
    assert pbx.engine.calls and not first.ended.done()
    await first.bye()
    await wait_until(lambda: not pbx.engine.calls, timeout=5)
    third = await answered_call(pbx, a, "1003", c)
    await third.bye()


async def test_a_full_trunk_is_passed_over_and_refuses_calls_from_it(
        limited: RunningPbx) -> None:
    pbx = limited
    gw1 = await _trunk(pbx, "Trunk_vivait_gw01", 1)
    gw2 = await _trunk(pbx, "Trunk_vivait_gw02", 2)
    a = await pbx.registered("2001")
    b = await pbx.registered("2002")
    peer1 = await pbx.softphone(gw1)
    out1 = a.dial("0611223344", pbx.host, pbx.port)
    peer1.answer(await asyncio.wait_for(gw1.incoming.get(), 5))
    assert (await out1.wait_answer(5)).status == 200
    # gw01 carries its one call: the next goes out by gw02
    peer2 = await pbx.softphone(gw2)
    out2 = b.dial("0611223355", pbx.host, pbx.port)
    peer2.answer(await asyncio.wait_for(gw2.incoming.get(), 5))
    assert (await out2.wait_answer(5)).status == 200
    assert gw1.incoming.empty()
    # both full: a third call is refused, and a call coming in by a full trunk too
    c = await pbx.registered("2003")
    out3 = c.dial("0611223366", pbx.host, pbx.port)
    resp = await out3.wait_answer(5)
    assert (resp.status, resp.reason) == (503, "All trunks busy")
    inbound = peer1.dial("1003", pbx.host, pbx.port)  # from gw01's address
    resp = await inbound.wait_answer(5)
    assert (resp.status, resp.reason) == (503, "Too many calls on this trunk")
    for call in (out1, out2):
        await call.bye()
