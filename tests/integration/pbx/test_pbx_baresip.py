"""Two real SIP phones (baresip, each in its own network namespace) register with the PBX and
call each other through it; each hears the other's tone, so media is relayed both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.pbx.pbxrun import RunningPbx, start_pbx, stop_pbx
from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork, talk
from tests.support.net import wait_until
from webfon.rtp.detect import tone_seconds
from webfon.rtp.wav import read_wav

PhoneFactory = Callable[..., Awaitable[BaresipPhone]]


@pytest.fixture
async def bridged_pbx(tmp_path: Path, phone_network: PhoneNetwork) -> AsyncIterator[RunningPbx]:
    """The PBX listening on the host side of the phones' bridge."""
    running = await start_pbx(tmp_path, host=phone_network.host_ip, no_answer_timeout_s=10.0)
    try:
        yield running
    finally:
        await stop_pbx(running)


async def _phone(factory: PhoneFactory, pbx: RunningPbx, ext: str, tone: float) -> BaresipPhone:
    return await factory(ext, tone_hz=tone, registrar=f"{pbx.host}:{pbx.port}",
                         password=f"sip-{ext}", codecs=("PCMA", "PCMU"))


async def test_two_baresip_phones_call_through_the_pbx(bridged_pbx: RunningPbx,
                                                       baresip_factory: PhoneFactory) -> None:
    pbx = bridged_pbx
    alice = await _phone(baresip_factory, pbx, "2001", 440.0)
    bob = await _phone(baresip_factory, pbx, "2002", 1000.0)
    assert {b.aor for b in await pbx.core.location.all()} == {"2001", "2002"}
    # the user's number, not the extension
    await talk(alice, bob, f"sip:1002@{pbx.host}:{pbx.port}", "5")
    assert_tone(alice.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=2.0)
    assert_tone(bob.last_decoded_wav(), 440.0, tolerance_hz=5, min_seconds=2.0)
    await wait_until(lambda: pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0"), timeout=10)
    cdr = await pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0")
    assert cdr is not None and (cdr["caller"], cdr["callee"], cdr["disposition"]) == \
        ("1001", "1002", "answered")


async def test_baresip_hold_gets_music_and_resume(bridged_pbx: RunningPbx,
                                                  baresip_factory: PhoneFactory) -> None:
    pbx = bridged_pbx
    alice = await _phone(baresip_factory, pbx, "2001", 440.0)
    bob = await _phone(baresip_factory, pbx, "2002", 1000.0)
    await alice.dial(f"sip:2002@{pbx.host}:{pbx.port}")
    await alice.wait_event("CALL_ESTABLISHED", 10)
    await bob.wait_event("CALL_ESTABLISHED", 10)
    await asyncio.sleep(1.0)
    await alice.hold()
    await wait_until(lambda: any(c["media"] and pbx.engine.calls for c in pbx.engine.call_list())
                   and any(leg.muted for c in pbx.engine.calls.values()
                           for leg in (p.media for p in c.legs())), timeout=5)
    await asyncio.sleep(3.0)
    await alice.resume()
    await asyncio.sleep(1.0)
    await alice.hangup()
    await bob.wait_event("CALL_CLOSED", 5)
    # bob heard alice's tone, then the hold music, then alice again
    heard = bob.last_decoded_wav()
    assert_tone(heard, 440.0, tolerance_hz=5, min_seconds=1.0)
    samples, rate = read_wav(heard)
    music = sum(tone_seconds(samples, rate, hz, 8.0) for hz in (392.0, 493.88, 349.23, 554.37))
    assert music >= 1.0, f"hold music not heard ({music:.2f} s)"
