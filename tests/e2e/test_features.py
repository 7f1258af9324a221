"""Phone features in the browser against the real stack: hold/resume, call waiting, blind and
attended transfer, with the audio of every party checked by its dominant frequency."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack
from tests.support.phone import ThreadedPhone

TONE_A = 500.0
TONE_B = 1200.0
TONE_DESK = 900.0


def test_hold_resume_and_mute(stack: Stack, make_phone: Callable[..., Phone],
                         make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    desk = make_sip_phone("2003", TONE_DESK)
    a = make_phone(TONE_A)
    a.login("1001")
    a.page.get_by_test_id("dial-input").fill("2003")
    a.page.get_by_test_id("call-button").click()
    desk.answer_incoming()
    a.wait_hearing(0, TONE_DESK)
    desk.wait_hearing(TONE_A)
    a.page.get_by_test_id("hold-0").click()
    a.page.wait_for_function("() => window.webfonTest.line(0).held === true", timeout=5_000)
    desk.wait_not_hearing(TONE_A)
    a.wait_not_hearing(0, TONE_DESK)
    a.screenshot("on-hold")
    a.page.get_by_test_id("hold-0").click()
    a.page.wait_for_function("() => window.webfonTest.line(0).held === false", timeout=5_000)
    desk.wait_hearing(TONE_A)
    a.wait_hearing(0, TONE_DESK)
    # Mute: the far end stops hearing us while we still hear it; unmute brings it back.
    a.page.get_by_test_id("mute-0").click()
    desk.wait_not_hearing(TONE_A)
    a.page.evaluate("() => { window.__streak = {}; }")
    a.wait_hearing(0, TONE_DESK)
    a.page.get_by_test_id("mute-0").click()
    desk.wait_hearing(TONE_A)
    a.page.get_by_test_id("hangup-0").click()
    assert desk.ended.wait(10)


def test_call_waiting(stack: Stack, make_phone: Callable[..., Phone],
                      make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    b = make_phone(TONE_B)
    b.login("1002")
    desk = make_sip_phone("2003", TONE_DESK)
    desk.dial("1002")
    first = b.wait_incoming()
    b.page.get_by_test_id(f"answer-{first}").click()
    desk.wait_answered()
    b.wait_hearing(first, TONE_DESK)
    desk.wait_hearing(TONE_B)
    # A second call arrives while talking: it rings on another line.
    a = make_phone(TONE_A)
    a.login("1001")
    a.page.get_by_test_id("dial-input").fill("1002")
    a.page.get_by_test_id("call-button").click()
    b.page.wait_for_function(
        "(f) => window.webfonTest.phone().lines.some((l) => l.index !== f && "
        "l.state === 'incoming')", arg=first, timeout=15_000)
    second = next(line["index"] for line in b.page.evaluate(
        "() => window.webfonTest.phone().lines") if line["state"] == "incoming")
    b.screenshot("call-waiting")
    # Answering puts the first call on hold.
    b.page.get_by_test_id(f"answer-{second}").click()
    a.wait_line_state(0, "active")
    b.page.wait_for_function("(f) => window.webfonTest.line(f).held === true", arg=first,
                             timeout=5_000)
    b.wait_hearing(second, TONE_A)
    a.wait_hearing(0, TONE_B)
    desk.wait_not_hearing(TONE_B)
    # The second call ends; the first is resumed.
    b.page.get_by_test_id(f"hangup-{second}").click()
    a.wait_line_state(0, "idle")
    b.page.get_by_test_id(f"hold-{first}").click()
    b.wait_hearing(first, TONE_DESK)
    desk.wait_hearing(TONE_B)
    desk.hangup()
    b.wait_line_state(first, "idle")


def test_blind_transfer(stack: Stack, make_phone: Callable[..., Phone],
                        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    b = make_phone(TONE_B)
    a.login("1001")
    b.login("1002")
    desk = make_sip_phone("2003", TONE_DESK)
    desk.dial("1001")
    line = a.wait_incoming()
    a.page.get_by_test_id(f"answer-{line}").click()
    desk.wait_answered()
    a.wait_hearing(line, TONE_DESK)
    a.page.get_by_test_id(f"transfer-{line}").click()
    a.page.get_by_test_id("transfer-input").fill("1002")
    a.page.get_by_test_id("blind-transfer").click()
    b_line = b.wait_incoming()
    b.page.get_by_test_id(f"answer-{b_line}").click()
    b.wait_hearing(b_line, TONE_DESK)
    desk.wait_hearing(TONE_B)
    a.wait_line_state(line, "idle")
    desk.hangup()
    b.wait_line_state(b_line, "idle")


def test_attended_transfer(stack: Stack, make_phone: Callable[..., Phone],
                           make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    b = make_phone(TONE_B)
    a.login("1001")
    b.login("1002")
    desk = make_sip_phone("2003", TONE_DESK)
    desk.dial("1001")
    line = a.wait_incoming()
    a.page.get_by_test_id(f"answer-{line}").click()
    desk.wait_answered()
    a.wait_hearing(line, TONE_DESK)
    # Consult: the desk phone is held, A talks to B on another line.
    a.page.get_by_test_id(f"transfer-{line}").click()
    a.page.get_by_test_id("transfer-input").fill("1002")
    a.page.get_by_test_id("consult-transfer").click()
    b_line = b.wait_incoming()
    b.page.get_by_test_id(f"answer-{b_line}").click()
    consult = a.page.evaluate(
        "(f) => window.webfonTest.phone().lines.find((l) => l.index !== f && l.state !== "
        "'idle').index", line)
    a.wait_line_state(consult, "active")
    a.wait_hearing(consult, TONE_B)
    b.wait_hearing(b_line, TONE_A)
    desk.wait_not_hearing(TONE_A)
    a.screenshot("attended-transfer")
    # Complete: the desk phone and B talk; A is out of both calls.
    a.page.get_by_test_id(f"complete-transfer-{line}").click()
    b.wait_hearing(b_line, TONE_DESK, timeout_ms=20_000)
    desk.wait_hearing(TONE_B)
    a.wait_line_state(line, "idle")
    a.wait_line_state(consult, "idle")
    desk.hangup()
    b.wait_line_state(b_line, "idle")
