"""Audio injection: a third party who can reach the media ports sends a tone, in perfect RTP
(one SSRC, sequence numbers in order, at a phone's pace), to the ports of a live call. With
strict RTP the parties do not hear it (tone detection at the far ends) and the refused packets
are counted in ``/metrics``.

* PBX: the PBX as its own process, two baresip phones (network namespaces) calling through
  it; the injector targets both legs' ports (as listed by the control API), once while strict
  RTP is still learning (the PBX refuses and counts the packets) and once after its window
  (the legs' sockets are then connected to the phones: the kernel refuses the packets before
  the PBX reads them, so they are not counted). Then forged ICMP "port unreachable" for
  both legs' connected sockets: the call goes on being relayed.
* Gateway: a browser (aiortc) in a call with a baresip phone through the gateway, the call's
  audio relayed by a media worker process; the injector targets the gateway's SIP-side port.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.transports.websocket import GATEWAY_KEY
from tests.integration.gateway.test_gateway_sip_baresip import bridged, register
from tests.integration.pbx.pbxrun import build_directory
from tests.support import procs
from tests.support.audio import assert_tone
from tests.support.baresip import PhoneNetwork
from tests.support.icmp import forge_port_unreachable
from tests.support.net import free_port, free_port_block
from webfon.control_client import ControlClient
from webfon.control_key import control_key_path
from webfon.rtp import g711
from webfon.rtp.detect import tone_seconds
from webfon.rtp.packet import build_header
from webfon.rtp.tones import sine
from webfon.rtp.wav import read_wav
from webfon.store import open_store

INJECTED_HZ = 1500.0


async def inject(targets: list[tuple[str, int]], payload_type: int, seconds: float,
                 bind_host: str) -> int:
    """Send a tone to every target, 20 ms packets in sequence from one socket; returns the
    number of packets sent to each."""
    frames = g711.encode(sine(INJECTED_HZ, seconds, 8000, 0.6), payload_type)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind_host, 0))
    sock.setblocking(False)
    ssrc, seq, count = random.getrandbits(32), random.getrandbits(16), 0
    loop = asyncio.get_running_loop()
    due = loop.time()
    try:
        for i in range(0, len(frames) - 159, 160):
            packet = bytes(build_header(payload_type, seq, i, ssrc, i == 0)) + frames[i:i + 160]
            for target in targets:
                sock.sendto(packet, target)
            seq = (seq + 1) & 0xFFFF
            count += 1
            due += 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))
    finally:
        sock.close()
    return count


async def metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in {url}/metrics")


# --- PBX ---------------------------------------------------------------------------------

@pytest.fixture
async def pbx_process(tmp_path: Path,
                      phone_network: PhoneNetwork) -> AsyncIterator[procs.Component]:
    db = tmp_path / "pbx.db"
    store = await open_store(f"sqlite:///{db}")
    await build_directory(store)
    await store.close()
    rtp = free_port_block(200, host=phone_network.host_ip)
    env = procs.base_env(
        tmp_path / "data", WEBFON_DATABASE_URL=f"sqlite:///{db}",
        WEBFON_PBX_SIP_HOST=phone_network.host_ip,
        WEBFON_PBX_SIP_PORT=str(free_port("both", phone_network.host_ip)),
        WEBFON_PBX_RTP_PORT_MIN=str(rtp), WEBFON_PBX_RTP_PORT_MAX=str(rtp + 199),
        WEBFON_PBX_QUALIFY_INTERVAL_S="0")
    pbx = await procs.start("pbx", "pbx", free_port("tcp"), env, tmp_path / "logs")
    try:
        yield pbx
    finally:
        await procs.stop(pbx)


async def pbx_call(pbx: procs.Component, host: str, baresip_factory: Any) -> tuple[Any, Any]:
    """Two baresip phones registered with the PBX, 2001 (a 440 Hz tone) calling 1002 (its
    phone 2002, 1000 Hz), both established."""
    sip_port = pbx.env["WEBFON_PBX_SIP_PORT"]
    alice = await baresip_factory("2001", tone_hz=440.0, registrar=f"{host}:{sip_port}",
                                  password="sip-2001", codecs=("PCMA",))
    bob = await baresip_factory("2002", tone_hz=1000.0, registrar=f"{host}:{sip_port}",
                                password="sip-2002", codecs=("PCMA",))
    await alice.dial(f"sip:1002@{host}:{sip_port}")
    await alice.wait_event("CALL_ESTABLISHED", 10)
    await bob.wait_event("CALL_ESTABLISHED", 10)
    return alice, bob


async def live_calls(pbx: procs.Component, tmp_path: Path) -> list[dict[str, Any]]:
    """The PBX's calls as its control API lists them (each with its legs' media)."""
    client = ControlClient(pbx.url, control_key_path(tmp_path / "data"))
    calls: list[dict[str, Any]] = (await client.get("/control/calls"))["items"]
    return calls


async def test_tone_injected_into_a_pbx_call_is_not_heard(
        pbx_process: procs.Component, phone_network: PhoneNetwork, baresip_factory,
        tmp_path: Path) -> None:
    pbx = pbx_process
    host = phone_network.host_ip
    alice, bob = await pbx_call(pbx, host, baresip_factory)
    calls = await live_calls(pbx, tmp_path)
    ports = [leg["port"] for leg in calls[0]["media"]]
    assert len(ports) == 2
    established = asyncio.get_running_loop().time()
    await asyncio.sleep(1.0)       # both phones' audio flows: the legs know their sources
    before = await metric(pbx.url, "webfon_pbx_rtp_dropped_total")
    sent = await inject([(host, p) for p in ports], g711.PT_PCMA, 2.5, host)
    await asyncio.sleep(0.5)
    dropped = await metric(pbx.url, "webfon_pbx_rtp_dropped_total")
    assert dropped - before >= 2 * sent * 0.9, (before, dropped, sent)
    # strict RTP's 5 s window is over: each leg's socket takes its phone's packets only
    await asyncio.sleep(max(0.0, established + 6.5 - asyncio.get_running_loop().time()))
    await inject([(host, p) for p in ports], g711.PT_PCMA, 2.0, host)
    await asyncio.sleep(0.5)
    assert await metric(pbx.url, "webfon_pbx_rtp_dropped_total") == dropped
    await alice.hangup()
    await bob.wait_event("CALL_CLOSED", 10)
    for phone, theirs in ((alice, 1000.0), (bob, 440.0)):
        heard = phone.last_decoded_wav()
        samples, rate = read_wav(heard)
        assert tone_seconds(samples, rate, INJECTED_HZ) < 0.2, f"{phone.user} heard it"
        assert_tone(heard, theirs, tolerance_hz=5, min_seconds=2.0)


async def test_forged_port_unreachable_does_not_silence_a_pbx_call(
        pbx_process: procs.Component, phone_network: PhoneNetwork, baresip_factory,
        tmp_path: Path) -> None:
    """Once strict RTP has locked, each leg's socket is connected to its phone, and a
    connected socket is told of ICMP errors. An attacker forges "port unreachable" for both
    legs, as if both phones had gone: the PBX (on uvloop, which stops watching a descriptor
    that reported an error) must go on relaying — each phone still hears the other to the
    end of the call."""
    pbx = pbx_process
    host = phone_network.host_ip
    alice, bob = await pbx_call(pbx, host, baresip_factory)
    established = asyncio.get_running_loop().time()
    await asyncio.sleep(6.5)  # past strict RTP's 5 s window: the legs' sockets are connected
    calls = await live_calls(pbx, tmp_path)
    legs = calls[0]["media"]
    assert len(legs) == 2 and all(leg["remote"] for leg in legs)
    for leg in legs:
        remote_host, remote_port = leg["remote"].rsplit(":", 1)
        forge_port_unreachable((host, leg["port"]), (remote_host, int(remote_port)))
    await asyncio.sleep(4.0)
    await alice.hangup()
    await bob.wait_event("CALL_CLOSED", 10)
    talked = asyncio.get_running_loop().time() - established
    for phone, theirs in ((alice, 1000.0), (bob, 440.0)):
        samples, rate = read_wav(phone.last_decoded_wav())
        heard = tone_seconds(samples, rate, theirs)
        assert heard > talked - 2.0, f"{phone.user} heard {heard:.1f} s of {talked:.1f}"


# --- gateway -----------------------------------------------------------------------------

async def test_tone_injected_into_a_gateway_call_is_not_heard(
        gateway_factory, phone_network, registrar_factory, baresip_factory,
        sip_clients) -> None:
    gw = await bridged(gateway_factory, phone_network, media_workers=1)
    registrar = await registrar_factory(phone_network.host_ip)
    browser = await sip_clients(gw=gw, tone_hz=600.0)
    await register(browser, registrar)
    bob = await baresip_factory("bob", tone_hz=800.0, codecs=("PCMA",))
    await bob.dial(registrar.bindings["alice"])
    _, offer = await browser.wait_event("incomingcall")
    await browser.request({"request": "accept"}, await browser.answer_offer(offer))
    await browser.wait_event("accepted")
    await bob.wait_event("CALL_ESTABLISHED", timeout=10)
    recorder = await browser.wait_recorder()
    await recorder.wait_tone(800.0, timeout=15)
    plugin = gw.app[GATEWAY_KEY].registry.get("janus.plugin.sip")
    line = next(iter(plugin.calls.values()))
    assert line.media is not None
    rtp = line.media.rtp
    assert rtp.worker is not None, "the call should be relayed by a media worker"
    sip_pt = next(pt for pt in rtp.to_webrtc if pt in (g711.PT_PCMU, g711.PT_PCMA))
    before = await metric(gw.url.removesuffix("/janus"), "webfon_gateway_rtp_dropped_total")
    recorder.take()
    sent = await inject([(phone_network.host_ip, rtp.port)], sip_pt, 3.0,
                        phone_network.host_ip)
    heard = recorder.take()
    assert len(heard) > recorder.rate * 2
    assert tone_seconds(heard, recorder.rate, INJECTED_HZ) < 0.2, "the browser heard it"
    assert tone_seconds(heard, recorder.rate, 800.0) > 2.0     # and still hears the phone
    await asyncio.sleep(1.0)  # the worker reports its counters twice a second
    dropped = await metric(gw.url.removesuffix("/janus"), "webfon_gateway_rtp_dropped_total")
    assert dropped - before >= sent * 0.9, (before, dropped, sent)
    await browser.request({"request": "hangup"})
    await bob.wait_event("CALL_CLOSED", timeout=10)

