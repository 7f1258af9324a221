"""Conference-room PINs (pbx.conference.pins): failures counted per source and per room, a
lock-out that refuses even the right PIN without checking it, checks bounded, and no fail2ban
line for a caller from a trunk (its address is the trunk's)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pbx.conference.pins import ConferencePins, PinCheck, pin_source
from pbx.directory import Trunk
from pbx.repo.conferences import ConferenceRoom
from pbx.routing import Caller
from webfon.passwords import ChecksBusy, PasswordChecks, hash_password
from webfon.ratelimit import FailureLimiter

PIN_HASH = hash_password("4321")


def room(room_id: int = 1) -> ConferenceRoom:
    return ConferenceRoom(id=room_id, number=f"800{room_id}", name="Sala", owner_user_id=None,
                          pin_hash=PIN_HASH, beep=False, max_participants=10, adhoc=False)


class CountingChecks(PasswordChecks):
    def __init__(self) -> None:
        super().__init__(2)
        self.calls = 0

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        self.calls += 1
        return await super().verify(stored_hash, password)


def pins(checks: PasswordChecks, per_source: int = 2, per_room: int = 3) -> ConferencePins:
    return ConferencePins(checks, per_source=FailureLimiter(per_source, 60, 30),
                          per_room=FailureLimiter(per_room, 60, 30))


async def test_a_source_is_locked_out_and_then_not_even_checked(
        caplog: pytest.LogCaptureFixture) -> None:
    checks = CountingChecks()
    p = pins(checks)
    caller = Caller(address="192.0.2.7")
    with caplog.at_level(logging.WARNING, logger="pbx.auth"):
        assert await p.check(room(), "1111", caller, "phone:1") is PinCheck.WRONG
        assert await p.check(room(), "2222", caller, "phone:1") is PinCheck.WRONG
        assert await p.check(room(), "4321", caller, "phone:1") is PinCheck.WRONG
    assert checks.calls == 2  # locked: the right PIN was not even checked
    assert await p.check(room(), "4321", caller, "phone:2") is PinCheck.OK
    lines = [r.getMessage() for r in caplog.records]
    assert "pbx-auth-failure ip=192.0.2.7 user=8001 kind=conference reason=locked_out" in lines
    assert any(m.startswith("pbx-auth-ban kind=conference-source") for m in lines)
    assert not any("1111" in m or "4321" in m for m in lines)


async def test_a_room_is_locked_for_every_source() -> None:
    p = pins(CountingChecks(), per_source=10, per_room=3)
    for n in range(3):
        assert await p.check(room(), "0000", Caller(), f"phone:{n}") is PinCheck.WRONG
    assert await p.check(room(), "4321", Caller(), "phone:9") is PinCheck.WRONG
    assert await p.check(room(2), "4321", Caller(), "phone:9") is PinCheck.OK  # other rooms


async def test_busy_checks_are_no_failure() -> None:
    class Busy(PasswordChecks):
        async def verify(self, stored_hash: str | None, password: str) -> bool:
            raise ChecksBusy("busy")

    p = pins(Busy(), per_source=1)
    assert await p.check(room(), "0000", Caller(), "phone:1") is PinCheck.BUSY
    assert not p.per_source.locked_for("phone:1")


async def test_a_trunk_caller_is_counted_by_number_and_never_sent_to_fail2ban(
        caplog: pytest.LogCaptureFixture) -> None:
    trunk = Trunk(id=1, name="op", host="198.51.100.1", port=5060, transport="udp",
                  priority=0, prefix_strip=0)
    caller = Caller(trunk=trunk, address="198.51.100.1")
    assert pin_source(caller, "600111222") == "trunk:op:600111222"
    p = pins(CountingChecks())
    with caplog.at_level(logging.WARNING):
        assert await p.check(room(), "0000", caller, pin_source(caller, "600111222")) \
            is PinCheck.WRONG
    assert not [r for r in caplog.records if r.name == "pbx.auth"]
    assert any(r.name == "pbx.conference" for r in caplog.records)


async def test_checks_beyond_the_bound_are_busy() -> None:
    p = pins(PasswordChecks(1, max_waiting=0))
    results = await asyncio.gather(*(p.check(room(), "4321", Caller(), f"phone:{n}")
                                     for n in range(3)))
    assert PinCheck.OK in results and PinCheck.BUSY in results
