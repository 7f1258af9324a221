"""Voicemail with MWI, trunk failover, ACD queue with statistics, multiterminal hunting,
exclusive web phone routing, through the running PBX."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

from tests.integration.pbx.pbxrun import RunningPbx
from tests.integration.pbx.test_pbx_calls import registered
from tests.support.net import wait_until
from tests.support.phone import Phone
from webfon.directory import add_phone
from webfon.rtp.detect import dominant_frequency
from webfon.rtp.wav import read_wav
from webfon.sip import SipEndpoint
from webfon.sip.ua import Account, Call, UserAgent


async def main_cdr(pbx: RunningPbx) -> dict[str, Any]:
    await wait_until(lambda: pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0"), timeout=10)
    row = await pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0")
    assert row is not None
    return row


async def answered_call(pbx: RunningPbx, caller: Phone, number: str,
                        callee: Phone) -> Call:
    """``caller`` dials ``number``; ``callee`` must be the phone that rings, and answers."""
    call = caller.dial(number, pbx.host, pbx.port)
    callee.answer(await callee.incoming())
    assert (await call.wait_answer(5)).status == 200
    return call


async def test_no_answer_to_voicemail_records_and_notifies(pbx: RunningPbx) -> None:
    await pbx.store.execute(
        "INSERT INTO forwarding_rules (user_id, kind, enabled, target_type, timeout_s) "
        "VALUES (?, 'no_answer', 1, 'voicemail', 2)", (pbx.ids["user1002"],))
    a = await registered(pbx, "2001")
    b = await registered(pbx, "2002")
    notifies: list[Any] = []
    b.ua.on_event = lambda name, data: notifies.append(data) if name == "notify" else None
    call = a.dial("1002", pbx.host, pbx.port)
    incoming = await b.incoming()
    incoming.ringing()
    resp = await call.wait_answer(10)
    assert resp.status == 200  # answered by voicemail after the 2 s no-answer timeout
    await asyncio.wait_for(incoming.ended, 5)
    a.point_media(call.remote_sdp)
    a.send_tone(600.0, 6.0)
    await wait_until(lambda: a.rec.count > 60, timeout=5)  # greeting heard
    assert a.rec.samples().std() > 100
    await asyncio.sleep(3.0)
    await call.bye()
    cdr = await main_cdr(pbx)
    assert cdr["disposition"] == "voicemail"
    # the leg ended in the PBX: its quality is what the recorded stream showed
    assert cdr["mos"] is not None and cdr["mos"] > 4.0 and cdr["loss_pct"] == 0.0
    msg = await pbx.store.fetchone("SELECT * FROM voicemail_messages")
    assert msg is not None and msg["user_id"] == pbx.ids["user1002"] and msg["caller"] == "1001"
    samples, rate = read_wav(msg["path"])
    assert rate == 8000 and len(samples) > 8000
    assert stat.S_IMODE(os.stat(msg["path"]).st_mode) == 0o600  # the caller's voice: private
    assert stat.S_IMODE(os.stat(Path(msg["path"]).parent).st_mode) == 0o700
    assert abs(dominant_frequency(samples, rate) - 600.0) < 5
    assert ("voicemail.new", {"user_id": pbx.ids["user1002"], "message_id": msg["id"],
                              "unread": 1}) in pbx.bus.events
    await wait_until(lambda: notifies, timeout=5)
    request = notifies[0]["request"]
    assert request.headers.get("Event") == "message-summary"
    assert b"Messages-Waiting: yes" in request.body and b"Voice-Message: 1/0" in request.body


async def test_unconditional_forward_to_number(pbx: RunningPbx) -> None:
    await pbx.store.execute(
        "INSERT INTO forwarding_rules (user_id, kind, enabled, target_type, target_number) "
        "VALUES (?, 'unconditional', 1, 'number', '2003')", (pbx.ids["user1002"],))
    a = await registered(pbx, "2001")
    c = await registered(pbx, "2003")
    call = await answered_call(pbx, a, "1002", c)
    await call.bye()
    cdr = await main_cdr(pbx)
    assert cdr["disposition"] == "answered"
    legs = await pbx.store.fetchall("SELECT disposition FROM cdr WHERE leg > 0 ORDER BY leg")
    assert [r["disposition"] for r in legs] == ["forwarded", "answered"]


async def _trunk(pbx: RunningPbx, name: str, priority: int) -> UserAgent:
    ep = SipEndpoint("127.0.0.1", 0)
    await ep.start()
    pbx.endpoints.append(ep)
    await pbx.store.execute("INSERT INTO trunks (name, host, port, priority) VALUES (?, ?, ?, ?)",
                            (name, "127.0.0.1", ep.port, priority))
    return UserAgent(ep, Account(aor=f"sip:{name}@127.0.0.1"))


async def test_trunk_failover_to_next_gateway(pbx: RunningPbx) -> None:
    gw1 = await _trunk(pbx, "Trunk_vivait_gw01", 1)
    gw2 = await _trunk(pbx, "Trunk_vivait_gw02", 2)
    a = await registered(pbx, "2001")
    call = a.dial("0611223344", pbx.host, pbx.port)
    first = await asyncio.wait_for(gw1.incoming.get(), 5)
    assert first.invite.uri.user == "611223344"
    first.reject(503)
    second = await asyncio.wait_for(gw2.incoming.get(), 5)
    peer = await pbx.softphone(gw2)
    peer.answer(second)
    assert (await call.wait_answer(5)).status == 200
    await call.bye()
    cdr = await main_cdr(pbx)
    assert (cdr["direction"], cdr["trunk"], cdr["callee"]) == \
        ("outbound", "Trunk_vivait_gw02", "0611223344")
    legs = await pbx.store.fetchall("SELECT trunk, disposition FROM cdr WHERE leg > 0 "
                                    "ORDER BY leg")
    assert [(r["trunk"], r["disposition"]) for r in legs] == [
        ("Trunk_vivait_gw01", "failed"), ("Trunk_vivait_gw02", "answered")]


async def test_all_trunks_down_is_503(pbx: RunningPbx) -> None:
    gw1 = await _trunk(pbx, "Trunk_vivait_gw01", 1)
    a = await registered(pbx, "2001")
    call = a.dial("0911223344", pbx.host, pbx.port)
    (await asyncio.wait_for(gw1.incoming.get(), 5)).reject(503)
    resp = await call.wait_answer(5)
    assert (resp.status, resp.reason) == (503, "All trunks unavailable")


async def test_queue_linear_skips_unregistered_and_records_stats(pbx: RunningPbx) -> None:
    a = await registered(pbx, "2001")
    c = await registered(pbx, "2003")  # 2002 (first in linear order) is not registered
    call = await answered_call(pbx, a, "3000", c)
    await asyncio.sleep(0.3)
    await call.bye()
    await main_cdr(pbx)
    await wait_until(lambda: pbx.store.fetchone("SELECT * FROM queue_stats"), timeout=5)
    stats = await pbx.store.fetchone("SELECT * FROM queue_stats")
    assert stats is not None and (stats["offered"], stats["answered"]) == (1, 1)
    memory = await pbx.store.fetchone("SELECT * FROM queue_member_memory")
    assert memory is not None and memory["extension_id"] == pbx.ids["ext2003"]
    assert memory["calls_taken"] == 1


async def test_queue_timeout_overflows(pbx: RunningPbx) -> None:
    await pbx.store.execute("UPDATE queues SET overflow_target = '2001', timeout_s = 2")
    caller = await registered(pbx, "2003")
    op = await registered(pbx, "2001")
    b = await registered(pbx, "2002")
    call = caller.dial("3000", pbx.host, pbx.port)
    ringing = await b.incoming()  # member 2002 rings and never answers
    ringing.ringing()
    overflow = await op.incoming(8)
    op.answer(overflow)
    assert (await call.wait_answer(8)).status == 200
    await call.bye()
    await main_cdr(pbx)
    stats = await pbx.store.fetchone("SELECT * FROM queue_stats")
    assert stats is not None and stats["overflowed"] == 1


async def test_multiterminal_rings_by_order(pbx: RunningPbx) -> None:
    async with pbx.store.transaction() as tx:
        await tx.execute("UPDATE phones SET ring_order = 2 WHERE id = ?",
                         (pbx.ids["phone2002"],))
        await add_phone(tx, extension_id=pbx.ids["ext2002"], position=2,
                        sip_username="2002-soft", sip_password="soft", ring_order=1)
        await add_phone(tx, extension_id=pbx.ids["ext2002"], position=3,
                        sip_username="2002-never", sip_password="never", ring_order=0)
    a = await registered(pbx, "2001")
    desk = await registered(pbx, "2002")
    soft_ua = await pbx.phone("2002", username="2002-soft", password="soft")
    assert (await soft_ua.register()).status == 200
    soft = await pbx.softphone(soft_ua)
    never_ua = await pbx.phone("2002", username="2002-never", password="never")
    assert (await never_ua.register()).status == 200
    assert len(await pbx.core.location.lookup("2002")) == 3
    call = a.dial("2002", pbx.host, pbx.port)
    first = await soft.incoming()  # order 1 rings first, alone
    first.ringing()
    assert desk.ua.incoming.empty() and never_ua.incoming.empty()
    second = await desk.incoming(8)  # then order 2, after the no-answer timeout
    await asyncio.wait_for(first.ended, 5)
    desk.answer(second)
    assert (await call.wait_answer(5)).status == 200
    assert never_ua.incoming.empty()
    await call.bye()


async def test_exclusive_web_login_routes_user_to_web_extension(pbx: RunningPbx) -> None:
    await pbx.store.execute(
        "INSERT INTO webphone_pools (name, ranges) VALUES ('pool', '7000-7001')")
    await pbx.store.execute("UPDATE users SET webphone_pool_id = 1 WHERE id = ?",
                            (pbx.ids["user1002"],))
    login = await pbx.core.webphones.login(pbx.ids["user1002"], 4)
    assert login.extension == "7000"
    a = await registered(pbx, "2001")
    desk = await registered(pbx, "2002")
    web_ua = await pbx.phone("7000", username=login.sip_username, password=login.sip_password)
    assert (await web_ua.register()).status == 200
    web = await pbx.softphone(web_ua)
    call = await answered_call(pbx, a, "1002", web)
    assert desk.ua.incoming.empty()
    await call.bye()
    # the web phone drops its registration (browser closed) while still logged in: calls
    # to the user ring their own phones again instead of failing
    assert (await web_ua.unregister()).status == 200
    call = await answered_call(pbx, a, "1002", desk)
    assert web.ua.incoming.empty()
    await call.bye()
    await pbx.core.webphones.logout(pbx.ids["user1002"])
    assert await pbx.core.location.lookup("7000") == []
    again = await web_ua.register(refresh=False)
    assert again.status == 403  # the handed-out password stopped working
