"""Routing rules with real calls: a rule sends a dialled number to a queue, another to an IVR
menu, another out by a trunk (sipp, answering and echoing the audio) with the number
rewritten, and the same trunk rule stays closed to a caller whose category does not allow the
destination."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.integration.pbx.pbxrun import RunningPbx, ivr_menu, ivr_option
from tests.support.net import wait_until
from tests.support.sipp import Sipp

TONE_A, TONE_B = 440.0, 1000.0


async def add_rule(pbx: RunningPbx, name: str, **row: Any) -> None:
    row = {"name": name, **row}
    await pbx.store.execute(f"INSERT INTO routing_rules ({', '.join(row)}) VALUES "
                            f"({', '.join('?' for _ in row)})", list(row.values()))
    pbx.core.directory.invalidate()


async def test_rule_sends_the_number_to_a_queue(pbx: RunningPbx) -> None:
    await add_rule(pbx, "soporte", number_pattern=r"9(\d{3})", action="queue", target="3$1")
    a = await pbx.registered("2001")
    b = await pbx.registered("2002")  # first member of queue 3000 (linear)
    call = a.dial("9000", pbx.host, pbx.port)
    b.answer(await b.incoming(5))
    assert (await call.wait_answer(5)).status == 200
    a.point_media(call.remote_sdp)
    a.send_tone(TONE_A)
    b.send_tone(TONE_B)
    await wait_until(lambda: a.rec.count > 60 and b.rec.count > 60, timeout=5)
    assert abs(b.heard(0.2) - TONE_A) < 5 and abs(a.heard(0.2) - TONE_B) < 5
    listing = pbx.engine.call_list()
    assert listing and listing[0]["callee"] == "3000"
    await call.bye()


async def test_rule_sends_the_number_to_an_ivr_menu(pbx: RunningPbx) -> None:
    menu = await ivr_menu(pbx, "4000", "IVRREGLA", timeout_s=5)
    await ivr_option(pbx, menu, "1", "extension", "2003")
    await add_rule(pbx, "menus", number_pattern=r"7(\d{3})", action="ivr", target="4$1")
    a, c = await pbx.registered("2001"), await pbx.registered("2003")
    call = a.dial("7000", pbx.host, pbx.port)
    resp = await call.wait_answer(3)
    assert resp.status == 200  # the menu answers the caller
    a.point_media(resp.body)
    await asyncio.sleep(0.3)
    await a.rtp.send_dtmf("1", 101)  # the menu's key 1 rings 2003
    c.answer(await c.incoming(5))
    a.send_tone(TONE_A)
    c.send_tone(TONE_B)
    await a.wait_hearing(TONE_B, timeout=5)
    await c.wait_hearing(TONE_A, timeout=5)
    await call.bye()
    rows = await pbx.store.fetchall("SELECT name, option_value, count FROM ivr_accumulators")
    assert [(r["name"], r["option_value"], r["count"]) for r in rows] == [("IVRREGLA", "1", 1)]


async def test_trunk_rule_rewrites_the_number_and_stays_closed_to_restricted_callers(
        pbx: RunningPbx, sipp_factory: Callable[..., Sipp]) -> None:
    carrier = sipp_factory("uas_echo", rtp_echo=True, payload_type=8, timeout=30)
    await carrier.start()
    trunk_id = await pbx.store.insert(
        "INSERT INTO trunks (name, host, port, priority) VALUES ('gw_movil', ?, ?, 1)",
        (pbx.host, carrier.local_port))
    await add_rule(pbx, "moviles", number_pattern=r"8(6\d{8})", action="trunk",
                   target="+34$1", trunk_id=trunk_id, trunk_prefix="1055")
    internal = await pbx.store.insert(
        "INSERT INTO categories (name, allowed) VALUES ('Interna', 'internal,emergency')")
    await pbx.store.execute("UPDATE users SET category_id = ? WHERE id = ?",
                            (internal, pbx.ids["user1003"]))
    # an internal-only caller: the rule's destination is a mobile number, refused
    c = await pbx.registered("2003")
    refused = c.dial("8612345678", pbx.host, pbx.port)
    resp = await refused.wait_answer(5)
    assert (resp.status, resp.reason) == (403, "Category Interna does not allow mobile calls")
    # a caller whose category allows mobiles goes out by the rule's trunk, number rewritten
    a = await pbx.registered("2001")
    call = a.dial("8612345678", pbx.host, pbx.port)
    assert (await call.wait_answer(10)).status == 200
    a.point_media(call.remote_sdp)
    a.send_tone(TONE_A)  # the carrier echoes it: heard back only if relayed both ways
    await a.wait_hearing(TONE_A, timeout=5)
    await call.bye()
    await wait_until(lambda: pbx.store.fetchone(
        "SELECT trunk, callee, disposition FROM cdr WHERE leg = 0 AND disposition = "
        "'answered'"), timeout=10)
    row = await pbx.store.fetchone("SELECT trunk, callee FROM cdr WHERE leg = 0 AND "
                                   "disposition = 'answered'")
    assert row == {"trunk": "gw_movil", "callee": "8612345678"}
    result = await carrier.stop()
    assert result is not None
    invites = [line for line in result.text("messages.log").splitlines()
               if line.startswith("INVITE ")]
    assert invites == [f"INVITE sip:1055+34612345678@{pbx.host}:{carrier.local_port} SIP/2.0"]
