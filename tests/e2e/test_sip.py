"""Browser ⇄ SIP desk phone through gateway and PBX, audio checked both ways; DTMF."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.sipphone import SipPhone
from tests.e2e.stack import Stack

BROWSER_TONE = 500.0
DESK_TONE = 900.0


def test_browser_calls_sip_phone_and_sends_dtmf(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., SipPhone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    desk = make_sip_phone("2003", DESK_TONE)
    browser = make_phone(BROWSER_TONE)
    browser.login("1001")
    browser.page.get_by_test_id("dial-input").fill("2003")
    browser.page.get_by_test_id("call-button").click()
    desk.answer_incoming()
    browser.wait_line_state(0, "active")
    browser.wait_hearing(0, DESK_TONE)
    desk.wait_hearing(BROWSER_TONE)
    # DTMF from the dial pad during the call reaches the SIP side as the same digits.
    for key in "147#":
        browser.page.get_by_test_id(f"key-{key}").click()
        browser.page.wait_for_timeout(350)
    browser.page.wait_for_timeout(800)
    assert desk.digits() == "147#", desk.digits()
    browser.page.get_by_test_id("hangup-0").click()
    assert desk.ended.wait(10), "the desk phone got no BYE"


def test_sip_phone_calls_browser(stack: Stack, make_phone: Callable[..., Phone],
                                 make_sip_phone: Callable[..., SipPhone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    browser = make_phone(BROWSER_TONE)
    browser.login("1002")
    desk = make_sip_phone("2001", DESK_TONE)
    # Calls to the user's number ring the web phone while the user is logged in.
    desk.dial("1002")
    line = browser.wait_incoming()
    peer = browser.line(line)
    assert peer["peer"], peer
    browser.page.get_by_test_id(f"answer-{line}").click()
    desk.wait_answered()
    browser.wait_hearing(line, DESK_TONE)
    desk.wait_hearing(BROWSER_TONE)
    desk.hangup()
    browser.wait_line_state(line, "idle")
