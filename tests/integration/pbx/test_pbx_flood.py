"""A SIP scanner flood does not degrade the calls of others: while sipp, at one address (a
network namespace of its own), sends the PBX process thousands of OPTIONS and REGISTERs a
second, two baresip phones at other addresses set up a call and hear each other, and a sipp
phone keeps placing new calls to another that all connect. The flood's messages beyond its
address's rate are dropped before they are parsed (``/control/stats``: ``guard.dropped``;
``/metrics``: ``webfon_pbx_sip_rate_limited_total``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pbx.settings import PbxSettings
from tests.integration.pbx.pbxproc import pbx_process
from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork
from tests.support.net import wait_until
from tests.support.sipp import Sipp

FLOOD_RATE = 2500
"""Scanner "calls" a second, two messages each."""
NEW_CALLS = 5
OTHERS_MESSAGES = 1000
"""More than the phones' own messages in this test (registrations, calls, in-dialog)."""


async def test_scanner_flood_does_not_degrade_the_calls_of_others(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: Callable[..., Sipp],
        baresip_factory: Callable[..., Any]) -> None:
    host = phone_network.host_ip
    async with pbx_process(tmp_path, host) as pbx:
        scanner_ns, scanner = phone_network.add_namespace()
        flood = sipp_factory("pbx/scanner_flood", pbx.sip, netns=scanner_ns, local_ip=scanner,
                             service="2001", calls=10_000_000, rate=FLOOD_RATE,
                             rate_period_ms=1000, timeout=120, trace_messages=False,
                             trace_errors=False)
        await flood.start()
        started = time.monotonic()
        try:
            await wait_until(lambda: _dropped(pbx), timeout=10, interval=0.2,
                             message="the flood to be dropped")
            # a phone at another address answers, one more keeps calling it
            callee_ns, callee_ip = phone_network.add_namespace()
            answering = sipp_factory("uas", netns=callee_ns, local_ip=callee_ip,
                                     calls=NEW_CALLS, timeout=90)
            await answering.start()
            register = sipp_factory("pbx/register_auth", pbx.sip, netns=callee_ns,
                                    local_ip=callee_ip, local_port=5062, media_port=17000,
                                    service="2001", auth_user="2001", auth_password="sip-2001",
                                    timeout=15, variables={"contact_port": 5060,
                                                           "expires": 300})
            registered = await register.run()
            assert registered.ok and registered.successful_calls == 1, registered.describe()
            caller_ns, caller_ip = phone_network.add_namespace()
            calls = sipp_factory("uac_tone", pbx.sip, netns=caller_ns, local_ip=caller_ip,
                                 service="1001", auth_user="2004", auth_password="sip-2004",
                                 extra_args=["-auth_uri", f"1001@{pbx.sip}"], calls=NEW_CALLS,
                                 limit=1, rate=1, duration_ms=1500, payload_type=8,
                                 tone_hz=600.0, timeout=90)
            await calls.start()
            # meanwhile two phones talk, each hearing the other's tone
            alice: BaresipPhone = await baresip_factory(
                "2002", tone_hz=440.0, registrar=pbx.sip, password="sip-2002",
                codecs=("PCMA",))
            bob: BaresipPhone = await baresip_factory(
                "2003", tone_hz=1000.0, registrar=pbx.sip, password="sip-2003",
                codecs=("PCMA",))
            await alice.dial(f"sip:1003@{pbx.sip}")
            await alice.wait_event("CALL_ESTABLISHED", 10)
            await bob.wait_event("CALL_ESTABLISHED", 10)
            await asyncio.sleep(4.0)
            await alice.hangup()
            await bob.wait_event("CALL_CLOSED", 10)
            assert_tone(alice.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=3.0)
            assert_tone(bob.last_decoded_wav(), 440.0, tolerance_hz=5, min_seconds=3.0)
            placed = await calls.wait(60)
            assert placed.ok and placed.successful_calls == NEW_CALLS, placed.describe()
            stats = await pbx.control("stats")
            elapsed = time.monotonic() - started
            assert await pbx.metric("webfon_pbx_sip_rate_limited_total") > 0
        finally:
            flooded = await flood.stop()
        assert flooded is not None
        sent = int(flooded.stats.get("OutgoingCall(C)", "0") or 0) * 2
        assert sent > 10 * FLOOD_RATE, (sent, stats)
        # of what reached the PBX (the kernel drops more or less of the rest, depending on the
        # machine), the scanner got no more than its address's rate in; the rest was dropped
        defaults = PbxSettings()
        allowed = defaults.sip_source_burst + defaults.sip_source_rate * elapsed
        guard = stats["guard"]
        assert guard["dropped"] > FLOOD_RATE, (sent, elapsed, guard)
        assert guard["admitted"] < allowed + OTHERS_MESSAGES, (sent, elapsed, guard)


async def _dropped(pbx: Any) -> bool:
    return (await pbx.control("stats"))["guard"]["dropped"] > 0
