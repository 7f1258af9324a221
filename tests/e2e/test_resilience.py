"""Failure states shown to the user, reconnection after a network drop, TOTP enrolment."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp

from tests.e2e.conftest import Phone
from tests.e2e.stack import UNTRUSTED_IP, Stack
from tests.support.phone import ThreadedPhone

TONE_A = 500.0
TONE_DESK = 900.0


def test_unknown_number_and_category_refusal_are_shown(
        stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    a.login("1003")
    page = a.page
    page.get_by_test_id("dial-input").fill("5999")
    page.get_by_test_id("call-button").click()
    failure = page.get_by_test_id("failure-0")
    failure.wait_for(timeout=15_000)
    assert failure.get_attribute("data-failure") == "notfound", failure.get_attribute("data-code")
    assert failure.inner_text() == "Número inexistente"
    page.wait_for_function("() => window.webfonTest.line(0).state === 'idle'", timeout=10_000)
    # An international number (outside-line prefix 0, then 0044…) is outside the «Nacional»
    # category of the demo users.
    page.get_by_test_id("dial-input").fill("000441632960000")
    page.get_by_test_id("call-button").click()
    failure.wait_for(timeout=15_000)
    assert failure.get_attribute("data-failure") == "category", failure.get_attribute("data-code")
    a.screenshot("call-refused")


def test_busy_callee_is_shown(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    b = make_phone(1200.0)
    a.login("1001")
    b.login("1002")
    a.page.get_by_test_id("dial-input").fill("1002")
    a.page.get_by_test_id("call-button").click()
    line = b.wait_incoming()
    b.page.get_by_test_id(f"decline-{line}").click()
    failure = a.page.get_by_test_id("failure-0")
    failure.wait_for(timeout=15_000)
    assert failure.get_attribute("data-failure") in ("busy", "rejected"), (
        failure.get_attribute("data-code"))


def test_reconnects_after_a_drop_and_keeps_the_call(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    """The WebSocket to the gateway drops mid-call: the client reconnects on its own, claims
    its session back, and the call goes on with audio both ways and working controls."""
    stack.require("sercen", "pbx", "gateway", "web")
    desk = make_sip_phone("2003", TONE_DESK)
    a = make_phone(TONE_A)
    a.login("1001")
    a.page.get_by_test_id("dial-input").fill("2003")
    a.page.get_by_test_id("call-button").click()
    desk.answer_incoming()
    a.wait_hearing(0, TONE_DESK)
    a.page.evaluate("() => window.webfonTest.dropConnection()")
    a.page.wait_for_function(
        "() => window.webfonTest.phone().connection === 'reconnecting'", timeout=5_000)
    a.screenshot("reconnecting")
    a.page.wait_for_function(
        "() => window.webfonTest.phone().connection === 'connected'", timeout=15_000)
    assert a.line(0)["state"] == "active"
    assert not desk.ended.is_set(), "the call ended with the socket"
    a.page.evaluate("() => { window.__streak = {}; }")
    a.wait_hearing(0, TONE_DESK)
    desk.wait_hearing(TONE_A)
    # the session is the same one: the call's controls still reach the gateway
    a.page.get_by_test_id("hangup-0").click()
    assert desk.ended.wait(10)


def test_network_change_restores_the_calls_media(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    """A network change takes both the socket and the media path: after reconnecting, the
    client offers a new peer connection in an ``update`` and the same call carries audio both
    ways again."""
    stack.require("sercen", "pbx", "gateway", "web")
    desk = make_sip_phone("2002", TONE_DESK)
    a = make_phone(TONE_A)
    a.login("1003")
    a.page.get_by_test_id("dial-input").fill("2002")
    a.page.get_by_test_id("call-button").click()
    desk.answer_incoming()
    a.wait_hearing(0, TONE_DESK)
    desk.wait_hearing(TONE_A)
    a.page.evaluate("() => window.webfonTest.dropNetwork()")
    a.page.wait_for_function(
        "() => window.webfonTest.phone().connection === 'connected'", timeout=15_000)
    a.page.wait_for_function(
        "() => window.webfonTest.events().some((e) => e.event === 'media-restored')",
        timeout=15_000)
    assert a.line(0)["state"] == "active"
    assert not desk.ended.is_set(), "the call ended with the media path"
    a.page.evaluate("() => { window.__streak = {}; }")
    a.wait_hearing(0, TONE_DESK)
    desk.wait_hearing(TONE_A)
    a.page.get_by_test_id("hangup-0").click()
    assert desk.ended.wait(10)


def test_totp_enrolment_then_login_with_totp(stack: Stack,
                                             make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "web")
    phone = make_phone(TONE_A)
    phone.login("1003", wait_registered=False)
    page = phone.page
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("totp-enroll").click()
    page.get_by_test_id("totp-qr").wait_for(timeout=10_000)
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    page.get_by_test_id("totp-code").fill(totp.now())
    enrolled_step = int(time.time()) // 30
    page.get_by_test_id("totp-confirm").click()
    page.get_by_test_id("totp-state").wait_for(timeout=10_000)
    phone.screenshot("totp-enrolled")
    page.get_by_test_id("logout").click()
    page.get_by_test_id("login-form").wait_for(timeout=10_000)
    # From outside the trusted network the second factor is now the authenticator app.
    other = make_phone(TONE_A, UNTRUSTED_IP)
    other.open()
    other.page.get_by_test_id("login-user").fill("1003")
    other.page.get_by_test_id("login-password").fill("webfon-1003")
    other.page.get_by_test_id("login-submit").click()
    form = other.page.get_by_test_id("second-factor-form")
    form.wait_for(timeout=10_000)
    assert form.get_attribute("data-method") == "totp"
    # A code is accepted once: wait for the next time step after the enrolment's.
    while int(time.time()) // 30 <= enrolled_step:
        time.sleep(0.5)
    other.page.get_by_test_id("login-code").fill(totp.now())
    other.page.get_by_test_id("login-verify").click()
    other.page.get_by_test_id("current-user").wait_for(state="attached", timeout=10_000)
