"""RTP timeout against sipp: a SIP peer that dies mid-call (SIGKILL, no BYE) ends the
browser's call with hangup 408 "RTP timeout", relayed by a media worker or by the gateway's
own loop; a call the peer holds (a=sendonly, then silent) outlives the RTP timeout and ends
only at the hold timeout, with a BYE the peer receives.

Audio is verified first through sipp's RTP echo (browser -> gateway -> sipp -> gateway ->
browser), as in the other sipp tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import aiohttp
import pytest

from tests.integration.gateway.conftest import RunningGateway, echo_call
from tests.support.sipp import Sipp

TIMEOUT_S = 2


async def packets_from_sip(gw: RunningGateway) -> int:
    url = gw.url.rsplit("/janus", 1)[0] + "/admin/sessions"
    headers = {"Authorization": f"Bearer {gw.token(roles=('admin',))}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200
        (call,) = (await response.json())["calls"]
    return int(call["rtp"]["packets_from_sip"])


def hangups(client: Any) -> list[dict[str, Any]]:
    return [data for data, _ in client.backlog
            if (data.get("result") or {}).get("event") == "hangup"]


@pytest.mark.parametrize("workers", [0, 1], ids=["own-loop", "media-worker"])
async def test_a_peer_that_dies_mid_call_is_hung_up_by_rtp_timeout(
        gateway_factory: Any, sip_clients: Any, sipp_factory: Any,
        caplog: pytest.LogCaptureFixture, workers: int) -> None:
    gw = await gateway_factory(media_workers=workers, sip_rtp_timeout=TIMEOUT_S)
    sipp: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    await sipp.start()
    client = await echo_call(sip_clients, gw, sipp, 650.0 + 100 * workers)
    await asyncio.sleep(TIMEOUT_S + 1)  # while RTP flows, the timeout does not end the call
    assert hangups(client) == []
    caplog.set_level(logging.INFO, logger="gateway.sip")
    assert sipp.proc is not None
    os.killpg(sipp.proc.pid, signal.SIGKILL)  # the peer is gone: no BYE, no RTP
    await sipp.proc.wait()
    loop = asyncio.get_running_loop()
    killed = loop.time()
    data, _ = await client.wait_event("hangup", timeout=TIMEOUT_S + 6)
    elapsed = loop.time() - killed
    assert data["result"] == {"event": "hangup", "code": 408, "reason": "RTP timeout"}
    assert data["call_id"]
    assert TIMEOUT_S - 0.5 <= elapsed <= TIMEOUT_S + 4, elapsed
    (line,) = [r for r in caplog.records if r.getMessage() == "RTP timeout: ending the call"]
    assert line.call_id == data["call_id"] and line.session and line.handle  # type: ignore
    assert line.mode == "active" and line.packets_from_sip > 20  # type: ignore[attr-defined]


async def test_a_held_call_outlives_the_rtp_timeout_until_the_hold_timeout(
        gateway_factory: Any, sip_clients: Any, sipp_factory: Any) -> None:
    hold_timeout = 3 * TIMEOUT_S
    gw = await gateway_factory(sip_rtp_timeout=TIMEOUT_S, sip_rtp_hold_timeout=hold_timeout)
    sipp: Sipp = sipp_factory("uas_echo_remote_hold", rtp_echo=True, timeout=60)
    await sipp.start()
    client = await echo_call(sip_clients, gw, sipp, 700.0)
    await client.request({"request": "info", "type": "text/plain", "content": "hold me"})
    held, _ = await client.wait_event("remote_hold")
    assert held["result"]["direction"] == "sendonly"
    loop = asyncio.get_running_loop()
    since = loop.time()
    await asyncio.sleep(1.0)  # the last echoes and the worker's counters settle
    before = await packets_from_sip(gw)
    await asyncio.sleep(TIMEOUT_S + 2)  # well past the RTP timeout, in silence
    assert await packets_from_sip(gw) == before  # the peer sends nothing at all
    assert hangups(client) == []
    data, _ = await client.wait_event("hangup", timeout=hold_timeout + 6)
    elapsed = loop.time() - since
    assert data["result"] == {"event": "hangup", "code": 408, "reason": "RTP timeout"}
    assert hold_timeout - 0.5 <= elapsed <= hold_timeout + 4, elapsed
    result = await sipp.wait(10)  # the BYE reached the peer, which answered it
    assert result.ok, result.describe()
    assert 'Reason: SIP;cause=408;text="RTP timeout"' in result.text("messages.log")
