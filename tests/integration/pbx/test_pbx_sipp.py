"""Interoperability with sipp: registration with digest auth, calls with RTP, CANCEL, busy,
no answer and category refusal, all through the embedded PBX."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.integration.pbx.pbxrun import RunningPbx
from tests.integration.pbx.test_pbx_calls import registered
from tests.support.net import wait_until
from tests.support.sipp import Sipp

SippFactory = Callable[..., Sipp]


def auth_uri(pbx: RunningPbx, service: str) -> list[str]:
    """sipp digests ``sip:remote_ip:remote_port`` unless told the Request-URI."""
    return ["-auth_uri", f"{service}@{pbx.host}:{pbx.port}"]


async def register_contact(
    pbx: RunningPbx, sipp_factory: SippFactory, ext: str, contact_port: int
) -> None:
    reg = sipp_factory(
        "pbx/register_auth",
        f"{pbx.host}:{pbx.port}",
        service=ext,
        auth_user=ext,
        auth_password=f"sip-{ext}",
        timeout=10,
        variables={"contact_port": contact_port, "expires": 300},
    )
    result = await reg.run()
    one_call(result)


def dial_from_2001(pbx: RunningPbx, sipp_factory: SippFactory, scenario: str, number: str,
                   **kwargs: Any) -> Sipp:
    """sipp as extension 2001's phone calling ``number`` through the PBX (digest auth)."""
    kwargs.setdefault("timeout", 20)
    return sipp_factory(scenario, f"{pbx.host}:{pbx.port}", service=number,
                        extra_args=auth_uri(pbx, number), auth_user="2001",
                        auth_password="sip-2001", **kwargs)


async def phone_2002(pbx: RunningPbx, sipp_factory: SippFactory, scenario: str,
                     **kwargs: Any) -> Sipp:
    """sipp as extension 2002's phone, running ``scenario`` and registered at the PBX."""
    kwargs.setdefault("timeout", 20)
    uas = sipp_factory(scenario, **kwargs)
    await uas.start()
    await register_contact(pbx, sipp_factory, "2002", uas.local_port)
    return uas


def one_call(result: Any) -> None:
    assert result.ok and result.successful_calls == 1, result.describe()


async def main_cdr(pbx: RunningPbx) -> dict[str, Any]:
    await wait_until(lambda: pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0"), timeout=10)
    row = await pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0")
    assert row is not None
    return row


async def test_sipp_registers_with_digest(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    await register_contact(pbx, sipp_factory, "2002", 5999)
    bindings = await pbx.core.location.lookup("2002")
    assert [b.contact for b in bindings] == ["sip:2002@127.0.0.1:5999"]
    assert bindings[0].user_agent == "sipp" and 290 <= bindings[0].expires_in() <= 300
    bad = sipp_factory(
        "pbx/register_wrong_password",
        f"{pbx.host}:{pbx.port}",
        service="2002",
        auth_user="2002",
        auth_password="not-the-password",
        timeout=10,
    )
    result = await bad.run()
    one_call(result)


async def test_sipp_call_with_rtp_to_softphone(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    callee = await registered(pbx, "2002")
    caller = dial_from_2001(pbx, sipp_factory, "uac_tone", "1002", payload_type=8,
                            tone_hz=440.0, duration_ms=3000)
    await caller.start()
    incoming = await callee.incoming(10)
    callee.answer(incoming)
    callee.send_tone(1000.0, 10)
    result = await caller.wait()
    one_call(result)
    assert abs(callee.heard(0.3) - 440.0) < 5
    cdr = await main_cdr(pbx)
    assert (cdr["caller"], cdr["callee"], cdr["disposition"], cdr["extension"]) == \
        ("1001", "1002", "answered", "2001")
    assert cdr["billsec"] >= 2.5


async def test_sipp_to_sipp_call_relays_rtp(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    uas = await phone_2002(pbx, sipp_factory, "uas_tone", payload_type=0, tone_hz=1000.0)
    caller = dial_from_2001(pbx, sipp_factory, "uac_tone", "2002", payload_type=0,
                            tone_hz=440.0, duration_ms=2000)
    relayed: list[list[dict[str, Any]]] = []

    async def sample() -> None:
        while True:
            calls = pbx.engine.call_list()
            if calls and calls[0]["state"] == "connected":
                relayed.append(calls[0]["media"])
            await asyncio.sleep(0.2)

    watcher = asyncio.ensure_future(sample())
    try:
        result = await caller.run()
    finally:
        watcher.cancel()
    one_call(result)
    assert relayed, "the call was never connected"
    a_leg, b_leg = relayed[-1]
    assert a_leg["received"] > 40 and b_leg["received"] > 40  # RTP from both sipps
    assert a_leg["sent"] > 40 and b_leg["sent"] > 40  # relayed to the other side
    cdr = await main_cdr(pbx)
    assert cdr["disposition"] == "answered"
    await uas.stop()


async def test_sipp_cancel(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    uas = await phone_2002(pbx, sipp_factory, "pbx/uas_ring_cancelled")
    caller = dial_from_2001(pbx, sipp_factory, "pbx/uac_cancel", "2002")
    result = await caller.run()
    one_call(result)
    uas_result = await uas.wait(15)
    one_call(uas_result)
    assert (await main_cdr(pbx))["disposition"] == "cancelled"


async def test_sipp_busy(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    uas = await phone_2002(pbx, sipp_factory, "pbx/uas_busy")
    caller = dial_from_2001(pbx, sipp_factory, "pbx/uac_expect_busy", "2002")
    result = await caller.run()
    one_call(result)
    assert (await main_cdr(pbx))["disposition"] == "busy"
    await uas.stop()


async def test_sipp_no_answer(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    uas = await phone_2002(pbx, sipp_factory, "pbx/uas_ring_cancelled")
    caller = dial_from_2001(pbx, sipp_factory, "pbx/uac_expect_no_answer", "2002")
    result = await caller.run()
    one_call(result)
    uas_result = await uas.wait(15)
    assert uas_result.ok, uas_result.describe()  # the PBX cancelled the ringing phone
    assert (await main_cdr(pbx))["disposition"] == "no_answer"


async def test_sipp_category_refusal(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    caller = dial_from_2001(pbx, sipp_factory, "pbx/uac_expect_forbidden", "000442071234567")
    result = await caller.run()
    one_call(result)


async def test_sipp_blind_transfer(pbx: RunningPbx, sipp_factory: SippFactory) -> None:
    target = await registered(pbx, "2003")
    uas = await phone_2002(pbx, sipp_factory, "pbx/uas_answer_refer", timeout=30,
                           variables={"refer_to": f"2003@{pbx.host}:{pbx.port}"})
    caller = dial_from_2001(pbx, sipp_factory, "uac_tone", "2002", payload_type=8,
                            tone_hz=440.0, duration_ms=6000, timeout=30)
    await caller.start()
    incoming = await target.incoming(15)
    target.answer(incoming)
    uas_result = await uas.wait(20)
    one_call(uas_result)
    await wait_until(lambda: target.rec.count > 50, timeout=10)
    assert abs(target.heard(0.3) - 440.0) < 5  # the caller now talks to the new party
    result = await caller.wait()
    one_call(result)
