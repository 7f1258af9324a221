"""Call-by-call mobility codes through admission: the call goes on as the code's user, every
refusal is one answer, guessing is limited per phone and per login with a growing lock-out,
and a code's PIN stays out of routes and logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from pbx.admission import Admission, admitted
from pbx.core import PbxCore
from pbx.mdflow import Mdflow, MdflowConfig
from pbx.mobility import NOT_ACCEPTED, MobilityCodes, redact
from pbx.routing import Caller, RouteKind
from pbx.settings import PbxSettings
from tests.support.clock import ManualClock
from webfon.passwords import PasswordChecks
from webfon.ratelimit import FailureLimiter
from webfon.store import Store


def _admission(store: Store, tmp_path: Path, clock: ManualClock,
               **limits: Any) -> tuple[Admission, PbxCore]:
    settings = PbxSettings.load(environ={}, data_dir=tmp_path / "data", sip_port=0)
    core = PbxCore.create(settings, store)
    core.mdflow = Mdflow(MdflowConfig())
    per_source = FailureLimiter(limits.get("source", 3), 900, 60, max_lock_s=3600,
                                clock=clock)
    per_account = FailureLimiter(limits.get("account", 5), 900, 60, max_lock_s=3600,
                                 clock=clock)
    codes = MobilityCodes(core.directory, PasswordChecks(2), per_source=per_source,
                          per_account=per_account)
    return Admission(core, codes), core


async def _at(core: PbxCore, username: str) -> Caller:
    phone = await core.directory.phone_by_username(username)
    assert phone is not None
    return await core.router.caller_for_phone(phone)


async def test_code_places_the_call_as_its_user(store: Store, org: Any,
                                                tmp_path: Path) -> None:
    admission, core = _admission(store, tmp_path, ManualClock())
    at_2001 = await _at(core, "2001")  # Nacional
    # 6721 (Perry, solo entrantes, no category -> internal only) from extension 2001
    r = await admission.admit("*72*6721*1111#2002", at_2001)
    assert r.kind is RouteKind.EXTENSION and r.caller.mobility and admitted(r)
    assert r.caller.number == "6721" and r.caller.user is not None
    assert r.caller.user.id == org.users["6721"] and r.number == "2002"
    # the user's category, not the phone's: Perry may not call a mobile
    denied = await admission.admit("*72*6721*1111#0611223344", at_2001)
    assert (denied.status, denied.reason) == (403, "Category default does not allow mobile "
                                                   "calls")
    assert not admitted(denied)
    nested = await admission.admit("*72*6721*1111#*72*1001*1111#0611223344", at_2001)
    assert nested.status == 484
    malformed = await admission.admit("*72*6721#2002", at_2001)
    assert malformed.status == 484
    trunk = (await core.directory.trunks())[0]
    from_trunk = await admission.admit("*72*6721*1111#2002", Caller(trunk=trunk))
    assert from_trunk.status == 403 and "1111" not in from_trunk.number


async def test_every_refusal_is_one_answer(store: Store, org: Any, tmp_path: Path) -> None:
    admission, core = _admission(store, tmp_path, ManualClock(), source=100, account=100)
    at_2001 = await _at(core, "2001")
    at_2002 = await _at(core, "2002")  # mobility on, but not in the user's group
    await store.execute("UPDATE extensions SET mobility_enabled = 0 WHERE id = ?",
                        (org.exts["2050"],))
    refusals = [
        await admission.admit("*72*6721*9999#2002", at_2001),   # wrong PIN
        await admission.admit("*72*9999*1111#2002", at_2001),   # unknown login
        await admission.admit("*72*6721*1111#2001", at_2002),   # right PIN, wrong extension
    ]
    await store.execute("UPDATE users SET enabled = 0 WHERE id = ?", (org.users["6721"],))
    core.directory.invalidate()
    refusals.append(await admission.admit("*72*6721*1111#2002", at_2001))  # disabled user
    await store.execute("UPDATE extensions SET mobility_enabled = 0 WHERE id = ?",
                        (org.exts["2001"],))
    core.directory.invalidate()
    refusals.append(await admission.admit("*72*1001*1111#2002", await _at(core, "2001")))
    assert {(r.kind, r.status, r.reason) for r in refusals} == \
        {(RouteKind.REJECT, 403, NOT_ACCEPTED)}


async def test_guessing_locks_the_phone_out_with_back_off(
        store: Store, org: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    admission, core = _admission(store, tmp_path, clock, source=3, account=100)
    at_2001 = await _at(core, "2001")
    caplog.set_level(logging.INFO)
    for pin in ("0000", "0001", "0002"):
        assert (await admission.admit(f"*72*6721*{pin}#2002", at_2001)).reason == \
            NOT_ACCEPTED
    # locked: even the right PIN gets the same answer, without being checked
    locked = await admission.admit("*72*6721*1111#2002", at_2001)
    assert (locked.status, locked.reason) == (403, NOT_ACCEPTED)
    clock.advance(61)
    assert (await admission.admit("*72*6721*1111#2002", at_2001)).kind is \
        RouteKind.EXTENSION
    # a right code does not wipe the count: three more guesses lock it out twice as long
    for pin in ("0003", "0004", "0005"):
        await admission.admit(f"*72*6721*{pin}#2002", at_2001)
    clock.advance(61)
    assert (await admission.admit("*72*6721*1111#2002", at_2001)).reason == NOT_ACCEPTED
    clock.advance(60)
    assert (await admission.admit("*72*6721*1111#2002", at_2001)).kind is \
        RouteKind.EXTENSION
    lines = [r.getMessage() for r in caplog.records if r.name == "pbx.auth"]
    assert sum("pbx-auth-failure" in line and "kind=mobility" in line for line in lines) == 8
    assert any("pbx-auth-ban kind=mobility-source subject=phone:" in line for line in lines)
    assert not any("1111" in r.getMessage() or "000" in r.getMessage()
                   for r in caplog.records)


async def test_guessing_one_login_from_many_phones_locks_the_login(
        store: Store, org: Any, tmp_path: Path) -> None:
    clock = ManualClock()
    admission, core = _admission(store, tmp_path, clock, source=100, account=2)
    await store.execute("INSERT INTO mobility_group_extensions (group_id, extension_id) "
                        "VALUES (?, ?)", (org.mobility, org.exts["2002"]))
    at_2001, at_2002 = await _at(core, "2001"), await _at(core, "2002")
    await admission.admit("*72*6721*0000#2002", at_2001)
    await admission.admit("*72*6721*0001#2001", at_2002)
    assert (await admission.admit("*72*6721*1111#2001", at_2002)).reason == NOT_ACCEPTED
    # another login is not affected
    assert (await admission.admit("*72*1001*1111#2001", at_2002)).kind is RouteKind.EXTENSION
    clock.advance(61)
    assert (await admission.admit("*72*6721*1111#2001", at_2002)).kind is RouteKind.EXTENSION


def test_redact_keeps_no_pin() -> None:
    assert redact("*72*6721*1111#0611223344") == "*72*6721*#0611223344"
    assert redact("*72*67x21*1111#06") == "*72*"
    assert redact("0611223344") == "0611223344"
