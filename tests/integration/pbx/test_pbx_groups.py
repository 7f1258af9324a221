"""Each kind of group with its own behaviour, IVR menus and their accumulators, through the
running PBX with SIP phones (audio checked both ways where a call connects).

* hunt group: busy members → overflow at once, the PBX never answers the caller itself;
* operator group: callers answered at once, music, position announced as pips, served in order;
* ACD group: logged-out and paused agents are not rung, wrap-up time after a call, no agent
  logged in → overflow at once; a waiting caller moved to another group («Mover Cola»);
* IVR: a key sent as RFC 4733 leads to a group, counted in the period the call started.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pbx.stats import period_start
from tests.integration.pbx.pbxrun import SIP_PASSWORD, RunningPbx, ivr_menu, ivr_option
from tests.support.audio import tone_bursts
from tests.support.net import wait_until
from tests.support.phone import Phone
from webfon.directory import add_phone, create_extension, create_queue
from webfon.rtp.prompts import POSITION_PIP_HZ
from webfon.sip.ua import Call

RATE = 8000


async def extension(pbx: RunningPbx, ext: str) -> int:
    """One more extension with a phone (``ext``/``sip-<ext>``), owned by nobody."""
    async with pbx.store.transaction() as tx:
        eid = await create_extension(tx, number=ext, kind="hard", line_count=2)
        await add_phone(tx, extension_id=eid, position=0, sip_username=ext,
                        sip_password=SIP_PASSWORD.format(ext=ext))
    return eid


async def group(pbx: RunningPbx, number: str, kind: str, members: list[str],
                **columns: Any) -> int:
    async with pbx.store.transaction() as tx:
        qid = await create_queue(tx, number=number, name=f"{kind} {number}", kind=kind,
                                 **columns)
        for ext in members:
            eid = await tx.fetchval("SELECT id FROM extensions WHERE number = ?", (ext,))
            await tx.execute("INSERT INTO queue_members (queue_id, extension_id) VALUES (?, ?)",
                             (qid, eid))
    return qid


async def set_member(pbx: RunningPbx, qid: int, ext: str, **columns: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in columns)
    await pbx.store.execute(
        f"UPDATE queue_members SET {sets} WHERE queue_id = ? AND extension_id = "
        f"(SELECT id FROM extensions WHERE number = ?)", (*columns.values(), qid, ext))
    pbx.engine.wake_queues(qid)


async def talking(pbx: RunningPbx, a: Phone, b: Phone, number: str) -> Call:
    """``a`` calls ``number`` and ``b`` answers: both are busy."""
    call = a.dial(number, pbx.host, pbx.port)
    b.answer(await b.incoming())
    assert (await call.wait_answer(5)).status == 200
    return call


async def answered_by_pbx(pbx: RunningPbx, phone: Phone, number: str) -> Call:
    """``phone`` calls a waiting group: the PBX answers at once."""
    t0 = time.monotonic()
    call = phone.dial(number, pbx.host, pbx.port)
    resp = await call.wait_answer(3)
    assert resp.status == 200 and time.monotonic() - t0 < 2
    phone.point_media(resp.body)
    return call


async def both_ways(a: Phone, b: Phone) -> None:
    a.send_tone(600.0)
    b.send_tone(900.0)
    await a.wait_hearing(900.0, timeout=5)
    await b.wait_hearing(600.0, timeout=5)


def first_seconds(phone: Phone, start: int, seconds: float) -> Any:
    return phone.rec.samples()[start:start + int(seconds * RATE)]


async def test_hunt_group_with_every_member_busy_overflows_at_once(pbx: RunningPbx) -> None:
    await extension(pbx, "2004")
    await group(pbx, "3100", "hunt", ["2002", "2003"], strategy="linear", ring_timeout_s=5,
                timeout_s=20, overflow_target="1001")
    b, c = await pbx.registered("2002"), await pbx.registered("2003")
    operator, caller = await pbx.registered("2001"), await pbx.registered("2004")
    await talking(pbx, b, c, "2003")
    t0 = time.monotonic()
    call = caller.dial("3100", pbx.host, pbx.port)
    overflow = await operator.incoming(3)
    # no member could ring, so no ring_timeout_s was spent: straight to the overflow
    assert time.monotonic() - t0 < 2
    # a hunt group never answers the caller itself: nothing but ringing until a person answers
    assert call.state in ("calling", "early", "ringing")
    operator.answer(overflow)
    resp = await call.wait_answer(5)
    assert resp.status == 200
    caller.point_media(resp.body)
    await both_ways(caller, operator)
    await call.bye()
    # without an overflow target a busy hunt group is busy (486), at once
    await pbx.store.execute("UPDATE queues SET overflow_target = '' WHERE number = '3100'")
    pbx.core.directory.invalidate()
    await wait_until(lambda: len(pbx.engine.calls) == 1, timeout=5)
    t0 = time.monotonic()
    refused = caller.dial("3100", pbx.host, pbx.port)
    assert (await refused.wait_answer(3)).status == 486
    assert time.monotonic() - t0 < 2


async def test_operator_group_answers_waiting_callers_with_music_and_their_place(
        pbx: RunningPbx) -> None:
    await extension(pbx, "2004")
    qid = await group(pbx, "3200", "operator", ["2003"], ring_timeout_s=10, timeout_s=30,
                      announce_s=3)
    colleague, operator = await pbx.registered("2002"), await pbx.registered("2003")
    first, second = await pbx.registered("2001"), await pbx.registered("2004")
    busy = await talking(pbx, colleague, operator, "2003")
    call1 = await answered_by_pbx(pbx, first, "3200")
    await wait_until(lambda: len(pbx.engine.board.waiting(qid)) == 1, timeout=3)
    call2 = await answered_by_pbx(pbx, second, "3200")
    await asyncio.sleep(2.2)
    # each heard their place: one pip for the first caller, two for the second, then music
    assert tone_bursts(first_seconds(first, 0, 2.2), RATE, POSITION_PIP_HZ) == 1
    assert tone_bursts(first_seconds(second, 0, 2.2), RATE, POSITION_PIP_HZ) == 2
    hz, level = await second.listen(1.0)
    assert level > -45 and min(abs(hz - f) for f in (349.2, 392.0, 440.0, 493.9, 554.4)) < 15
    # the operator is free again: the first caller in line is served first
    await busy.bye()
    incoming = await operator.incoming(5)
    operator.answer(incoming)
    await both_ways(first, operator)
    # the second caller moved up: the next announcement says first in line
    mark = len(second.rec.samples())

    def since_mark() -> Any:
        return second.rec.samples()[mark:]

    await wait_until(lambda: tone_bursts(since_mark(), RATE, POSITION_PIP_HZ) > 0, timeout=6)
    await asyncio.sleep(1.0)  # the whole announcement
    assert tone_bursts(since_mark(), RATE, POSITION_PIP_HZ) == 1
    assert [w.call.call_id for w in pbx.engine.board.waiting(qid)] == [call2.call_id]
    await call1.bye()
    await call2.bye()


async def test_acd_agents_log_out_pause_with_reason_and_wrap_up(pbx: RunningPbx) -> None:
    qid = await group(pbx, "3300", "acd", ["2002", "2003"], strategy="linear",
                      ring_timeout_s=5, timeout_s=30, wrapup_s=3, announce_s=0,
                      overflow_target="1001")
    await set_member(pbx, qid, "2002", logged_in=0)
    caller, b, c = [await pbx.registered(x) for x in ("2001", "2002", "2003")]
    # 2002 comes first in linear order but is logged out: 2003 takes the call
    call = await answered_by_pbx(pbx, caller, "3300")
    c.answer(await c.incoming(3))
    assert b.ua.incoming.empty()
    await both_ways(caller, c)
    caller.stop_tone()
    c.stop_tone()
    await call.bye()
    hung_up = time.monotonic()
    # 2002 logs in but pauses for a reason; 2003 is in wrap-up: nobody rings for 3 s
    await set_member(pbx, qid, "2002", logged_in=1, paused=1, pause_reason="Descanso")
    await wait_until(lambda: not pbx.engine.calls, timeout=5)
    call = await answered_by_pbx(pbx, caller, "3300")
    status = await pbx.engine.queue_status(qid)
    assert status is not None
    states = {a["extension"]: (a["state"], a["pause_reason"]) for a in status["agents"]}
    assert states == {"2002": ("paused", "Descanso"), "2003": ("wrap_up", "")}
    assert [w["call_id"] for w in status["waiting"]] == [call.call_id]
    c.answer(await c.incoming(6))
    assert time.monotonic() - hung_up >= 2.9
    assert b.ua.incoming.empty()
    await both_ways(caller, c)
    await call.bye()
    # with every agent logged out a caller does not wait: it overflows at once
    await set_member(pbx, qid, "2002", logged_in=0)
    await set_member(pbx, qid, "2003", logged_in=0)
    await wait_until(lambda: not pbx.engine.calls, timeout=5)
    t0 = time.monotonic()
    overflowing = b.dial("3300", pbx.host, pbx.port)
    to_operator = await caller.incoming(3)
    assert time.monotonic() - t0 < 2 and overflowing.state != "confirmed"
    caller.answer(to_operator)
    assert (await overflowing.wait_answer(5)).status == 200
    await overflowing.bye()


async def test_waiting_caller_moved_to_another_group(pbx: RunningPbx) -> None:
    waiting_q = await group(pbx, "3400", "operator", ["2003"], timeout_s=30, stats_enabled=1)
    await group(pbx, "3500", "hunt", ["2002"], ring_timeout_s=10, timeout_s=20)
    caller, b = await pbx.registered("2001"), await pbx.registered("2002")
    call = await answered_by_pbx(pbx, caller, "3400")  # 2003 is not registered: it waits
    await wait_until(lambda: pbx.engine.board.waiting(waiting_q), timeout=3)
    target = await pbx.store.fetchval("SELECT id FROM queues WHERE number = '3500'")
    assert not pbx.engine.move_waiting_call("no-such-call", waiting_q, target)
    assert pbx.engine.move_waiting_call(call.call_id, waiting_q, target)
    b.answer(await b.incoming(3))
    await both_ways(caller, b)
    await call.bye()
    await wait_until(lambda: pbx.store.fetchone(
        "SELECT * FROM queue_stats WHERE queue_id = ? AND moved = 1", (waiting_q,)), timeout=5)


async def test_ivr_key_leads_to_group_and_counts_in_the_period_the_call_started(
        pbx: RunningPbx) -> None:
    # the group has no statistics of its own: the IVR option asks for them for this call
    qid = await group(pbx, "3600", "hunt", ["2002"], ring_timeout_s=10, timeout_s=20)
    menu = await ivr_menu(pbx, "4000", "IVRPRU", timeout_s=5)
    await ivr_option(pbx, menu, "2", "queue", "3600", stats_enabled=1, vv_name="VVPRU",
                 vv_key="soporte")
    await ivr_option(pbx, menu, "3", "extension", "1003")
    caller, agent = await pbx.registered("2001"), await pbx.registered("2002")
    call = await answered_by_pbx(pbx, caller, "4000")
    await asyncio.sleep(0.3)
    await caller.rtp.send_dtmf("2", 101)
    agent.answer(await agent.incoming(3))
    await both_ways(caller, agent)
    await call.bye()
    await wait_until(lambda: not pbx.engine.calls, timeout=5)
    await pbx.core.cdr.flush()
    started = await pbx.store.fetchval("SELECT started_at FROM cdr WHERE leg = 0")
    rows = await pbx.store.fetchall("SELECT * FROM ivr_accumulators")
    assert [(r["name"], r["option_value"], r["count"], r["period_start"]) for r in rows] == [
        ("IVRPRU", "2", 1, period_start(started))]
    vv = await pbx.store.fetchall("SELECT * FROM vv_accumulators")
    assert [(r["name"], r["acc_key"], r["count"]) for r in vv] == [("VVPRU", "soporte", 1)]
    stats = await pbx.store.fetchone("SELECT * FROM queue_stats WHERE queue_id = ?", (qid,))
    assert stats is not None and (stats["offered"], stats["answered"]) == (1, 1)
    assert stats["period_start"] == period_start(started)


async def test_ivr_invalid_key_and_timeout_then_fallback(pbx: RunningPbx) -> None:
    menu = await ivr_menu(pbx, "4100", "IVRMENU", timeout_s=1, max_tries=2,
                     fallback_action="extension", fallback_target="2003")
    await ivr_option(pbx, menu, "1", "hangup")
    caller, c = await pbx.registered("2001"), await pbx.registered("2003")
    call = await answered_by_pbx(pbx, caller, "4100")
    await asyncio.sleep(0.3)
    await caller.rtp.send_dtmf("9", 101)  # no such option: one try, the invalid prompt plays
    # then no key at all: the second try times out and the fallback rings 2003
    c.answer(await c.incoming(8))
    await both_ways(caller, c)
    await call.bye()
    rows = await pbx.store.fetchall("SELECT option_value, count FROM ivr_accumulators "
                                    "WHERE name = 'IVRMENU' ORDER BY option_value")
    assert [(r["option_value"], r["count"]) for r in rows] == [("INVALID", 1), ("TIMEOUT", 1)]
