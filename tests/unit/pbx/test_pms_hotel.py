"""The hotel's actions on the store (check-in to check-out), the room gate at admission, the
room phones' codes, and the wake-up scheduler and outbox moved by a hand clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pbx.admission import Admission
from pbx.core import PbxCore
from pbx.pms.actions import PmsActions
from pbx.pms.codes import RoomCodes
from pbx.pms.dialcode import RoomCodeKind
from pbx.pms.gate import RoomGate
from pbx.pms.model import BilledCall, OutboxMessage, Room, RoomState, WakeUpState
from pbx.pms.outbox import DeliveryError, Outbox
from pbx.pms.protocol import CharError, ResultCode, parse_request
from pbx.pms.repo import HotelRepo
from pbx.pms.wakecall import Outcome, Rang
from pbx.pms.wakeup import WakeUpScheduler
from pbx.routing import SYSTEM, Caller, RouteKind
from pbx.settings import PbxSettings
from tests.support.clock import ManualClock
from tests.support.hotel import Hotel, build_hotel, char_request
from webfon.store import Store

NOW = 1_717_225_200.0  # 2024-06-01 09:00 in Madrid


class Fixture:
    def __init__(self, store: Store, hotel: Hotel, core: PbxCore) -> None:
        self.store = store
        self.hotel = hotel
        self.core = core
        self.repo = HotelRepo(store)
        self.clock = ManualClock(NOW)
        self.lamps: list[int] = []
        self.wakeups_changed = 0
        self.actions = PmsActions(self.repo, core.directory, self._lamp, self._changed,
                                  self.clock)
        self.admission = Admission(core)
        self.admission.restrictions.append(RoomGate(core.directory))

    async def _lamp(self, user_id: int) -> None:
        self.lamps.append(user_id)

    def _changed(self) -> None:
        self.wakeups_changed += 1

    async def do(self, action: str, data: Any, address: str = "") -> dict[str, Any]:
        return await self.actions.handle(parse_request(char_request(action, data,
                                                                    address=address)),
                                         await self.repo.config())

    async def fails(self, action: str, data: Any, address: str = "") -> CharError:
        with pytest.raises(CharError) as err:
            await self.do(action, data, address)
        return err.value

    async def room(self, number: str) -> Room:
        room = await self.repo.room(number)
        assert room is not None
        return room

    async def name_of(self, number: str) -> str:
        return str(await self.store.fetchval("SELECT display_name FROM users WHERE id = ?",
                                             (self.hotel.users[number],)))

    async def caller(self, room: str) -> Caller:
        phone = await self.core.directory.phone_by_username(room)
        assert phone is not None
        return await self.core.router.caller_for_phone(phone)

    async def outbox(self) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await self.store.fetchall(
            "SELECT action, address, data FROM hotel_outbox ORDER BY id")
        return [(r["action"], r["address"], json.loads(r["data"])) for r in rows]


@pytest.fixture
async def h(store: Store, tmp_path: Path) -> Fixture:
    async with store.transaction() as tx:
        hotel = await build_hotel(tx)
        await tx.execute("INSERT INTO trunks (name, host, port, priority) VALUES (?, ?, ?, ?)",
                         ("gw01", "127.0.0.1", 5090, 1))
    settings = PbxSettings.load(environ={}, data_dir=tmp_path / "data", sip_port=0,
                                directory_cache_s=60)
    return Fixture(store, hotel, PbxCore.create(settings, store))


async def test_check_in_opens_the_room_and_shows_the_guest(h: Fixture) -> None:
    caller = await h.caller("101")
    closed = await h.admission.admit("0912345678", caller)
    assert (closed.kind, closed.status) == (RouteKind.REJECT, 403)
    assert "room 101, closed" in closed.reason
    assert (await h.admission.admit("102", caller)).kind is RouteKind.EXTENSION
    assert (await h.admission.admit("112", caller)).dest_class == "emergency"

    assert await h.do("CHECKIN", {"CHECKIN": [{"room": "101", "name": "Ana García",
                                               "language": "es", "guest": "R-77"}]}) == \
        {"action_result": {"result": {"code": "0", "description": "Successfull"}}}
    room = await h.room("101")
    assert room.state is RoomState.OCCUPIED and room.stay_id is not None
    assert await h.name_of("101") == "Ana García"
    # the directory's cache was dropped: the next call already sees the open room
    caller = await h.caller("101")
    assert caller.user is not None and caller.user.display_name == "Ana García"
    opened = await h.admission.admit("0912345678", caller)
    assert opened.kind is RouteKind.EXTERNAL and opened.number == "912345678"

    err = await h.fails("CHECKIN", {"CHECKIN": {"name": "Otro"}}, address="101")
    assert err.code is ResultCode.CONFLICT and "101" in err.description


async def test_a_request_with_one_bad_entry_changes_nothing(h: Fixture) -> None:
    err = await h.fails("CHECKIN", {"CHECKIN": [{"room": "101", "name": "Ana"},
                                                {"room": "999", "name": "Luis"}]})
    assert err.code is ResultCode.UNKNOWN_ROOM and "999" in err.description
    err = await h.fails("CHECKIN", {"CHECKIN": [{"room": "101", "name": "Ana"},
                                                {"room": "102"}]})
    assert err.code is ResultCode.INVALID_DATA and "name is required" in err.description
    err = await h.fails("CHECKIN", {"CHECKIN": [{"room": "102", "name": "a\x07b"}]})
    assert err.code is ResultCode.INVALID_DATA
    assert not (await h.room("101")).occupied and await h.name_of("101") == "Habitación 101"
    assert (await h.fails("CHECKOUT", {}, address="101")).code is ResultCode.CONFLICT
    assert (await h.fails("NOPE", {})).code is ResultCode.UNKNOWN_ACTION
    assert (await h.fails("DND", {"DND": {"room": "101", "status": "1"}})).code \
        is ResultCode.CONFLICT  # no guest
    assert (await h.fails("CHECKIN", {"CHECKIN": {"name": "Ana"}})).code \
        is ResultCode.INVALID_DATA  # no room and no address


async def test_dnd_refuses_calls_but_the_wakeup_call(h: Fixture) -> None:
    await h.do("CHECKIN", {"CHECKIN": {"room": "102", "name": "Luis"}})
    await h.do("DND", {"DND": [{"room": "102", "status": "1"}]})
    caller = await h.caller("101")
    refused = await h.admission.admit("102", caller)
    assert (refused.kind, refused.status, refused.reason) == \
        (RouteKind.REJECT, 486, "Do not disturb")
    assert (await h.admission.admit("102", SYSTEM)).kind is RouteKind.EXTENSION
    await h.do("DND", {"DND": [{"room": "102", "status": 0}]})
    assert (await h.admission.admit("102", caller)).kind is RouteKind.EXTENSION
    err = await h.fails("DND", {"DND": [{"room": "102", "status": "maybe"}]})
    assert err.code is ResultCode.INVALID_DATA


async def test_message_waiting_lights_the_rooms_lamp(h: Fixture) -> None:
    await h.do("CHECKIN", {"CHECKIN": {"room": "101", "name": "Ana"}})
    await h.do("MW", {"MW": {"room": "101", "status": "1"}})
    uid = h.hotel.users["101"]
    assert h.lamps == [uid] and await h.repo.message_waiting_for(uid)
    await h.do("MW", {"MW": {"room": "101", "status": "0"}})
    assert h.lamps == [uid, uid] and not await h.repo.message_waiting_for(uid)


async def test_room_change_moves_the_guest_and_their_state(h: Fixture) -> None:
    await h.do("CHECKIN", {"CHECKIN": {"room": "101", "name": "Ana"}})
    await h.do("DND", {"DND": {"room": "101", "status": "1"}})
    await h.do("MW", {"MW": {"room": "101", "status": "1"}})
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "time": "07:30"}})
    await h.do("CHECKIN", {"CHECKIN": {"room": "103", "name": "Eva"}})
    err = await h.fails("ROOMCHANGE", {"ROOMCHANGE": {"room": "101", "newroom": "103"}})
    assert err.code is ResultCode.CONFLICT and "103 is occupied" in err.description
    h.lamps.clear()
    await h.do("ROOMCHANGE", {"ROOMCHANGE": {"room": "101", "newroom": "102"}})
    old, new = await h.room("101"), await h.room("102")
    assert not old.occupied and not old.dnd and not old.message_waiting
    assert new.occupied and new.dnd and new.message_waiting
    assert await h.name_of("101") == "Habitación 101" and await h.name_of("102") == "Ana"
    assert h.lamps == [h.hotel.users["101"], h.hotel.users["102"]]
    assert [w.room for w in await h.repo.wakeups()] == ["102"]
    stay = await h.repo.stay(new.stay_id or 0)
    assert stay is not None and stay.room == "102"
    await h.do("GUESTDATA", {"GUESTDATA": {"room": "102", "name": "Ana López"}})
    assert await h.name_of("102") == "Ana López"
    err = await h.fails("GUESTDATA", {"GUESTDATA": {"room": "102"}})
    assert err.code is ResultCode.INVALID_DATA


async def test_wakeups_programmed_and_cancelled(h: Fixture) -> None:
    await h.do("CHECKIN", {"CHECKIN": {"room": "101", "name": "Ana"}})
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "time": "07:30", "status": "1"}})
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "time": "07:30"}})  # the same: once
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "time": "10:00",
                                     "date": "2024-06-01"}})
    due = sorted(w.due_at - NOW for w in await h.repo.wakeups("101"))
    assert due == [3600.0, 22.5 * 3600]  # 10:00 today, 07:30 tomorrow
    err = await h.fails("WAKEUP", {"WAKEUP": {"room": "101", "time": "08:00",
                                              "date": "2024-05-31"}})
    assert err.code is ResultCode.INVALID_DATA and "past" in err.description
    assert (await h.fails("WAKEUP", {"WAKEUP": {"room": "101"}})).code \
        is ResultCode.INVALID_DATA
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "time": "10:00", "date": "2024-06-01",
                                     "status": "0"}})
    assert len(await h.repo.wakeups("101")) == 1
    err = await h.fails("WAKEUP", {"WAKEUP": {"room": "101", "time": "11:00", "status": "0"}})
    assert err.code is ResultCode.CONFLICT
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "status": "0"}})
    assert await h.repo.wakeups("101") == [] and h.wakeups_changed >= 4


async def test_check_out_closes_the_room_and_gives_its_calls(h: Fixture) -> None:
    await h.do("CHECKIN", {"CHECKIN": {"room": "101", "name": "Ana"}})
    room = await h.room("101")
    assert room.stay_id is not None
    call = BilledCall("101", "c-1", "912345678", True, "gw01", NOW + 10, NOW + 15, NOW + 77,
                      62.0)
    await h.repo.add_call(room.stay_id, call)
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "time": "07:30"}})
    await h.do("MW", {"MW": {"room": "101", "status": "1"}})
    h.clock.advance(3600)
    result = await h.do("CHECKOUT", {"CHECKOUT": {"room": "101"}})
    cdr = [{"room": "101", "call_id": "c-1", "number": "912345678", "date": "2024-06-01",
            "time": "09:00:15", "duration": "62", "external": "1", "trunk": "gw01"}]
    assert result["action_result"] == {
        "result": {"code": "0", "description": "Successfull"}, "data": {"CDR": cdr}}
    assert not (await h.room("101")).occupied and await h.name_of("101") == "Habitación 101"
    assert await h.repo.wakeups("101") == []
    assert not await h.repo.message_waiting_for(h.hotel.users["101"])
    assert await h.outbox() == [("CDR", "101", {"CDR": cdr})]
    closed = await h.admission.admit("0912345678", await h.caller("101"))
    assert closed.kind is RouteKind.REJECT
    # the room's calls can be asked for by day afterwards, not by a stay that ended
    day = await h.do("CDR", {"CDR": {"room": "101", "date": "2024-06-01"}})
    assert day["action_result"]["data"] == {"CDR": cdr}
    assert (await h.fails("CDR", {"CDR": {"room": "101"}})).code is ResultCode.CONFLICT
    other = await h.do("CDR", {"CDR": {"room": "101", "date": "2024-06-02"}})
    assert other["action_result"]["data"] == {"CDR": []}


async def test_room_phone_codes(h: Fixture) -> None:
    codes = RoomCodes(h.repo, h.core.directory)
    caller = await h.caller("101")
    status = await codes.match("*81#", caller)
    assert status is not None and status.kind is RouteKind.ROOM_CODE
    assert status.room_code is not None and \
        (status.room_code.kind, status.room_code.code, status.room_code.room) == \
        (RoomCodeKind.STATUS, "CLEAN", "101")
    minibar = await codes.match("*83*1202%23", caller)
    assert minibar is not None and minibar.room_code is not None
    assert (minibar.room_code.code, minibar.room_code.value) == ("MINIBAR", "1202")
    needs_value = await codes.match("*83#", caller)
    assert needs_value is not None and (needs_value.kind, needs_value.status) == \
        (RouteKind.REJECT, 484)
    assert await codes.match("*99#", caller) is None
    assert await codes.match("102", caller) is None
    no_guest = await codes.match("*55*0730#", caller)
    assert no_guest is not None and no_guest.status == 403
    await h.do("CHECKIN", {"CHECKIN": {"room": "101", "name": "Ana"}})
    wake = await codes.match("*55*0730#", await h.caller("101"))
    assert wake is not None and wake.room_code is not None
    assert (wake.room_code.kind, wake.room_code.value) == (RoomCodeKind.WAKEUP, "0730")
    cancel = await codes.match("*56#", await h.caller("101"))
    assert cancel is not None and cancel.room_code is not None
    assert cancel.room_code.kind is RoomCodeKind.WAKEUP_CANCEL


class FakeRinger:
    def __init__(self, outcomes: dict[str, list[Outcome]]) -> None:
        self.outcomes = outcomes
        self.rang: list[str] = []

    async def wake(self, room: Room, config: Any) -> Rang:
        self.rang.append(room.room)
        outcome = self.outcomes[room.room].pop(0)
        return Rang(outcome, str(outcome))


async def test_the_scheduler_rings_on_time_retries_and_reports(h: Fixture) -> None:
    await h.do("CHECKIN", {"CHECKIN": [{"room": "101", "name": "Ana"},
                                       {"room": "102", "name": "Luis"}]})
    await h.do("WAKEUP", {"WAKEUP": [{"room": "101", "time": "09:10", "date": "2024-06-01"},
                                     {"room": "102", "time": "09:10", "date": "2024-06-01"}]})
    ringer = FakeRinger({"101": [Outcome.NO_ANSWER, Outcome.ANSWERED],
                         "102": [Outcome.BUSY, Outcome.NO_ANSWER]})
    sched = WakeUpScheduler(h.repo, ringer, poll_s=30, clock=h.clock)
    assert await sched.tick() == 30  # 10 minutes to go: look again within the poll
    h.clock.advance(599)
    assert await sched.tick() == 1 and ringer.rang == []
    h.clock.advance(1)
    await sched.tick()
    await sched.settle()
    assert sorted(ringer.rang) == ["101", "102"]  # the first attempts: not answered, busy
    assert await h.outbox() == []
    assert {w.state for w in await h.repo.wakeups()} == {WakeUpState.PENDING}
    assert await sched.tick() == 2  # wakeup_retry_s
    h.clock.advance(2)
    await sched.tick()
    await sched.settle()
    assert sorted(ringer.rang) == ["101", "101", "102", "102"]
    results = {d["WAKEUPRESULT"][0]["room"]: d["WAKEUPRESULT"][0]
               for a, _, d in await h.outbox() if a == "WAKEUPRESULT"}
    assert results["101"] == {"room": "101", "date": "2024-06-01", "time": "09:10:00",
                              "result": "1", "attempts": "2", "cause": "answered"}
    assert results["102"]["result"] == "0" and results["102"]["attempts"] == "2"
    assert results["102"]["cause"] == "no_answer"
    states = {r["room"]: r["state"] for r in await h.store.fetchall(
        "SELECT room, state FROM hotel_wakeups")}
    assert states == {"101": "done", "102": "failed"}


async def test_a_call_left_by_a_node_that_died_is_tried_again(h: Fixture) -> None:
    await h.do("CHECKIN", {"CHECKIN": {"room": "101", "name": "Ana"}})
    await h.do("WAKEUP", {"WAKEUP": {"room": "101", "time": "09:00:30", "date": "2024-06-01"}})
    h.clock.advance(30)
    [w] = await h.repo.due_wakeups(h.clock())
    assert await h.repo.claim_wakeup(w, h.clock(), 100)  # a node took it, then vanished
    assert not await h.repo.claim_wakeup(w, h.clock(), 100)
    ringer = FakeRinger({"101": [Outcome.ANSWERED]})
    sched = WakeUpScheduler(h.repo, ringer, poll_s=30, clock=h.clock)
    await sched.tick()
    await sched.settle()
    assert ringer.rang == []
    h.clock.advance(101)
    await sched.tick()
    await sched.settle()
    assert ringer.rang == ["101"]
    [(action, _, data)] = await h.outbox()
    assert action == "WAKEUPRESULT" and data["WAKEUPRESULT"][0]["attempts"] == "2"


class FakeLink:
    def __init__(self, answers: list[tuple[str, str] | Exception]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, int, str]] = []

    async def send(self, site: str, message: OutboxMessage) -> tuple[str, str]:
        self.sent.append((site, message.id, message.action))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_the_outbox_delivers_in_order_and_retries(h: Fixture) -> None:
    for action in ("CALL", "STATUS", "WAKEUPRESULT"):
        await h.repo.enqueue(action, "101", {action: [{"room": "101"}]}, h.clock())
    link = FakeLink([DeliveryError("timeout"), DeliveryError("HTTP 503"), ("0", "Successfull"),
                     ("7", "Unknown room"), ("0", "Successfull")])
    outbox = Outbox(h.repo, link, retry_min_s=5, retry_max_s=60, poll_s=30, clock=h.clock)
    assert await outbox.deliver_due() == 5  # the first failed: everything waits 5 s
    assert [s[2] for s in link.sent] == ["CALL"]
    h.clock.advance(4)
    assert await outbox.deliver_due() == 1 and len(link.sent) == 1
    h.clock.advance(1)
    assert await outbox.deliver_due() == 10  # failed again: twice as long
    # a restart: a new outbox on the same store takes over where it was
    outbox = Outbox(h.repo, link, retry_min_s=5, retry_max_s=60, poll_s=30, clock=h.clock)
    h.clock.advance(10)
    assert await outbox.deliver_due() == 30
    assert [s[2] for s in link.sent] == ["CALL", "CALL", "CALL", "STATUS", "WAKEUPRESULT"]
    assert all(site == "hotel-sol" for site, _, _ in link.sent)
    rows = await h.store.fetchall("SELECT action, state, attempts, last_error FROM hotel_outbox "
                                  "ORDER BY id")
    assert [(r["action"], r["state"], r["attempts"]) for r in rows] == [
        ("CALL", "delivered", 3), ("STATUS", "refused", 1), ("WAKEUPRESULT", "delivered", 1)]
    assert rows[1]["last_error"] == "7 Unknown room"
    assert outbox.backoff(20) == 60


async def test_calls_from_rooms_are_billed_to_the_stay(h: Fixture) -> None:
    from types import SimpleNamespace

    from pbx.pms.billing import RoomBilling
    from pbx.pms.reports import Reports

    woken: list[int] = []
    billing = RoomBilling(h.repo, h.core.directory,
                          Reports(h.repo, lambda: woken.append(1), h.clock), h.clock)

    async def call(room: str, *, trunk: str = "gw01", callee: str = "912345678",
                   answered: bool = True, mobility: bool = False) -> None:
        caller = await h.caller(room)
        if mobility:
            from dataclasses import replace
            caller = replace(caller, mobility=True)
        await billing.call_finished(SimpleNamespace(  # type: ignore[arg-type]
            caller=caller, answered_at=h.clock() - 30 if answered else None,
            b=object() if answered else None, trunk=trunk, callee=callee, dialled="0" + callee,
            started_at=h.clock() - 35, call_id=f"c-{room}-{h.clock()}"))

    await call("101")  # no guest: nothing to bill
    await h.do("CHECKIN", {"CHECKIN": {"room": "101", "name": "Ana"}})
    h.clock.advance(60)
    await call("101")
    await call("101", trunk="", callee="102")  # internal: not sent by default
    await call("101", answered=False)
    await call("101", mobility=True)  # someone's own call through the room's phone
    sent = [d["CALL"][0] for a, _, d in await h.outbox() if a == "CALL"]
    assert [(c["room"], c["number"], c["duration"], c["external"]) for c in sent] == \
        [("101", "912345678", "30", "1")]
    assert woken
    # a call still going on when the guest checks out is billed to their stay
    stay = (await h.room("101")).stay_id
    await h.do("CHECKOUT", {}, address="101")
    h.clock.advance(10)
    await call("101", callee="612345678")
    assert stay is not None and len(await h.repo.stay_calls(stay)) == 2
