"""Conference rooms of the embedded PBX with scripted SIP phones: the mix (each hears the
others, never itself), the entry beep, dial-in PINs by RFC 4733 and by INFO, a full room, a
transfer (REFER) into a room — admitted for the transferor — and PIN guessing locked out."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from tests.integration.pbx.pbxrun import RunningPbx, start_pbx, stop_pbx
from tests.support.net import wait_until
from tests.support.phone import AUDIBLE_DBFS, Phone
from webfon.passwords import hash_password
from webfon.rtp.detect import tone_levels

TONES = {"2001": 440.0, "2002": 700.0, "2003": 1050.0}
ENTER_HZ = 1600.0


async def add_room(pbx: RunningPbx, number: str, *, pin: str | None = None, beep: int = 1,
                   owner: int | None = None, max_participants: int = 10) -> None:
    async with pbx.store.transaction() as tx:
        await tx.execute("INSERT INTO numbering (number, kind) VALUES (?, 'conference')",
                         (number,))
        await tx.execute(
            "INSERT INTO conference_rooms (number, name, owner_user_id, pin_hash, beep, "
            "max_participants, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (number, f"Sala {number}", owner, hash_password(pin) if pin else None, beep,
             max_participants, time.time()))


async def join(pbx: RunningPbx, ext: str, room: str) -> Phone:
    phone = await pbx.registered(ext)
    phone.tone_hz = TONES[ext]
    phone.dial(room, pbx.host, pbx.port)
    await phone.wait_answered(5)
    return phone


async def test_each_hears_the_others_never_itself_and_the_entry_beep(pbx: RunningPbx) -> None:
    await add_room(pbx, "8000")
    a = await join(pbx, "2001", "8000")
    b = await join(pbx, "2002", "8000")
    # the first participant hears the beep of the second's entry
    heard = await a.record(0.8)
    assert tone_levels(heard, 8000, [ENTER_HZ])[0] > AUDIBLE_DBFS
    c = await join(pbx, "2003", "8000")
    for phone in (a, b, c):
        own = phone.tone_hz
        others = tuple(t for t in TONES.values() if t != own)
        await phone.wait_tones(others, absent=(own,), timeout=5)
    rooms = pbx.engine.conferences.listing()
    assert len(rooms) == 1 and len(rooms[0]["participants"]) == 3
    # one leaves: the other two still hear each other and no longer the one who left
    await c.hangup()
    await a.wait_tones((700.0,), absent=(440.0, 1050.0), timeout=5)
    await b.hangup()
    await a.hangup()
    await wait_until(lambda: not pbx.engine.calls and not pbx.engine.conferences.rooms,
                     timeout=5)
    await pbx.core.cdr.flush()
    rows = await pbx.store.fetchall("SELECT caller, callee, disposition FROM cdr WHERE leg = 0 "
                                    "AND callee = '8000'")
    assert len(rows) == 3 and {r["disposition"] for r in rows} == {"answered"}


async def test_pin_by_rfc4733_and_by_info(pbx: RunningPbx) -> None:
    await add_room(pbx, "8001", pin="4321", beep=0)
    a = await join(pbx, "2001", "8001")
    await a.rtp.send_dtmf("4321#", a.rec.dtmf_payload_type or 101)
    b = await join(pbx, "2002", "8001")
    assert b.call is not None
    for digit in "4321#":
        await b.call.send_dtmf_info(digit)
    await a.wait_tones((700.0,), absent=(440.0,), timeout=5)
    await b.wait_tones((440.0,), absent=(700.0,), timeout=5)


async def test_wrong_pin_three_times_is_hung_up(pbx: RunningPbx) -> None:
    await add_room(pbx, "8002", pin="4321", beep=0)
    a = await join(pbx, "2001", "8002")
    for _ in range(3):
        await a.rtp.send_dtmf("1111#", 101)
        await asyncio.sleep(0.8)  # the "wrong PIN" tone plays before the next try
    await asyncio.wait_for(a.ended.wait(), 10)
    assert not pbx.engine.conferences.rooms


async def test_the_owner_is_not_asked_for_the_pin_and_a_full_room_is_busy(
        pbx: RunningPbx) -> None:
    await add_room(pbx, "8003", pin="4321", beep=0, owner=pbx.ids["user1001"],
                   max_participants=2)
    a = await join(pbx, "2001", "8003")  # 2001 is 1001's extension: no PIN
    b = await join(pbx, "2002", "8003")
    await b.rtp.send_dtmf("4321#", 101)
    await a.wait_tones((700.0,), timeout=5)
    c = await pbx.registered("2003")
    call = c.dial("8003", pbx.host, pbx.port)
    response = await call.wait_answer(5)
    assert response.status == 486


async def test_transfer_into_a_room(pbx: RunningPbx) -> None:
    """2002 talks to 2001, then transfers 2001 into the room where 2003 is: 2001 and 2003
    hear each other; 2002's call is over."""
    await add_room(pbx, "8004", beep=0)
    c = await join(pbx, "2003", "8004")
    a = await pbx.registered("2001")
    a.tone_hz = TONES["2001"]
    b = await pbx.registered("2002")
    call = a.dial("1002", pbx.host, pbx.port)
    incoming = await b.incoming()
    b.answer(incoming)
    await a.wait_answered(5)
    response = await incoming.refer("sip:8004@webfon")
    assert response.status == 202
    await asyncio.wait_for(b.ended.wait(), 5)
    await c.wait_tones((440.0,), absent=(1050.0,), timeout=5)
    await a.wait_tones((1050.0,), absent=(440.0,), timeout=5)
    assert call.state != "terminated"
    await a.hangup()
    await wait_until(lambda: not pbx.engine.conferences.rooms or
                     len(pbx.engine.conferences.rooms["8004"]) == 1, timeout=5)


async def test_only_the_owner_transfers_into_a_room_with_a_pin(pbx: RunningPbx) -> None:
    """A transfer cannot carry a PIN: a stranger transferring someone into a PIN room is
    refused (NOTIFY 403), and the call they were in goes on."""
    await add_room(pbx, "8005", pin="4321", beep=0, owner=pbx.ids["user1003"])
    a = await pbx.registered("2001")
    a.tone_hz = TONES["2001"]
    b = await pbx.registered("2002")
    b.tone_hz = TONES["2002"]
    a.dial("1002", pbx.host, pbx.port)
    incoming = await b.incoming()
    b.answer(incoming)
    b.send_tone()
    await a.wait_answered(5)
    notified: list[bytes] = []
    keep = incoming.on_event

    def on_event(name: str, data: dict) -> None:
        if name == "notify":
            notified.append(data.get("body") or b"")
        if keep is not None:
            keep(name, data)

    incoming.on_event = on_event
    assert (await incoming.refer("sip:8005@webfon")).status == 202
    await wait_until(lambda: any(b"SIP/2.0 403" in body for body in notified), timeout=5)
    assert not pbx.engine.conferences.rooms
    await a.wait_hearing(700.0, timeout=5)
    await b.wait_hearing(440.0, timeout=5)


async def _refer_notified(incoming, target: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Send a REFER on ``incoming``; the NOTIFY bodies it gets (filled as they come)."""
    notified: list[bytes] = []
    keep = incoming.on_event

    def on_event(name: str, data: dict) -> None:
        if name == "notify":
            notified.append(data.get("body") or b"")
        if keep is not None:
            keep(name, data)

    incoming.on_event = on_event
    assert (await incoming.refer(target)).status == 202
    return notified


async def test_a_transfer_into_a_room_is_admitted_for_the_transferor(pbx: RunningPbx) -> None:
    """A room's number is an internal destination: a transferor who may call nothing
    («solo entrantes») cannot send anyone into a room either (NOTIFY 403), and a room's owner
    transfers into their PIN room: the transferee's leg in the room knows who is on it and the
    room's call who transferred it."""
    await add_room(pbx, "8006", beep=0)
    await add_room(pbx, "8007", pin="4321", beep=0, owner=pbx.ids["user1002"])
    await pbx.store.execute("UPDATE users SET user_type = 'solo_entrantes' WHERE id = ?",
                            (pbx.ids["user1002"],))
    pbx.core.directory.invalidate()
    a = await pbx.registered("2001")
    b = await pbx.registered("2002")
    b.tone_hz = TONES["2002"]
    a.dial("1002", pbx.host, pbx.port)
    incoming = await b.incoming()
    b.answer(incoming)
    b.send_tone()
    await a.wait_answered(5)
    notified = await _refer_notified(incoming, "sip:8006@webfon")
    await wait_until(lambda: any(b"SIP/2.0 403" in body for body in notified), timeout=5)
    assert not pbx.engine.conferences.rooms
    await a.wait_hearing(700.0, timeout=5)
    # the same owner with the right to call: into their PIN room, no PIN asked
    await pbx.store.execute("UPDATE users SET user_type = 'normal' WHERE id = ?",
                            (pbx.ids["user1002"],))
    pbx.core.directory.invalidate()
    notified = await _refer_notified(incoming, "sip:8007@webfon")
    await wait_until(lambda: any(b"SIP/2.0 200" in body for body in notified), timeout=5)
    await asyncio.wait_for(b.ended.wait(), 5)
    await wait_until(lambda: "8007" in pbx.engine.conferences.rooms, timeout=5)
    moved = next(c for c in pbx.engine.calls.values() if c.callee == "8007")
    assert moved.transferred_by == "1002"
    assert moved.a.party is not None and moved.a.party.user is not None
    assert moved.a.party.user.id == pbx.ids["user1001"]
    await a.hangup()


async def test_wrong_pins_lock_the_phone_then_the_room_but_never_the_owner(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two wrong PINs lock 2001 out (its right PIN is then refused too) while 2002 still
    gets in; a third wrong PIN for the room (from 2002) locks the room's PIN entry for
    everyone — but its owner, who is never asked. Each failure is a fail2ban line without
    the PIN."""
    running = await start_pbx(tmp_path, conference_pin_max_failures=2,
                              conference_room_max_failures=3)
    try:
        await add_room(running, "8008", pin="4321", beep=0, owner=running.ids["user1003"])
        with caplog.at_level(logging.WARNING, logger="pbx.auth"):
            a = await join(running, "2001", "8008")
            for pin in ("1111#", "2222#", "4321#"):  # the last one right, but locked out
                await a.rtp.send_dtmf(pin, 101)
                await asyncio.sleep(0.8)
            await asyncio.wait_for(a.ended.wait(), 10)
            assert not running.engine.conferences.rooms
            b = await join(running, "2002", "8008")
            await b.rtp.send_dtmf("9999#", 101)  # the room's third failure: locked
            await asyncio.sleep(0.8)
            await b.rtp.send_dtmf("4321#", 101)
            await asyncio.sleep(0.8)
            assert not running.engine.conferences.rooms
            await b.hangup()
            c = await join(running, "2003", "8008")  # the owner: no PIN
            await wait_until(lambda: "8008" in running.engine.conferences.rooms, timeout=5)
            await c.hangup()
        lines = [r.getMessage() for r in caplog.records if r.name == "pbx.auth"]
        failures = [m for m in lines if m.startswith("pbx-auth-failure")]
        assert len(failures) == 5 and all("kind=conference" in m for m in failures)
        assert sum("reason=locked_out" in m for m in failures) == 2
        assert any(m.startswith("pbx-auth-ban kind=conference-room") for m in lines)
        assert not any(pin in m for m in lines for pin in ("1111", "2222", "4321", "9999"))
    finally:
        await stop_pbx(running)
