"""Registration and calls through the embedded PBX, with webfon's SIP user agents and RTP.

Audio is checked by the dominant frequency of what each side received through the PBX's
media relay.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import pytest

from tests.integration.pbx.pbxrun import RunningPbx
from tests.support.net import wait_until
from tests.support.phone import Phone

TONE_A, TONE_B = 440.0, 1000.0


async def registered(pbx: RunningPbx, ext: str) -> Phone:
    return await pbx.registered(ext)


async def cdr_written(pbx: RunningPbx) -> None:
    """Wait until the call is over and its CDR rows are in the store (written in batches)."""
    await wait_until(lambda: not pbx.engine.calls, timeout=5)
    await wait_until(lambda: pbx.store.fetchone("SELECT id FROM cdr WHERE leg = 0"), timeout=5)
    await pbx.core.cdr.flush()


async def connected_pair(pbx: RunningPbx, dial: str = "1002") -> tuple[Phone, Phone]:
    a = await registered(pbx, "2001")
    b = await registered(pbx, "2002")
    call = a.dial(dial, pbx.host, pbx.port)
    incoming = await b.incoming()
    b.answer(incoming)
    resp = await call.wait_answer(5)
    assert resp.status == 200
    a.point_media(call.remote_sdp)
    return a, b


async def test_register_digest_contacts_and_unregister(pbx: RunningPbx,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    ua = await pbx.phone("2001")
    assert (await ua.register()).status == 200
    second = await pbx.phone("2001")  # the same phone's credentials from another contact
    assert (await second.register()).status == 200
    bindings = await pbx.core.location.lookup("2001")
    assert len(bindings) == 2 and all(b.phone_id == pbx.ids["phone2001"] for b in bindings)
    assert ("registration", {"extension": "2001", "contact": bindings[0].contact,
                             "state": "registered"}) in pbx.bus.events
    caplog.set_level(logging.WARNING, logger="webfon.sip.auth")
    bad = await pbx.phone("2002", password="wrong")
    resp = await bad.register(refresh=False)
    assert resp.status == 403
    assert any("pbx-auth-failure ip=127.0.0.1 user=2002 kind=digest" in r.getMessage()
               for r in caplog.records)
    # credentials of one extension cannot register another
    other = await pbx.phone("2003", username="2001", password="sip-2001")
    assert (await other.register(refresh=False)).status == 403
    assert (await ua.unregister()).status == 200
    assert len(await pbx.core.location.lookup("2001")) == 1
    assert (await pbx.core.location.lookup("2002")) == []


async def test_call_relays_audio_both_ways_and_writes_cdr(pbx: RunningPbx) -> None:
    a, b = await connected_pair(pbx)
    a.send_tone(TONE_A)
    b.send_tone(TONE_B)
    await wait_until(lambda: a.rec.count > 60 and b.rec.count > 60, timeout=5)
    assert abs(b.heard(0.2) - TONE_A) < 5
    assert abs(a.heard(0.2) - TONE_B) < 5
    calls = pbx.engine.call_list()
    assert len(calls) == 1 and calls[0]["state"] == "connected"
    assert calls[0]["caller"] == "2001" and calls[0]["callee"] == "1002"
    assert a.call is not None
    await a.call.bye()
    assert b.call is not None
    await asyncio.wait_for(b.call.ended, 5)
    await cdr_written(pbx)
    rows = await pbx.store.fetchall("SELECT * FROM cdr ORDER BY leg, id")
    assert [r["leg"] for r in rows] == [0, 0, 1]
    main, callee_side, attempt = rows
    # users are shown by their numbers; the extension that carried the call is kept apart
    assert (main["caller"], main["callee"], main["disposition"], main["direction"],
            main["extension"]) == ("1001", "1002", "answered", "internal", "2001")
    assert main["user_id"] == pbx.ids["user1001"] and main["peer_user_id"] == pbx.ids["user1002"]
    # the callee has the same call in their own history; the attempt row belongs to nobody
    assert (callee_side["user_id"], callee_side["peer_user_id"], callee_side["caller"]) == \
        (pbx.ids["user1002"], pbx.ids["user1001"], "1001")
    assert attempt["user_id"] is None
    assert main["billsec"] > 0.5
    ended = [p for t, p in pbx.bus.events if t == "call.ended"]
    assert len(ended) == 2 and {e["user_id"] for e in ended} == \
        {pbx.ids["user1001"], pbx.ids["user1002"]}
    assert {"call.started", "call.answered"} <= set(pbx.bus.topics())


async def test_ended_call_leaves_nothing_behind(pbx: RunningPbx) -> None:
    """Once a call is over nothing of it stays in memory: the transactions that still wait
    out their timers (64*T1 on UDP) hold their messages, not the call. It is freed as soon as
    it ends, without waiting for the garbage collector (no reference cycles)."""
    a, b = await connected_pair(pbx)
    (call,) = pbx.engine.calls.values()
    refs = [weakref.ref(o) for o in (call, call.a, call.b, call.a.sip, call.b.sip,
                                     call.a.media, call.b.media)]
    del call
    assert a.call is not None and b.call is not None
    gc.collect()
    gc.disable()
    try:
        await a.call.bye()
        await asyncio.wait_for(b.call.ended, 5)
        await cdr_written(pbx)
        assert pbx.engine.endpoint.transaction_count > 0  # still lingering
        assert [r() for r in refs] == [None] * len(refs)
    finally:
        gc.enable()


async def test_cancel_before_answer(pbx: RunningPbx) -> None:
    a = await registered(pbx, "2001")
    b = await registered(pbx, "2002")
    call = a.dial("2002", pbx.host, pbx.port)
    incoming = await b.incoming()
    incoming.ringing()
    await call.wait_event("ringing", timeout=5)
    await call.cancel()
    await asyncio.wait_for(incoming.ended, 5)
    assert incoming.ended.result()[0] == 487
    await cdr_written(pbx)
    row = await pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0")
    assert row is not None and row["disposition"] == "cancelled"


async def test_busy(pbx: RunningPbx) -> None:
    a = await registered(pbx, "2001")
    b = await registered(pbx, "2002")
    call = a.dial("2002", pbx.host, pbx.port)
    incoming = await b.incoming()
    incoming.reject(486)
    resp = await call.wait_answer(5)
    assert resp.status == 486
    await cdr_written(pbx)
    row = await pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0")
    assert row is not None and row["disposition"] == "busy"


async def test_no_answer_times_out(pbx: RunningPbx) -> None:
    a = await registered(pbx, "2001")
    b = await registered(pbx, "2002")
    call = a.dial("2002", pbx.host, pbx.port)
    incoming = await b.incoming()
    incoming.ringing()
    resp = await call.wait_answer(10)
    assert (resp.status, resp.reason) == (480, "No answer")
    await asyncio.wait_for(incoming.ended, 5)
    await cdr_written(pbx)
    row = await pbx.store.fetchone("SELECT * FROM cdr WHERE leg = 0")
    assert row is not None and row["disposition"] == "no_answer"


async def test_unregistered_user_and_category_refusal(pbx: RunningPbx) -> None:
    a = await registered(pbx, "2001")
    resp = await a.dial("1003", pbx.host, pbx.port).wait_answer(5)
    assert (resp.status, resp.reason) == (480, "Not registered")
    resp = await a.dial("000442071234567", pbx.host, pbx.port).wait_answer(5)
    assert resp.status == 403
    assert resp.reason == "Category Nacional does not allow international calls"
    resp = await a.dial("9999", pbx.host, pbx.port).wait_answer(5)
    assert resp.status == 404


async def test_dtmf_rfc4733_relayed_and_info_converted(pbx: RunningPbx) -> None:
    a, b = await connected_pair(pbx)
    await a.rtp.send_dtmf("19", payload_type=101)
    await wait_until(lambda: b.rec.digits == "19", timeout=5)
    assert a.call is not None
    resp = await a.call.send_dtmf_info("5")
    assert resp.status == 200
    await wait_until(lambda: b.rec.digits == "195", timeout=5)


async def test_hold_plays_music_then_resume(pbx: RunningPbx) -> None:
    a, b = await connected_pair(pbx)
    a.send_tone(TONE_A, 30)
    await wait_until(lambda: b.rec.count > 40, timeout=5)
    assert abs(b.heard(0.2) - TONE_A) < 5
    assert a.call is not None
    resp = await a.call.hold()
    assert resp.status == 200
    b.reset_recording()
    await wait_until(lambda: b.rec.count > 60, timeout=5)
    music = b.heard()
    assert abs(music - TONE_A) > 20, "held party must hear music, not the holder"
    assert b.rec.samples().std() > 100
    resp = await a.call.unhold()
    assert resp.status == 200
    b.reset_recording()
    await wait_until(lambda: b.rec.count > 60, timeout=5)
    assert abs(b.heard(0.3) - TONE_A) < 5


async def test_blind_transfer(pbx: RunningPbx) -> None:
    a, b = await connected_pair(pbx)
    c = await registered(pbx, "2003")
    assert b.call is not None
    resp = await b.call.refer(f"sip:2003@{pbx.host}")
    assert resp.status == 202
    incoming = await c.incoming()
    c.answer(incoming)
    await asyncio.wait_for(b.call.ended, 5)  # the transferor is released
    a.send_tone(TONE_A)
    c.send_tone(TONE_B)
    await wait_until(lambda: c.rec.count > 60 and a.rec.count > 100, timeout=5)
    assert abs(c.heard(0.2) - TONE_A) < 5
    a.reset_recording()
    await wait_until(lambda: a.rec.count > 60, timeout=5)
    assert abs(a.heard(0.2) - TONE_B) < 5


async def test_attended_transfer_with_replaces(pbx: RunningPbx) -> None:
    a, b = await connected_pair(pbx)
    c = await registered(pbx, "2003")
    consult = b.ua.invite(f"sip:2003@{pbx.host}:{pbx.port}", b.offer())
    incoming = await c.incoming()
    c.answer(incoming)
    assert (await consult.wait_answer(5)).status == 200
    assert b.call is not None
    first = b.call
    resp = await first.refer(f"sip:2003@{pbx.host}", replaces=consult)
    assert resp.status == 202
    await asyncio.wait_for(asyncio.gather(first.ended, consult.ended), 5)
    a.send_tone(TONE_A)
    c.send_tone(TONE_B)
    await wait_until(lambda: c.rec.count > 60, timeout=5)
    assert abs(c.heard(0.2) - TONE_A) < 5
    a.reset_recording()
    await wait_until(lambda: a.rec.count > 60, timeout=5)
    assert abs(a.heard(0.2) - TONE_B) < 5
    assert len(pbx.engine.calls) == 1


async def test_register_and_call_over_tcp(pbx: RunningPbx) -> None:
    from webfon.sip import SipEndpoint
    from webfon.sip.ua import Account, UserAgent

    ep = SipEndpoint(pbx.host, 0, transports=("tcp",))
    await ep.start()
    pbx.endpoints.append(ep)
    ua = UserAgent(ep, Account(aor="sip:2001@webfon", password="sip-2001", transport="tcp",
                               registrar=f"sip:{pbx.host}:{pbx.port};transport=tcp",
                               outbound_proxy=f"sip:{pbx.host}:{pbx.port};transport=tcp"))
    assert (await ua.register(refresh=False)).status == 200
    bindings = await pbx.core.location.lookup("2001")
    assert bindings[0].transport == "tcp"
    a = await pbx.softphone(ua)
    b = await registered(pbx, "2002")
    call = a.dial("2002", pbx.host, pbx.port)
    incoming = await b.incoming()
    b.answer(incoming)
    assert (await call.wait_answer(5)).status == 200
    await call.bye()


async def test_qualify_marks_silent_contact_unreachable_and_sweep_expires(
        pbx: RunningPbx) -> None:
    alive = await registered(pbx, "2001")
    gone_ua = await pbx.phone("2002")
    assert (await gone_ua.register(refresh=False)).status == 200
    await gone_ua.endpoint.close()  # the phone disappears without unregistering
    pbx.settings.qualify_timeout_s = 1.0
    await pbx.engine.maintenance.qualify_all()
    assert [b.reachable for b in await pbx.core.location.lookup("2001")] == [True]
    assert [b.reachable for b in await pbx.core.location.lookup("2002")] == [False]
    resp = await alive.dial("2002", pbx.host, pbx.port).wait_answer(5)
    assert (resp.status, resp.reason) == (480, "Not registered")
    # expired bindings are swept
    binding = (await pbx.core.location.lookup("2002"))[0]
    from dataclasses import replace
    await pbx.core.location.save(replace(binding, expires_at=1.0))
    assert await pbx.engine.maintenance.sweep_once() >= 1
    assert await pbx.core.location.lookup("2002") == []
    assert ("registration", {"extension": "2002", "contact": binding.contact,
                             "state": "expired"}) in pbx.bus.events
