"""Forwarding resolution, multiterminal hunting order and ACD strategies."""

import random

import pytest

from pbx.acd import Member, plan
from pbx.directory import Phone
from pbx.forwarding import ForwardingRules, resolve
from pbx.hunting import exclusive_target, ring_rounds


def _rule(kind: str, target: str = "number", number: str = "", enabled: int = 1,
          timeout: int = 20) -> dict[str, object]:
    return {"kind": kind, "enabled": enabled, "target_type": target, "target_number": number,
            "timeout_s": timeout}


def test_forwarding_precedence() -> None:
    rules = ForwardingRules.from_rows([_rule("busy", number="600"),
                                       _rule("no_answer", "voicemail", timeout=7),
                                       _rule("not_logged_in", number="700"),
                                       _rule("unconditional", number="800", enabled=0)])
    assert resolve(rules, registered=True, busy=False) is None
    busy = resolve(rules, registered=True, busy=True)
    assert busy is not None and (busy.kind, busy.number) == ("busy", "600")
    off = resolve(rules, registered=False, busy=False)
    assert off is not None and off.number == "700"
    na = rules.on("no_answer")
    assert na is not None and na.to_voicemail and rules.ring_timeout(20) == 7.0
    always = ForwardingRules.from_rows([_rule("unconditional", "voicemail"),
                                        _rule("busy", number="600")])
    got = resolve(always, registered=True, busy=True)
    assert got is not None and got.kind == "unconditional" and got.to_voicemail
    assert always.on("no_answer") == always.unconditional()
    with pytest.raises(ValueError):
        rules.on("sometimes")


def test_number_rule_without_number_is_ignored() -> None:
    assert ForwardingRules.from_rows([_rule("busy", number="")]).rules == {}


def _phone(pid: int, pos: int, order: int, enabled: bool = True) -> Phone:
    return Phone(pid, 1, pos, order, enabled, False, None, f"u{pid}", "", "", None)


def test_hunting_rounds_by_order() -> None:
    phones = [_phone(1, 0, 2), _phone(2, 1, 1), _phone(3, 2, 0), _phone(4, 3, 1),
              _phone(5, 5, 2, enabled=False), _phone(6, 7, 3)]
    rounds = ring_rounds(phones)
    assert [[p.id for p in r] for r in rounds] == [[2, 4], [1], [6]]
    # unregistered phones are skipped so the next order rings
    assert [[p.id for p in r] for r in ring_rounds(phones, reachable={1, 3, 6})] == [[1], [6]]
    assert ring_rounds([_phone(1, 0, 0)]) == []


def test_exclusive_mode() -> None:
    assert exclusive_target("exclusivo", True)
    assert not exclusive_target("exclusivo", False)
    assert not exclusive_target("multiterminal", True)


MEMBERS = [Member(1, "2001", penalty=0, last_call_at=50, calls_taken=5),
           Member(2, "2002", penalty=0, last_call_at=10, calls_taken=9),
           Member(3, "2003", penalty=0, last_call_at=30, calls_taken=1),
           Member(4, "2004", penalty=1, last_call_at=0, calls_taken=0),
           Member(5, "2005", penalty=0, paused=True)]


def ids(rounds: list[list[Member]]) -> list[list[int]]:
    return [[m.extension_id for m in r] for r in rounds]


def test_ringall_by_penalty_level() -> None:
    assert ids(plan("ringall", MEMBERS)) == [[1, 2, 3], [4]]


def test_linear() -> None:
    assert ids(plan("linear", MEMBERS)) == [[1], [2], [3], [4]]


def test_roundrobin_memory() -> None:
    assert ids(plan("roundrobin", MEMBERS, last_rr=1)) == [[2], [3], [1], [4]]
    assert ids(plan("roundrobin", MEMBERS, last_rr=3)) == [[1], [2], [3], [4]]
    assert ids(plan("roundrobin", MEMBERS)) == [[1], [2], [3], [4]]


def test_leastrecent_and_fewestcalls() -> None:
    assert ids(plan("leastrecent", MEMBERS)) == [[2], [3], [1], [4]]
    assert ids(plan("fewestcalls", MEMBERS)) == [[3], [1], [2], [4]]


def test_random_is_a_permutation_per_level() -> None:
    seen = set()
    for seed in range(20):
        rounds = ids(plan("random", MEMBERS, rng=random.Random(seed)))
        assert sorted(x[0] for x in rounds[:3]) == [1, 2, 3] and rounds[3] == [4]
        seen.add(tuple(x[0] for x in rounds[:3]))
    assert len(seen) > 1


def test_paused_never_rings_and_unknown_strategy() -> None:
    assert all(5 not in r for r in ids(plan("ringall", MEMBERS)))
    assert plan("linear", [Member(9, "9", paused=True)]) == []
    with pytest.raises(ValueError):
        plan("weird", MEMBERS)
