"""Toll fraud: every path that makes the PBX place a call for someone — a transfer, a forward,
a mobility code — is admitted as that someone, against the PBX as its own process, with sipp
and baresip as the phones and a sipp UAS (or a baresip) as the test trunk.

* a callee's blind transfer to a premium number is refused (NOTIFY with a 403 sipfrag) and no
  INVITE reaches the trunk; one to a number the callee may call is connected, with audio both
  ways, and the CDR names the trunk that carried it;
* an unconditional forward to a number the forwarding user may not call is refused;
* an attended transfer (REFER with Replaces) cannot bridge the transferor's caller into
  somebody else's call to a premium number;
* a mobility code of an «Interna» user cannot call out, and its PIN stays out of the CDR and
  the log.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.integration.pbx.pbxproc import MOBILE, PREMIUM, PbxProcess, pbx_process
from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork
from tests.support.net import wait_until
from tests.support.sipp import Sipp, SippResult
from webfon.store import Store

SippFactory = Callable[..., Sipp]


def ok(result: SippResult) -> None:
    assert result.ok and result.successful_calls == 1, result.describe()


def no_invite(trunk: SippResult) -> None:
    assert "INVITE sip:" not in trunk.text("messages.log"), \
        "the trunk was called:\n" + trunk.text("messages.log")[-2000:]


async def trunk_uas(sipp_factory: SippFactory, host: str) -> Sipp:
    """The test trunk: sipp's built-in UAS (answers, waits for BYE)."""
    trunk = sipp_factory("uas", local_ip=host, timeout=60)
    await trunk.start()
    return trunk


async def registered_uas(sipp_factory: SippFactory, pbx: PbxProcess, ext: str, scenario: str,
                         **kwargs: Any) -> Sipp:
    """``scenario`` as extension ``ext``'s phone, registered at the PBX."""
    kwargs.setdefault("timeout", 30)
    uas = sipp_factory(scenario, local_ip=pbx.host, **kwargs)
    await uas.start()
    reg = sipp_factory("pbx/register_auth", pbx.sip, local_ip=pbx.host, service=ext,
                       auth_user=ext, auth_password=f"sip-{ext}", timeout=10,
                       variables={"contact_port": uas.local_port, "expires": 300})
    ok(await reg.run())
    return uas


def dial(sipp_factory: SippFactory, pbx: PbxProcess, scenario: str, ext: str, number: str,
         **kwargs: Any) -> Sipp:
    """sipp as extension ``ext``'s phone calling ``number`` (digest-authenticated)."""
    kwargs.setdefault("timeout", 30)
    return sipp_factory(scenario, pbx.sip, local_ip=pbx.host, service=number,
                        extra_args=["-auth_uri", f"{number}@{pbx.sip}"], auth_user=ext,
                        auth_password=f"sip-{ext}", **kwargs)


async def cdr_rows(pbx: PbxProcess, count: int = 1) -> list[dict[str, Any]]:
    """The calls' main CDR rows, once ``count`` of them are written (in batches)."""
    query = "SELECT * FROM cdr WHERE leg = 0 ORDER BY id"

    async def written() -> bool:
        return len(await pbx.rows(query)) >= count
    await wait_until(written, timeout=10, interval=0.2, message="the CDR rows")
    return await pbx.rows(query)


async def main_cdr(pbx: PbxProcess) -> dict[str, Any]:
    return (await cdr_rows(pbx))[0]


# ------------------------------------------------------------------ blind transfer

async def test_callee_cannot_transfer_a_call_to_a_premium_number(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: SippFactory) -> None:
    host = phone_network.host_ip
    trunk = await trunk_uas(sipp_factory, host)
    async with pbx_process(tmp_path, host, trunk_port=trunk.local_port) as pbx:
        # 2002's user 1002 is «Interna»: the call is theirs to transfer, not to send out
        transferor = await registered_uas(sipp_factory, pbx, "2002", "pbx/uas_refer_refused",
                                          variables={"refer_to": f"{PREMIUM}@{pbx.sip}"})
        caller = dial(sipp_factory, pbx, "uac_tone", "2001", "1002", payload_type=8,
                      tone_hz=440.0, duration_ms=4000)
        ok(await caller.run())
        ok(await transferor.wait(15))  # NOTIFY "SIP/2.0 403", the call went on
        cdr = await main_cdr(pbx)
        assert (cdr["callee"], cdr["trunk"], cdr["disposition"]) == ("1002", "", "answered")
        refused = [e for e in pbx.log_events() if e.get("event") == "blind transfer"]
        assert refused and refused[0]["status"] == 403 and refused[0]["placed_for"] == "1002"
    no_invite(await trunk.stop())


async def test_transfer_to_a_number_the_callee_may_call_goes_out_by_the_trunk(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: SippFactory,
        baresip_factory: Callable[..., Any]) -> None:
    host = phone_network.host_ip
    # the trunk: a baresip answering the number the PBX sends it
    out: BaresipPhone = await baresip_factory(MOBILE[1:], tone_hz=1000.0, codecs=("PCMA",))
    async with pbx_process(tmp_path, host, trunk_port=out.sip_port, trunk_host=out.ip) as pbx:
        caller: BaresipPhone = await baresip_factory(
            "2001", tone_hz=440.0, registrar=pbx.sip, password="sip-2001", codecs=("PCMA",))
        # 2003's user 1003 is «Nacional»: mobiles allowed
        transferor = await registered_uas(sipp_factory, pbx, "2003", "pbx/uas_answer_refer",
                                          payload_type=8,
                                          variables={"refer_to": f"{MOBILE}@{pbx.sip}"})
        await caller.dial(f"sip:1003@{pbx.sip}")
        await caller.wait_event("CALL_ESTABLISHED", 10)
        ok(await transferor.wait(20))  # NOTIFY 100, NOTIFY 200, then let go
        await out.wait_event("CALL_ESTABLISHED", 10)
        await asyncio.sleep(3.0)
        await caller.hangup()
        await out.wait_event("CALL_CLOSED", 10)
        assert_tone(caller.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=2.0)
        assert_tone(out.last_decoded_wav(), 440.0, tolerance_hz=5, min_seconds=2.0)
        cdr = await main_cdr(pbx)
        assert (cdr["trunk"], cdr["disposition"]) == ("Trunk_test", "answered")
        attempts = await pbx.rows("SELECT trunk, callee, disposition FROM cdr WHERE leg > 0 "
                                  "ORDER BY leg")
        assert {"trunk": "Trunk_test", "callee": f"sip:{MOBILE[1:]}@{out.ip}:5060",
                "disposition": "answered"} in attempts


async def test_web_phone_transfer_is_admitted_as_its_user(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: SippFactory) -> None:
    """What the gateway's ``transfer`` sends: a REFER from a web phone's leg."""
    host = phone_network.host_ip
    trunk = await trunk_uas(sipp_factory, host)

    async def web_pool(store: Store, ids: dict[str, int]) -> None:
        await store.execute("INSERT INTO webphone_pools (name, ranges) VALUES ('p', '7000')")
        await store.execute("UPDATE users SET webphone_pool_id = 1")

    async with pbx_process(tmp_path, host, trunk_port=trunk.local_port,
                           setup=web_pool) as pbx:
        login = await pbx.control("webphone/login",
                                  {"user_id": pbx.ids["user1002"], "node_id": 4})
        web = sipp_factory("pbx/uas_refer_refused", local_ip=host, timeout=30,
                           variables={"refer_to": f"{PREMIUM}@{pbx.sip}"})
        await web.start()
        reg = sipp_factory("pbx/register_auth", pbx.sip, local_ip=host,
                           service=login["extension"], auth_user=login["sip_username"],
                           auth_password=login["sip_password"], timeout=10,
                           variables={"contact_port": web.local_port, "expires": 300})
        ok(await reg.run())
        caller = dial(sipp_factory, pbx, "uac_tone", "2001", "1002", payload_type=8,
                      tone_hz=440.0, duration_ms=4000)
        ok(await caller.run())
        ok(await web.wait(15))  # NOTIFY "SIP/2.0 403": 1002 is «Interna»
    no_invite(await trunk.stop())


# ------------------------------------------------------------------ forwarding

async def test_unconditional_forward_to_a_forbidden_number_is_refused(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: SippFactory) -> None:
    host = phone_network.host_ip
    trunk = await trunk_uas(sipp_factory, host)

    async def forward_1003(store: Store, ids: dict[str, int]) -> None:
        await store.execute(
            "INSERT INTO forwarding_rules (user_id, kind, enabled, target_type, "
            "target_number) VALUES (?, 'unconditional', 1, 'number', ?)",
            (ids["user1003"], PREMIUM))

    async with pbx_process(tmp_path, host, trunk_port=trunk.local_port,
                           setup=forward_1003) as pbx:
        # 2004's user is «Interna», calling 1003 is allowed; 1003 («Nacional») may not send
        # it on to a premium number
        ok(await dial(sipp_factory, pbx, "pbx/uac_expect_forbidden", "2004", "1003").run())
        cdr = await main_cdr(pbx)
        assert (cdr["disposition"], cdr["trunk"]) == ("rejected", "")
    no_invite(await trunk.stop())


# ------------------------------------------------------------------ attended transfer

def dialog_of(result_or_sipp: Sipp) -> tuple[str, str, str]:
    """Call-ID, sipp's tag and the PBX's tag of the call sipp placed (from its message log)."""
    text = (result_or_sipp.workdir / "messages.log").read_text(errors="replace")
    answer = re.search(r"SIP/2\.0 200 OK.*?(?=\n\n|\Z)", text, re.S)
    assert answer is not None, text[-2000:]
    block = answer.group(0)
    call_id = re.search(r"^Call-ID:\s*(\S+)", block, re.M | re.I)
    ours = re.search(r"^From:.*;tag=([^;\s]+)", block, re.M | re.I)
    theirs = re.search(r"^To:.*;tag=([^;\s]+)", block, re.M | re.I)
    assert call_id and ours and theirs, block
    return call_id.group(1), ours.group(1), theirs.group(1)


async def test_attended_transfer_cannot_bridge_into_someone_elses_premium_call(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: SippFactory) -> None:
    host = phone_network.host_ip
    trunk = await trunk_uas(sipp_factory, host)

    async def total_2001(store: Store, ids: dict[str, int]) -> None:
        await store.execute("UPDATE phones SET category_id = ? WHERE id = ?",
                            (ids["cat_total"], ids["phone2001"]))

    async with pbx_process(tmp_path, host, trunk_port=trunk.local_port,
                           setup=total_2001) as pbx:
        # 2001 («Total») calls a premium number: its own call, rightly
        victim = dial(sipp_factory, pbx, "uac_tone", "2001", PREMIUM, payload_type=8,
                      tone_hz=440.0, duration_ms=9000)
        await victim.start()
        log = victim.workdir / "messages.log"
        await wait_until(lambda: log.exists() and "SIP/2.0 200 OK" in log.read_text(
            errors="replace"), timeout=10, interval=0.1, message="the premium call answered")
        call_id, from_tag, to_tag = dialog_of(victim)
        # 2002 («Interna»), who learnt that dialog, tries to hand its own caller over to it
        replaces = quote(f"{call_id};to-tag={to_tag};from-tag={from_tag}", safe="")
        transferor = await registered_uas(
            sipp_factory, pbx, "2002", "pbx/uas_refer_refused",
            variables={"refer_to": f"{PREMIUM}@{pbx.sip}?Replaces={replaces}"})
        caller = dial(sipp_factory, pbx, "uac_tone", "2003", "1002", payload_type=8,
                      tone_hz=440.0, duration_ms=4000)
        ok(await caller.run())
        ok(await transferor.wait(15))  # NOTIFY "SIP/2.0 403"
        ok(await victim.wait(20))  # its call was neither taken nor cut
        refused = [e for e in pbx.log_events()
                   if str(e.get("event", "")).startswith("attended transfer refused")]
        assert refused, pbx.log_text()[-3000:]
    trunk_result = await trunk.stop()
    assert trunk_result is not None
    assert trunk_result.text("messages.log").count("INVITE sip:") == 1  # the victim's only


# ------------------------------------------------------------------ mobility

PIN = "4321"


async def test_mobility_code_of_an_internal_user_cannot_call_out(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: SippFactory) -> None:
    host = phone_network.host_ip
    trunk = await trunk_uas(sipp_factory, host)
    async with pbx_process(tmp_path, host, trunk_port=trunk.local_port) as pbx:
        # extension 2001 («Nacional», mobility on) dials as 1004 («Interna»): '#' as %23,
        # as phones send it
        out = f"*72*1004*{PIN}%23{MOBILE}"
        ok(await dial(sipp_factory, pbx, "pbx/uac_expect_forbidden", "2001", out).run())
        # an internal number is allowed, and the call is 1004's
        callee = await registered_uas(sipp_factory, pbx, "2002", "uas")
        inside = f"*72*1004*{PIN}%232002"
        ok(await dial(sipp_factory, pbx, "uac_tone", "2001", inside, payload_type=8,
                      tone_hz=440.0, duration_ms=1500).run())
        await callee.stop()
        rows = await cdr_rows(pbx, 3)  # the answered call: a row for each user
        assert {(r["caller"], r["callee"], r["disposition"], r["trunk"]) for r in rows} == {
            ("1004", f"*72*1004*#{MOBILE}", "rejected", ""),
            ("1004", "*72*1004*#2002", "answered", "")}
        everything = await pbx.rows("SELECT * FROM cdr")
        for text in (repr(everything), pbx.log_text()):
            assert f"*{PIN}#" not in text and f"*{PIN}%23" not in text
    no_invite(await trunk.stop())
