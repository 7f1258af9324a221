"""Calls relayed by media worker processes, and by the gateway's own loop, against sipp.

Audio is checked by tone detection through sipp's RTP echo (browser -> gateway -> sipp ->
gateway -> browser), and the admin listing shows where each leg was relayed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import aiohttp

from loadtest.gcfigures import parse
from tests.integration.gateway.conftest import RunningGateway, echo_call
from tests.support.sipp import Sipp
from webfon.gcwatch import PAUSE_BUCKETS_MS


async def admin_listing(gw: RunningGateway) -> dict[str, Any]:
    url = gw.url.rsplit("/janus", 1)[0] + "/admin/sessions"
    headers = {"Authorization": f"Bearer {gw.token(roles=('admin',))}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200
        return await response.json()


def legs(listing: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (WebRTC stats, RTP leg) of the one call in the listing."""
    (call,) = listing["calls"]
    (handle,) = [h for s in listing["sessions"] for h in s["handles"]
                 if h["handle_id"] == call["handle_id"]]
    return handle["webrtc"], call["rtp"]


async def test_a_call_is_relayed_by_a_media_worker(gateway_factory, sip_clients,
                                                   sipp_factory) -> None:
    gw = await gateway_factory(media_workers=2)
    sipp: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    await sipp.start()
    client = await echo_call(sip_clients, gw, sipp, 650.0)
    listing = await admin_listing(gw)
    pids = {w["pid"] for w in listing["media_workers"] if w["alive"]}
    assert len(pids) == 2
    webrtc, rtp = legs(listing)
    # both halves of the relay are in the same worker, and it counts the packets
    assert webrtc["media_worker"] in pids and rtp["media_worker"] == webrtc["media_worker"]
    await asyncio.sleep(1.2)  # the worker reports its counters twice a second
    webrtc, rtp = legs(await admin_listing(gw))
    assert webrtc["packets_in"] > 20 and webrtc["packets_out"] > 20
    assert rtp["packets_from_sip"] > 20 and rtp["packets_to_sip"] > 20
    assert rtp["remote"] is not None
    # each worker reports its own collector (start-up objects frozen), summed in /metrics
    listing = await admin_listing(gw)
    for worker in listing["media_workers"]:
        assert worker["health"]["gc_frozen"] > 1000
        assert len(worker["health"]["gc_pause_buckets"]) == len(PAUSE_BUCKETS_MS)
    assert listing["gc"]["gc_frozen"] > 1000
    async with aiohttp.ClientSession() as http, \
            http.get(gw.url.replace("/janus", "/metrics")) as response:
        metrics = parse(await response.text())
    assert "media_workers_gc_pause_max_ms_gen2" in metrics
    assert metrics["media_workers_gc_pauses_over_20ms_total"] >= 0
    await client.request({"request": "hangup"})
    await client.wait_event("hangup")
    for _ in range(50):
        listing = await admin_listing(gw)
        if sum(w["legs"] for w in listing["media_workers"]) == 0:
            break
        await asyncio.sleep(0.1)
    assert sum(w["legs"] for w in listing["media_workers"]) == 0


async def test_without_workers_the_gateway_relays_in_its_own_loop(gateway_factory,
                                                                 sip_clients,
                                                                 sipp_factory) -> None:
    gw = await gateway_factory(media_workers=0)
    sipp: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    await sipp.start()
    client = await echo_call(sip_clients, gw, sipp, 750.0)
    listing = await admin_listing(gw)
    assert listing["media_workers"] == []
    webrtc, rtp = legs(listing)
    assert "media_worker" not in webrtc and "media_worker" not in rtp
    assert webrtc["packets_in"] > 0 and rtp["packets_from_sip"] > 0
    await client.request({"request": "hangup"})
    await client.wait_event("hangup")


async def test_a_dead_worker_ends_its_calls_and_the_gateway_goes_on(gateway_factory,
                                                                    sip_clients,
                                                                    sipp_factory) -> None:
    gw = await gateway_factory(media_workers=1)
    sipp: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    await sipp.start()
    client = await echo_call(sip_clients, gw, sipp, 550.0)
    webrtc, _ = legs(await admin_listing(gw))
    os.kill(webrtc["media_worker"], signal.SIGKILL)
    hangup, _ = await client.wait_event("hangup")
    assert hangup["result"]["event"] == "hangup"
    listing = await admin_listing(gw)
    assert [w["alive"] for w in listing["media_workers"]] == [False]
    # the next call is relayed by the gateway itself, with audio both ways
    second: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    await second.start()
    again = await echo_call(sip_clients, gw, second, 850.0)
    webrtc, rtp = legs(await admin_listing(gw))
    assert "media_worker" not in webrtc and "media_worker" not in rtp
    await again.request({"request": "hangup"})
    await again.wait_event("hangup")
