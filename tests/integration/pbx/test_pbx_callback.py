"""«Retrollamada» with scripted SIP phones: *43# after a busy call books a callback; when the
target is free the PBX rings the requester and, once answered, calls the target for them
(through admission, as the requester); *44# cancels; bookings expire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pbx.admission import admitted as was_admitted
from pbx.routing import Caller, Route, RouteKind
from tests.integration.pbx.pbxrun import RunningPbx, start_pbx, stop_pbx
from tests.support.net import wait_until
from tests.support.phone import Phone


@pytest.fixture
async def pbx(tmp_path: Path) -> AsyncIterator[RunningPbx]:
    running = await start_pbx(tmp_path, callback_poll_s=0.2, callback_max_attempts=2)
    await running.store.execute("UPDATE extensions SET line_count = 1 WHERE number = '2002'")
    try:
        yield running
    finally:
        await stop_pbx(running)


async def dial(pbx: RunningPbx, phone: Phone, number: str) -> int:
    call = phone.dial(number, pbx.host, pbx.port)
    return (await call.wait_answer(5)).status


async def state_of(pbx: RunningPbx) -> list[str]:
    rows = await pbx.store.fetchall("SELECT state FROM callbacks ORDER BY id")
    return [r["state"] for r in rows]


async def busy_2002(pbx: RunningPbx) -> tuple[Phone, Phone]:
    """2002 talks to 2003 (one line: busy for anyone else)."""
    b = await pbx.registered("2002")
    c = await pbx.registered("2003")
    c.dial("1002", pbx.host, pbx.port)
    b.answer(await b.incoming())
    await c.wait_answered(5)
    return b, c


async def test_callback_rings_the_requester_then_the_target(pbx: RunningPbx) -> None:
    b, c = await busy_2002(pbx)
    a = await pbx.registered("2001")
    assert await dial(pbx, a, "1002") == 486
    await wait_until(lambda: not any(call.a is a.call for call in pbx.engine.calls.values()),
                     timeout=5)
    admitted: list[tuple[str, Caller, Route]] = []
    admit = pbx.engine.callbacks.admission.admit

    async def spy(number: str, placed_for: Caller, **kw: Any) -> Route:
        route = await admit(number, placed_for, **kw)
        admitted.append((number, placed_for, route))
        return route

    pbx.engine.callbacks.admission.admit = spy  # type: ignore[method-assign]
    assert await dial(pbx, a, "*43%23") == 200
    await asyncio.wait_for(a.ended.wait(), 5)  # the confirmation tone, then the PBX hangs up
    assert await state_of(pbx) == ["pending"]
    await asyncio.sleep(0.6)
    assert await state_of(pbx) == ["pending"]  # 1002 still busy: nothing happens
    await c.hangup()
    # 1002 is free: the PBX rings the requester first, showing whom it will call
    incoming = await a.incoming(5)
    assert incoming.remote_party.uri.user == "1002"
    a.tone_hz, b.tone_hz = 440.0, 700.0
    a.answer(incoming)
    a.send_tone()
    b.answer(await b.incoming(5))
    b.send_tone()
    await b.wait_hearing(440.0, timeout=5)
    await a.wait_hearing(700.0, timeout=5)
    number, placed_for, route = admitted[-1]
    assert number == "1002"
    assert placed_for.user is not None and placed_for.user.id == pbx.ids["user1001"]
    assert placed_for.phone is not None and placed_for.phone.id == pbx.ids["phone2001"]
    assert route.kind is RouteKind.USER and route.caller is placed_for and was_admitted(route)
    # the requester's leg records who is on it (their rights for what they do in the call)
    call = next(c for c in pbx.engine.calls.values() if c.dialled == "1002" and c.b)
    assert call.a.party is placed_for
    assert call.b is not None and call.b.phone == "2002"
    assert await state_of(pbx) == ["done"]
    await a.hangup()


async def test_the_target_is_admitted_with_the_requesters_rights(pbx: RunningPbx) -> None:
    """A requester who may not call the target («solo entrantes») gets no call placed for
    them by a callback either: they are rung, the target is refused, never rung."""
    await pbx.store.execute("UPDATE users SET user_type = 'solo_entrantes' WHERE id = ?",
                            (pbx.ids["user1001"],))
    pbx.core.directory.invalidate()
    b = await pbx.registered("2002")
    a = await pbx.registered("2001")
    refused: list[Route] = []
    admit = pbx.engine.callbacks.admission.admit

    async def spy(number: str, placed_for: Caller, **kw: Any) -> Route:
        route = await admit(number, placed_for, **kw)
        refused.append(route)
        return route

    pbx.engine.callbacks.admission.admit = spy  # type: ignore[method-assign]
    assert await dial(pbx, a, "*43*1002%23") == 200
    await asyncio.wait_for(a.ended.wait(), 5)
    a.answer(await a.incoming(5))
    await wait_until(lambda: any(r.number == "1002" for r in refused), timeout=5)
    route = next(r for r in refused if r.number == "1002")
    assert route.kind is RouteKind.REJECT and route.status == 403
    assert route.caller.user is not None and route.caller.user.id == pbx.ids["user1001"]
    await asyncio.wait_for(a.ended.wait(), 10)  # a busy tone, then the PBX hangs up
    with pytest.raises(TimeoutError):
        await b.incoming(0.5)


async def test_star_44_cancels_and_star_43_without_a_busy_call_is_refused(
        pbx: RunningPbx) -> None:
    a = await pbx.registered("2001")
    assert await dial(pbx, a, "*43%23") == 404
    assert await dial(pbx, a, "*44%23") == 404
    _b, c = await busy_2002(pbx)
    assert await dial(pbx, a, "*43*1002%23") == 200
    await asyncio.wait_for(a.ended.wait(), 5)
    assert await dial(pbx, a, "*44%23") == 200
    await asyncio.wait_for(a.ended.wait(), 5)
    assert await state_of(pbx) == ["cancelled"]
    await c.hangup()
    with pytest.raises(TimeoutError):
        await a.incoming(1.0)


async def test_bookings_expire(pbx: RunningPbx) -> None:
    await busy_2002(pbx)
    a = await pbx.registered("2001")
    assert await dial(pbx, a, "*43*1002%23") == 200
    await pbx.store.execute("UPDATE callbacks SET expires_at = created_at")

    async def expired() -> bool:
        return await state_of(pbx) == ["expired"]

    await wait_until(expired, timeout=5)
