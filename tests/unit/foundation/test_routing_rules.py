"""Routing rules and weekly time windows: validation with the field at fault, matching,
captures, rewrites, time zones, and patterns that would stall a backtracking matcher."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from webfon.routing_rules import RuleError, compile_rule, decide
from webfon.timewindow import TimeWindow, WindowError

MADRID = ZoneInfo("Europe/Madrid")


def at(text: str, tz: ZoneInfo = MADRID) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def rule(**row: Any) -> Any:
    row.setdefault("name", "r")
    row.setdefault("action", "queue")
    row.setdefault("target", "3000")
    return compile_rule(row)


@pytest.mark.parametrize(("row", "field"), [
    ({"number_pattern": "(a)\\1"}, "number_pattern"),          # back-reference
    ({"number_pattern": "(?=6)\\d+"}, "number_pattern"),       # look-ahead
    ({"number_pattern": "6" * 201}, "number_pattern"),         # too long
    ({"number_pattern": "((\\d{100}){100}){100}"}, "number_pattern"),  # huge program
    ({"number_pattern": "[0-9"}, "number_pattern"),
    ({"number_pattern": "\\d+", "caller_pattern": "(x"}, "caller_pattern"),
    ({"number_pattern": "(\\d+)", "target": "$2"}, "target"),
    ({"number_pattern": "(\\d+)", "target": "${zona}"}, "target"),
    ({"number_pattern": "\\d+", "target": "30a0"}, "target"),
    ({"number_pattern": "\\d+", "target": ""}, "target"),
    ({"number_pattern": "\\d+", "action": "bounce"}, "action"),
    ({"number_pattern": "\\d+", "days": "mon,funday"}, "days"),
    ({"number_pattern": "\\d+", "time_from": "25:00"}, "time_from"),
    ({"number_pattern": "\\d+", "time_from": "08:00", "time_to": "08:00"}, "time_to"),
    ({"number_pattern": "\\d+", "timezone": "Mars/Olympus"}, "timezone"),
    ({"number_pattern": "\\d+", "action": "trunk", "trunk_prefix": "10x5"}, "trunk_prefix"),
    ({"number_pattern": "\\d+", "action": "reject", "reject_status": 302}, "reject_status"),
])
def test_bad_rules_are_refused_naming_the_field(row: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleError) as err:
        rule(**row)
    assert err.value.field == field, err.value


def test_captures_make_the_target() -> None:
    r = rule(number_pattern=r"0(?P<movil>6\d{8})", action="trunk", target="+34${movil}",
             trunk_prefix="1055")
    m = r.match("0612345678")
    assert m is not None and m.number == "+34612345678" and m.groups == ("612345678",)
    assert r.match("06123456789") is None  # the whole number must match
    r2 = rule(number_pattern=r"^8(\d{3})$", action="extension", target="2$1")
    assert r2.match("8001").number == "2001"  # type: ignore[union-attr]


def test_first_matching_rule_decides_and_rewrites_carry_on() -> None:
    rules = [rule(id=1, name="norm", number_pattern=r"\+34(\d{9})", action="rewrite",
                  target="0$1"),
             rule(id=2, name="vip", number_pattern=r"0(\d{9})", caller_pattern=r"600\d{6}",
                  action="extension", target="1001"),
             rule(id=3, name="rest", number_pattern=r"0(\d{9})", action="queue", target="3000")]
    d = decide(rules, "+34911223344", caller="600111222", from_trunk=True, at=time.time())
    assert d.match is not None and d.match.rule.name == "vip" and d.number == "0911223344"
    assert [m.rule.name for m in d.matched] == ["norm", "vip"] and d.rewritten
    d = decide(rules, "+34911223344", caller="700111222", from_trunk=True, at=time.time())
    assert d.match is not None and d.match.rule.name == "rest"
    d = decide(rules, "2001", caller="700111222", from_trunk=False, at=time.time())
    assert d.match is None and d.number == "2001" and not d.matched


def test_origin_limits_a_rule() -> None:
    r = rule(number_pattern=r"\d+", origin="trunks")
    now = time.time()
    assert r.applies(from_trunk=True, caller="", at=now)
    assert not r.applies(from_trunk=False, caller="", at=now)
    assert not rule(number_pattern=r"\d+", origin="phones").applies(from_trunk=True, caller="",
                                                                     at=now)


def test_office_hours_in_the_rules_time_zone() -> None:
    r = rule(number_pattern=r"\d+", days="mon-fri", time_from="08:00", time_to="20:00",
             timezone="Europe/Madrid")
    assert r.applies(from_trunk=False, caller="", at=at("2026-03-02T08:00"))  # Monday
    assert not r.applies(from_trunk=False, caller="", at=at("2026-03-02T07:59"))
    assert not r.applies(from_trunk=False, caller="", at=at("2026-03-02T20:00"))
    assert not r.applies(from_trunk=False, caller="", at=at("2026-03-07T10:00"))  # Saturday
    # 08:30 in the Canaries is 09:30 in Madrid: a Canary rule's 08:00-09:00 holds it
    canary = ZoneInfo("Atlantic/Canary")
    c = rule(number_pattern=r"\d+", time_from="08:00", time_to="09:00",
             timezone="Atlantic/Canary")
    assert c.applies(from_trunk=False, caller="", at=at("2026-03-02T08:30", canary))
    assert not r.window.contains(at("2026-03-29T01:30"))  # a Sunday, DST change night


def test_windows_across_midnight_and_day_ranges() -> None:
    night = TimeWindow.parse("fri", "22:00", "06:00", "Europe/Madrid")
    assert night.contains(at("2026-03-06T23:00"))   # Friday night
    assert night.contains(at("2026-03-07T05:59"))   # Saturday morning
    assert not night.contains(at("2026-03-07T22:30"))  # Saturday night
    assert not night.contains(at("2026-03-06T05:00"))  # Friday morning
    weekend = TimeWindow.parse("sat-sun")
    assert weekend.days == {5, 6} and TimeWindow.parse("sun-mon").days == {6, 0}
    with pytest.raises(WindowError):
        TimeWindow.parse("")


def test_pathological_patterns_match_in_linear_time() -> None:
    """Patterns that make a backtracking engine (Python's ``re``) take exponential time are
    accepted and harmless: on 32 digits without the final '#', a backtracker tries 2^32 ways
    and this test would hang until pytest's timeout; RE2 answers at once."""
    subject = "1" * 32
    for pattern in (r"(\d+)+#", r"(\d|\d\d)+#", r"(1*)*#", r"((1+)+)+#"):
        r = rule(number_pattern=pattern)
        assert r.match(subject) is None
        assert r.match(subject + "#") is not None
    long = rule(number_pattern=r"\d+")
    assert long.match("1" * 65) is None  # longer than any number: never matched
