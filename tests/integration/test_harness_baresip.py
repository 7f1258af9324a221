"""The baresip harness works here: two phones in namespaces call each other directly and each
records the other's tone; DTMF and hang-up events arrive; namespaces are removed afterwards."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable

from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork, cleanup_stale, talk
from tests.support.fixtures import (  # noqa: F401 (until conftest imports them)
    baresip_factory,
    phone_network,
    sipp_factory,
)
from tests.support.sipp import Sipp


async def test_two_phones_hear_each_other(
        phone_network: PhoneNetwork,  # noqa: F811
        baresip_factory: Callable[..., Awaitable[BaresipPhone]]) -> None:  # noqa: F811
    alice = await baresip_factory("alice", tone_hz=440)
    bob = await baresip_factory("bob", tone_hz=660)
    assert alice.ip != bob.ip and alice.ip.startswith("10.99.")
    await talk(alice, bob, bob.uri, "7#")
    assert_tone(alice.last_decoded_wav(), 660, tolerance_hz=5, min_seconds=2.0)
    assert_tone(bob.last_decoded_wav(), 440, tolerance_hz=5, min_seconds=2.0)
    # what each phone sent is its own tone
    assert_tone(alice.recordings("enc")[-1], 440, tolerance_hz=5, min_seconds=2.0)


def test_network_teardown_removes_everything(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = PhoneNetwork(tmp_path).create()
    ns, address = net.add_namespace()
    assert address.startswith(net.host_ip.rsplit(".", 1)[0])
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns in listing
    net.close()
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert ns not in listing
    assert net.bridge not in links
    assert all(v not in links for v in net.veths)
    assert not [name for name in cleanup_stale() if str(net.pid) in name]


async def test_phone_registers_and_calls_sipp_on_host_address(
        phone_network: PhoneNetwork,  # noqa: F811
        baresip_factory: Callable[..., Awaitable[BaresipPhone]],  # noqa: F811
        sipp_factory: Callable[..., Sipp]) -> None:  # noqa: F811
    """A phone registers with a registrar on the host side of the bridge, then calls a sipp
    UAS there that streams a tone; the phone records the tone and sipp sees the BYE."""
    registrar = sipp_factory("uas_register", local_ip=phone_network.host_ip, calls=1,
                             timeout=15)
    await registrar.start()
    phone = await baresip_factory("carol", tone_hz=500,
                                  registrar=f"{phone_network.host_ip}:{registrar.local_port}",
                                  password="secret")
    assert await phone.is_registered()
    reg = await registrar.wait(10)
    assert reg.ok and reg.successful_calls == 1, reg.describe()

    uas = sipp_factory("uas_tone", local_ip=phone_network.host_ip, tone_hz=1000,
                       payload_type=8, timeout=20)
    await uas.start()
    await phone.dial(f"sip:1000@{uas.sip_address}")
    await phone.wait_event("CALL_ESTABLISHED", 10)
    await asyncio.sleep(2.5)
    await phone.hangup()
    await phone.wait_event("CALL_CLOSED", 5)
    result = await uas.wait(10)
    assert result.ok and result.successful_calls == 1, result.describe()
    assert_tone(phone.last_decoded_wav(), 1000, tolerance_hz=5, min_seconds=1.5)
