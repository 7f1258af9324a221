"""CHAR's message format, hotel times and the login limiter of the PMS interface."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from pbx.pms.limiter import LoginLimiter
from pbx.pms.protocol import (
    CharError,
    ResultCode,
    format_request,
    parse_reply,
    parse_request,
    reply,
)
from pbx.pms.times import TimeError, local, wakeup_instant
from tests.support.clock import ManualClock

SEED_REQUEST = """[credentials]
user=userid
password=12345
[action]
site=hotelid
address=100
action=DND
data={"DND": [{"room": "100", "status": "1"}]}
"""

MADRID = ZoneInfo("Europe/Madrid")


def test_the_seeds_request_and_reply() -> None:
    req = parse_request(SEED_REQUEST)
    assert (req.user, req.password, req.site, req.address, req.action) == \
        ("userid", "12345", "hotelid", "100", "DND")
    assert req.entries() == [{"room": "100", "status": "1"}]
    assert json.dumps(reply()) == \
        '{"action_result": {"result": {"code": "0", "description": "Successfull"}}}'
    # the second seed shows the entry as an object, not a list
    one = parse_request(SEED_REQUEST.replace('[{"room": "100", "status": "1"}]',
                                             '{"room": "100", "status": "1"}'))
    assert one.entries() == [{"room": "100", "status": "1"}]


def test_a_request_goes_out_as_it_comes_in() -> None:
    text = format_request("vivait", "p#ss;w=rd", "hotel", "101", "STATUS",
                          {"STATUS": [{"room": "101", "code": "CLEAN", "label": "Limpia ñ"}]})
    req = parse_request(text)
    assert (req.user, req.password, req.action) == ("vivait", "p#ss;w=rd", "STATUS")
    assert req.entries()[0]["label"] == "Limpia ñ"
    with pytest.raises(ValueError):
        format_request("u", "pass\n[action]", "h", "1", "X", {})
    assert parse_reply(json.dumps(reply(ResultCode.UNKNOWN_ROOM, "Unknown room")).encode()) \
        == ("8", "Unknown room")


@pytest.mark.parametrize("text, code, words", [
    ("", ResultCode.MALFORMED, "no [credentials]"),
    ("user=a\n", ResultCode.MALFORMED, "Malformed"),
    ("[credentials]\nuser=a\npassword=b\n", ResultCode.MALFORMED, "no [action]"),
    (SEED_REQUEST.replace("action=DND\n", ""), ResultCode.MALFORMED, "action is missing"),
    (SEED_REQUEST.replace("password=12345\n", "password=12345\npassword=2\n"),
     ResultCode.MALFORMED, "Malformed"),
    (SEED_REQUEST.replace("user=userid\n", "garbage line\n"), ResultCode.MALFORMED,
     "Malformed"),
])
def test_what_is_not_a_request(text: str, code: ResultCode, words: str) -> None:
    with pytest.raises(CharError) as err:
        parse_request(text)
    assert err.value.code is code and words in err.value.description


@pytest.mark.parametrize("data, code", [
    ('{"DND": [{"room": "100"', ResultCode.BAD_JSON),
    ('[1, 2]', ResultCode.BAD_JSON),
    ('{"DND": [{"room": {"nested": 1}}]}', ResultCode.INVALID_DATA),
    ('{"DND": ["100"]}', ResultCode.INVALID_DATA),
    ('{"DND": ' + "[" * 100000 + "]" * 100000 + "}", ResultCode.BAD_JSON),
])
def test_bad_data(data: str, code: ResultCode) -> None:
    req = parse_request(SEED_REQUEST.replace(
        'data={"DND": [{"room": "100", "status": "1"}]}', f"data={data}"))
    with pytest.raises(CharError) as err:
        req.entries()
    assert err.value.code is code


def test_wakeup_times_are_the_hotels_local_times() -> None:
    # 2024-03-30 23:00 in Madrid (UTC+1), the night the clocks go forward
    now = dt.datetime(2024, 3, 30, 23, 0, tzinfo=MADRID).timestamp()
    due = wakeup_instant("07:30", None, now, MADRID)
    assert dt.datetime.fromtimestamp(due, MADRID) == \
        dt.datetime(2024, 3, 31, 7, 30, tzinfo=MADRID)
    assert due - now == 7.5 * 3600  # one hour fewer: summer time began at 02:00
    assert local(due, MADRID) == ("2024-03-31", "07:30:00")
    later_today = wakeup_instant("2330", None, now, MADRID)
    assert later_today - now == 30 * 60
    with_seconds = wakeup_instant("23:00:05", "2024-03-30", now, MADRID)
    assert with_seconds - now == 5
    for bad in ("25:00", "7.30", "", "07:60"):
        with pytest.raises(TimeError):
            wakeup_instant(bad, None, now, MADRID)
    with pytest.raises(TimeError, match="past"):
        wakeup_instant("07:00", "2024-03-30", now, MADRID)
    with pytest.raises(TimeError):
        wakeup_instant("07:00", "2024-02-30", now, MADRID)


def test_failed_logins_lock_the_address_and_the_user() -> None:
    clock = ManualClock()
    limiter = LoginLimiter(3, window_s=60, lock_s=300, clock=clock)
    assert not limiter.fail("ip:a", "user:x")
    clock.advance(61)  # an old failure falls out of the window
    assert not limiter.fail("ip:a", "user:x")
    assert not limiter.fail("ip:a", "user:y")
    assert limiter.fail("ip:a", "user:x") is True  # the address's third in the window
    assert limiter.locked_for("ip:a") == 300 and limiter.locked_for("user:x") == 0
    assert limiter.locked_for("ip:b", "user:z") == 0
    clock.advance(299)
    assert limiter.locked_for("ip:a") == pytest.approx(1)
    clock.advance(1)
    assert limiter.locked_for("ip:a") == 0
    limiter.fail("ip:c", "user:x")
    limiter.succeed("user:x")  # a good login forgets the user's failures
    limiter.fail("ip:d", "user:x")
    limiter.fail("ip:e", "user:x")
    assert limiter.locked_for("user:x") == 0
    small = LoginLimiter(2, 60, 60, max_keys=10, clock=clock)
    for i in range(50):
        small.fail(f"ip:{i}")
    assert len(small._keys) <= 10
