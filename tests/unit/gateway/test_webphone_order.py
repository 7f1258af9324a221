"""A user's web phone logins and logouts one at a time, in order; other users unaffected."""

from __future__ import annotations

import asyncio

from gateway.plugins.sip.webphone_order import WebphoneOrder


async def test_turns_of_one_user_follow_each_other_in_order() -> None:
    order = WebphoneOrder()
    seen: list[str] = []
    release = asyncio.Event()

    async def step(user: int, name: str, wait: bool = False) -> None:
        async with order.turn(user):
            seen.append(f"{name} in")
            if wait:
                await release.wait()
            seen.append(f"{name} out")

    logout = asyncio.create_task(step(1, "logout", wait=True))
    await asyncio.sleep(0)
    login = asyncio.create_task(step(1, "login"))
    other = asyncio.create_task(step(2, "other"))
    await asyncio.sleep(0.01)
    assert seen == ["logout in", "other in", "other out"]  # user 2 does not wait for user 1
    assert len(order) == 1
    release.set()
    await asyncio.gather(logout, login, other)
    assert seen[3:] == ["logout out", "login in", "login out"]
    assert len(order) == 0  # nothing kept once nobody holds or waits


async def test_a_turn_ends_when_its_holder_fails() -> None:
    order = WebphoneOrder()

    async def fail() -> None:
        async with order.turn(7):
            raise RuntimeError("PBX unreachable")

    try:
        await fail()
    except RuntimeError:
        pass
    async with order.turn(7):
        assert len(order) == 1
    assert len(order) == 0
