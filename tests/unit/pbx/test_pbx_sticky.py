"""Sticky agent memory: one spelling of a number, the window, members only, ready only."""

from __future__ import annotations

from typing import Any

from pbx.acd import Member, plan
from pbx.sticky import StickyAgents, contact_key, sticky_first
from webfon.store import Store


def test_one_spelling_of_a_number() -> None:
    assert {contact_key(n) for n in ("+34 612 345 678", "0034612345678", "612345678",
                                     "612-345-678")} == {"612345678"}
    assert contact_key("+44 20 7123 4567") == "00442071234567"
    assert contact_key("2001") == "2001" and contact_key("anonymous") == ""


def test_sticky_member_rings_first_then_the_strategy() -> None:
    members = [Member(1, "2001"), Member(2, "2002"), Member(3, "2003")]
    linear = plan("linear", members)
    assert [[m.number for m in g] for g in sticky_first(linear, members[2])] == \
        [["2003"], ["2001"], ["2002"]]
    ringall = plan("ringall", members)
    assert [[m.number for m in g] for g in sticky_first(ringall, members[1])] == \
        [["2002"], ["2001", "2003"]]


async def test_window_members_and_pause(store: Store, org: Any) -> None:
    sticky = StickyAgents(store)
    ext = org.exts["2001"]
    await sticky.remember("+34612345678", ext, 1000.0)
    members = [Member(ext, "2001"), Member(org.exts["2002"], "2002")]
    assert (await sticky.choose(600, "612345678", members, 1500.0)) == members[0]
    assert await sticky.choose(600, "612345678", members, 1700.0) is None  # window passed
    assert await sticky.choose(0, "612345678", members, 1001.0) is None  # queue not sticky
    assert await sticky.choose(600, "612345678", members[1:], 1001.0) is None  # not a member
    paused = [Member(ext, "2001", paused=True)]
    assert await sticky.choose(600, "612345678", paused, 1001.0) is None
    await sticky.remember("612345678", org.exts["2002"], 1100.0)  # someone else spoke later
    assert (await sticky.choose(600, "0034612345678", members, 1200.0)) == members[1]
