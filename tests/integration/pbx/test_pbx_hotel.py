"""The hotel PMS interface end to end: a PMS simulator (CHAR's requests over HTTPS, hmobile
connect's API taking the PBX's messages) drives a real PBX process whose room phones are SIP
phones, and a carrier phone stands at the far end of the trunk.

Times are short (a wake-up call rings 3 s, is retried once 2 s later) and wake-up calls are
programmed a few seconds ahead with seconds in the time, so the whole day of a guest takes
seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.integration.pbx.pbxrun import build_directory
from tests.support import procs
from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork
from tests.support.hotel import CHAR_PASSWORD, ROOM_PASSWORD, build_hotel
from tests.support.net import HOST, free_port, free_port_block, wait_until
from tests.support.nginx import make_pki
from tests.support.phone import Phone
from tests.support.pms_sim import PmsSimulator, post
from webfon.store import open_store

MADRID = ZoneInfo("Europe/Madrid")
OK = {"action_result": {"result": {"code": "0", "description": "Successfull"}}}
CARRIER_HZ, ROOM_HZ, WAKEUP_HZ = 1000.0, 600.0, 880.0


@dataclass
class Hotel:
    pbx: procs.Component
    sim: PmsSimulator
    carrier: Phone
    sip_port: int
    pms_port: int
    pbx_ca: Path
    phones: dict[str, Phone]
    env: dict[str, str]
    logs: Path

    async def send(self, action: str, data: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
        return await self.sim.send(self.pms_port, action, data, pbx_ca=self.pbx_ca, **kw)

    async def room_phone(self, room: str, tone_hz: float = ROOM_HZ) -> Phone:
        phone = await Phone.open(room, HOST, password=ROOM_PASSWORD.format(room=room),
                                 proxy=f"sip:{HOST}:{self.sip_port}", tone_hz=tone_hz)
        await phone.register()
        self.phones[room] = phone
        return phone

    async def restart_pbx(self) -> None:
        await procs.stop(self.pbx)
        self.pbx = await procs.start("pbx", "pbx", self.pbx.port, self.env, self.logs)


async def start_hotel(tmp_path: Path, host: str = HOST, **env: str) -> AsyncIterator[Hotel]:
    ca_sim, cert_sim, key_sim = make_pki(tmp_path / "pki-hmobile", "hmobile")
    ca_pbx, cert_pbx, key_pbx = make_pki(tmp_path / "pki-pbx", "pbx")
    sim = PmsSimulator(cert_sim, key_sim, ca_pbx)
    await sim.start()
    carrier = await Phone.open("carrier", HOST, tone_hz=CARRIER_HZ)
    db = tmp_path / "pbx.db"
    store = await open_store(f"sqlite:///{db}")
    await build_directory(store)
    async with store.transaction() as tx:
        await build_hotel(tx)
        await tx.execute("INSERT INTO trunks (name, host, port, priority) VALUES (?, ?, ?, ?)",
                         ("Trunk_vivait_gw01", HOST, carrier.ua.endpoint.address("udp")[1], 1))
    await store.close()
    rtp = free_port_block(200, host=host)
    sip_port, pms_port = free_port("both", host), free_port("tcp")
    full_env = procs.base_env(
        tmp_path / "data", WEBFON_DATABASE_URL=f"sqlite:///{db}",
        WEBFON_PBX_SIP_HOST=host, WEBFON_PBX_SIP_PORT=str(sip_port),
        WEBFON_PBX_SIP_TRANSPORTS="udp",
        WEBFON_PBX_RTP_PORT_MIN=str(rtp), WEBFON_PBX_RTP_PORT_MAX=str(rtp + 199),
        WEBFON_PBX_QUALIFY_INTERVAL_S="0", WEBFON_PBX_DIRECTORY_CACHE_S="5",
        WEBFON_PBX_PMS_ENABLED="true", WEBFON_PBX_PMS_PORT=str(pms_port),
        WEBFON_PBX_PMS_TLS_CERT_FILE=str(cert_pbx), WEBFON_PBX_PMS_TLS_KEY_FILE=str(key_pbx),
        WEBFON_PBX_PMS_URL=sim.url, WEBFON_PBX_PMS_CA_FILE=str(ca_sim),
        WEBFON_PBX_PMS_USER=sim.user, WEBFON_PBX_PMS_PASSWORD=sim.password,
        WEBFON_PBX_PMS_RETRY_MIN_S="0.3", WEBFON_PBX_PMS_RETRY_MAX_S="1",
        WEBFON_PBX_PMS_POLL_S="0.5", **env)
    logs = tmp_path / "logs"
    pbx = await procs.start("pbx", "pbx", free_port("tcp"), full_env, logs)
    hotel = Hotel(pbx, sim, carrier, sip_port, pms_port, ca_pbx, {}, full_env, logs)
    try:
        yield hotel
    finally:
        for phone in hotel.phones.values():
            await phone.close()
        await carrier.close()
        await procs.stop(hotel.pbx)
        await sim.stop()


@pytest.fixture
async def hotel(tmp_path: Path) -> AsyncIterator[Hotel]:
    async for h in start_hotel(tmp_path):
        yield h


def soon(seconds: float) -> tuple[str, str]:
    """The hotel's local (date, time) ``seconds`` from now."""
    at = dt.datetime.now(MADRID) + dt.timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%d"), at.strftime("%H:%M:%S")


async def dial(phone: Phone, number: str, port: int) -> int:
    """Call ``number`` through the PBX; the final status."""
    call = phone.dial(number, HOST, port)
    return (await call.wait_answer(15)).status


async def test_a_guests_stay(hotel: Hotel) -> None:
    room = await hotel.room_phone("101")
    # a vacant room is closed: internal and emergency numbers only
    assert await dial(room, "0912345678", hotel.sip_port) == 403

    status, body = await hotel.send("CHECKIN", {"CHECKIN": [{"room": "101",
                                                             "name": "Ana García"}]})
    assert (status, body) == (200, OK)

    # the guest calls out: the far end sees their name, audio goes both ways
    room.dial("0912345678", HOST, hotel.sip_port)
    incoming = await hotel.carrier.incoming(10)
    assert incoming.invite.from_.display_name == "Ana García"
    assert incoming.invite.uri.user == "912345678"
    hotel.carrier.answer(incoming)
    hotel.carrier.send_tone()
    await room.wait_answered()
    await room.wait_hearing(CARRIER_HZ)
    await hotel.carrier.wait_hearing(ROOM_HZ)
    await asyncio.sleep(1.0)
    await room.hangup()
    call = await hotel.sim.wait_for("CALL", room="101")
    [entry] = call.entries
    assert call.address == "101" and entry["number"] == "912345678"
    assert entry["external"] == "1" and entry["trunk"] == "Trunk_vivait_gw01"
    assert int(entry["duration"]) >= 1

    # message waiting: the room phone's lamp by a message-summary NOTIFY
    assert (await hotel.send("MW", {"MW": {"room": "101", "status": "1"}}))[1] == OK
    await wait_until(lambda: any(b"Messages-Waiting: yes" in (r.body or b"")
                                 for r in room.received("NOTIFY")), 10)
    notify = next(r for r in room.received("NOTIFY") if b"yes" in (r.body or b""))
    assert notify.headers.get("Event") == "message-summary"

    def lit() -> int:
        return sum(b"Messages-Waiting: yes" in (r.body or b"") for r in room.received("NOTIFY"))

    before = lit()
    await room.register()  # a phone that registers again (rebooted) gets its lamp back
    await wait_until(lambda: lit() > before, 10)
    assert (await hotel.send("MW", {"MW": {"room": "101", "status": "0"}}))[1] == OK
    await wait_until(lambda: any(b"Messages-Waiting: no" in (r.body or b"")
                                 for r in room.received("NOTIFY")), 10)

    # a status code dialled from the room reaches the PMS
    room.reset_recording()
    room.dial("*83*1202%23", HOST, hotel.sip_port)
    await room.wait_answered()
    await asyncio.wait_for(room.ended.wait(), 10)  # the PBX hangs up after its beeps
    assert abs(room.heard() - 1200.0) < 15  # the confirmation
    status_msg = await hotel.sim.wait_for("STATUS", room="101")
    assert status_msg.entries[0]["code"] == "MINIBAR"
    assert status_msg.entries[0]["value"] == "1202"

    # check-out: the room's calls come back, and go to the PMS; the room is closed again
    status, body = await hotel.send("CHECKOUT", {}, address="101")
    assert status == 200 and body["action_result"]["result"]["code"] == "0"
    cdr = body["action_result"]["data"]["CDR"]
    assert [c["call_id"] for c in cdr] == [entry["call_id"]]
    delivered = await hotel.sim.wait_for("CDR", room="101")
    assert delivered.entries == cdr
    await asyncio.sleep(0.2)
    assert await dial(room, "0912345678", hotel.sip_port) == 403
    assert await dial(room, "*81%23", hotel.sip_port) == 200  # housekeeping in a vacant room
    await hotel.sim.wait_for("STATUS", room="101", code="CLEAN")


async def test_wakeup_calls_answered_and_missed(hotel: Hotel) -> None:
    early = await hotel.room_phone("101")
    late = await hotel.room_phone("102")
    grumpy = await hotel.room_phone("103")
    assert (await hotel.send("CHECKIN", {"CHECKIN": [
        {"room": "101", "name": "Ana"}, {"room": "102", "name": "Luis"},
        {"room": "103", "name": "Eva"}]}))[1] == OK
    # Luis asked not to be disturbed: the wake-up call rings anyway
    assert (await hotel.send("DND", {"DND": {"room": "102", "status": "1"}}))[1] == OK
    assert await dial(early, "102", hotel.sip_port) == 486

    async def decline(phone: Phone, times: int) -> None:
        for _ in range(times):
            (await phone.incoming(30)).reject(486)

    declining = asyncio.create_task(decline(grumpy, 2))
    date, at = soon(3)
    status, body = await hotel.send("WAKEUP", {"WAKEUP": [
        {"room": "101", "time": at, "date": date, "status": "1"},
        {"room": "102", "time": at, "date": date, "status": "1"},
        {"room": "103", "time": at, "date": date, "status": "1"}]})
    assert (status, body) == (200, OK)

    call = await early.incoming(15)
    assert call.invite.from_.display_name == "Despertador"
    early.reset_recording()
    early.answer(call)
    await asyncio.wait_for(early.ended.wait(), 15)  # the PBX hangs up after the message
    assert abs(early.heard() - WAKEUP_HZ) < 12  # the wake-up tune's long note
    done = await hotel.sim.wait_for("WAKEUPRESULT", room="101")
    assert done.entries[0] == {
        "room": "101", "date": date, "time": at, "result": "1", "attempts": "1",
        "cause": "answered"}

    # nobody answers in 102: rung twice (once again after wakeup_retry_s), then reported
    first = await late.incoming(5)
    second = await late.incoming(15)
    assert first.call_id != second.call_id
    failed = await hotel.sim.wait_for("WAKEUPRESULT", room="102", timeout=15)
    assert failed.entries[0]["result"] == "0" and failed.entries[0]["attempts"] == "2"
    assert failed.entries[0]["cause"] == "no answer"

    # Eva declines the call (486 Busy Here) both times: reported as busy, not as no answer
    await asyncio.wait_for(declining, 15)
    declined = await hotel.sim.wait_for("WAKEUPRESULT", room="103", timeout=15)
    assert declined.entries[0]["result"] == "0" and declined.entries[0]["attempts"] == "2"
    assert declined.entries[0]["cause"] == "busy"


async def test_a_baresip_room_phone_is_woken(tmp_path: Path, phone_network: PhoneNetwork,
                                             baresip_factory: Callable[..., Awaitable[
                                                 BaresipPhone]]) -> None:
    async for hotel in start_hotel(tmp_path, host=phone_network.host_ip):
        phone = await baresip_factory(
            "101", tone_hz=500.0, registrar=f"{phone_network.host_ip}:{hotel.sip_port}",
            password=ROOM_PASSWORD.format(room="101"), codecs=("PCMA", "PCMU"))
        assert (await hotel.send("CHECKIN", {"CHECKIN": {"room": "101",
                                                         "name": "Ana"}}))[1] == OK
        date, at = soon(2)
        assert (await hotel.send("WAKEUP", {"WAKEUP": {"room": "101", "time": at,
                                                       "date": date}}))[1] == OK
        await phone.wait_event("CALL_ESTABLISHED", 10)  # it answers by itself
        await phone.wait_event("CALL_CLOSED", 10)  # the PBX hangs up after the message
        assert_tone(phone.last_decoded_wav(), WAKEUP_HZ, tolerance_hz=5, min_seconds=1.0)
        done = await hotel.sim.wait_for("WAKEUPRESULT", room="101")
        assert (done.entries[0]["result"], done.entries[0]["attempts"]) == ("1", "1")


async def test_a_wakeup_programmed_from_the_room_phone(hotel: Hotel) -> None:
    room = await hotel.room_phone("103")
    assert (await hotel.send("CHECKIN", {"CHECKIN": {"room": "103", "name": "Eva"}}))[1] == OK
    assert await dial(room, "*55*0730%23", hotel.sip_port) == 200
    programmed = await hotel.sim.wait_for("WAKEUP", room="103")
    assert (programmed.entries[0]["time"], programmed.entries[0]["status"]) == ("07:30:00", "1")
    await asyncio.sleep(0.3)
    assert await dial(room, "*56%23", hotel.sip_port) == 200
    await hotel.sim.wait_for("WAKEUP", room="103", status="0")
    await asyncio.sleep(0.3)
    assert await dial(room, "*56%23", hotel.sip_port) == 404  # nothing left to cancel


async def test_messages_for_the_pms_survive_its_absence_and_a_restart(hotel: Hotel) -> None:
    room = await hotel.room_phone("101")
    await hotel.sim.stop()
    assert await dial(room, "*82%23", hotel.sip_port) == 200
    await asyncio.sleep(1.5)  # the PBX tried and is waiting to try again
    await hotel.restart_pbx()
    await room.register()
    hotel.sim.fail_next = 1  # back, but the first try still fails
    await hotel.sim.start()
    inspected = await hotel.sim.wait_for("STATUS", room="101", timeout=15)
    assert inspected.entries[0]["code"] == "INSPECTED"
    assert len(hotel.sim.of("STATUS")) == 1
    log = (hotel.logs / "pbx.log").read_text()
    assert "pms message not delivered" in log and CHAR_PASSWORD not in log
    assert hotel.sim.password not in log


async def test_the_interface_refuses_what_is_wrong(tmp_path: Path) -> None:
    client_ca, client_cert, client_key = make_pki(tmp_path / "pki-char", "char")
    async for hotel in start_hotel(tmp_path, WEBFON_PBX_PMS_MAX_FAILURES="3",
                                   WEBFON_PBX_PMS_CLIENT_CA_FILE=str(client_ca),
                                   WEBFON_PBX_PMS_ALLOWED_NETWORKS="127.0.0.1/32"):
        cert = (client_cert, client_key)

        async def send(action: str, data: Any, *, h: Hotel = hotel,
                       **kw: Any) -> tuple[int, dict[str, Any]]:
            return await h.send(action, data, client_cert=(client_cert, client_key), **kw)

        def code(reply: tuple[int, dict[str, Any]]) -> tuple[int, str, str]:
            result = reply[1]["action_result"]["result"]
            return reply[0], result["code"], result["description"]

        # without a client certificate signed by the configured CA: no TLS session
        with pytest.raises(aiohttp.ClientError):
            await hotel.send("DND", {"DND": {"room": "101", "status": "1"}})
        # from an address outside the allowed networks
        assert code(await send("DND", {}, address="101", local_addr="127.0.0.2"))[:2] == \
            (403, "10")
        # plain HTTP on the interface's port gets nowhere
        with pytest.raises(aiohttp.ClientError):
            async with aiohttp.ClientSession() as http:
                await http.post(f"http://127.0.0.1:{hotel.pms_port}/char", data=b"x")
        bad_json = code(await send("DND", "{not json", address="101"))
        assert bad_json[:2] == (200, "6") and "Invalid JSON" in bad_json[2]
        assert code(await send("DND", {}, address="101", site="other"))[:2] == (200, "4")
        assert code(await send("FLY", {}, address="101"))[:2] == (200, "5")
        unknown = code(await send("CHECKIN", {"CHECKIN": {"room": "999", "name": "X"}}))
        assert unknown == (200, "8", "Unknown room '999'")
        assert code(await send("CHECKOUT", {}, address="101"))[:2] == (200, "9")
        assert code(await send("WAKEUP", {"WAKEUP": {"room": "101", "time": "7"}}))[:2] \
            == (200, "9")  # no guest in 101: refused before the time is read
        malformed = await post(hotel.pms_port, b"user=x\npassword=y\n", hotel.pbx_ca, cert)
        assert code(malformed)[:2] == (400, "1")
        big = await post(hotel.pms_port, b"[credentials]\n" + b"x" * 70000, hotel.pbx_ca, cert)
        assert big[0] == 413
        # guessing the password: three failures lock the address and the user out
        for _ in range(3):
            assert code(await send("DND", {}, address="101", password="guess"))[:2] == \
                (401, "2")
        locked = code(await send("DND", {}, address="101"))
        assert locked[:2] == (429, "3") and "try again in" in locked[2]
        log = (hotel.logs / "pbx.log").read_text()
        assert log.count("pms login failed") == 3
        assert "guess" not in log and CHAR_PASSWORD not in log
