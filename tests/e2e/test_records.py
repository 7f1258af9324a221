"""What calls leave behind, seen in the portal: the history lists the call just made with its
quality, and a voicemail left by a SIP caller plays in the browser (its audio holds the
caller's tone)."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack
from tests.support.phone import ThreadedPhone
from webfon.rtp import detect
from webfon.rtp.wav import decode_wav_bytes

TONE_A = 500.0
TONE_B = 1200.0
TONE_DESK = 900.0


def test_history_shows_the_call_just_made(stack: Stack, make_phone: Callable[..., Phone]
                                          ) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    b = make_phone(TONE_B)
    a.login("1001")
    b.login("1002")
    a.page.get_by_test_id("dial-input").fill("1002")
    a.page.get_by_test_id("call-button").click()
    line = b.wait_incoming()
    b.page.get_by_test_id(f"answer-{line}").click()
    a.wait_hearing(0, TONE_B)
    b.wait_hearing(line, TONE_A)
    a.page.wait_for_timeout(1500)
    call_id = a.line(0)["callId"]
    assert call_id
    a.page.get_by_test_id("hangup-0").click()
    b.wait_line_state(line, "idle")
    # The caller sees an answered outgoing call to 1002 at the top of the history, the
    # callee an answered call from Ana García (1001): numbers are the users', not the
    # web extensions that carried the calls. (Earlier tests' calls between the same users may
    # top the history until this call's rows are written: it is the row of this call id.)
    a.page.get_by_test_id("nav-history").click()
    a.page.wait_for_function(
        """id => { const row = document.querySelector('[data-testid=history-item]');
                   return row && row.dataset.callId === id && row.dataset.number === '1002'
                          && row.dataset.outgoing === 'true'
                          && row.dataset.disposition === 'answered'; }""", arg=call_id,
        timeout=15_000)
    # the call's quality, measured on its way through the gateway and the PBX
    mos = a.page.get_by_test_id("history-item").first.get_attribute("data-mos")
    assert mos and 4.0 < float(mos) <= 4.5, mos
    b.page.get_by_test_id("nav-history").click()
    b.page.wait_for_function(
        """id => { const row = document.querySelector('[data-testid=history-item]');
                   return row && row.dataset.callId === id && row.dataset.number === '1001'
                          && row.dataset.outgoing === 'false'
                          && row.dataset.disposition === 'answered'; }""", arg=call_id,
        timeout=15_000)
    a.screenshot("history-after-call")


def test_voicemail_left_by_sip_caller_plays_in_portal(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    browser = make_phone(TONE_B)
    browser.login("1003")
    page = browser.page
    before = page.evaluate("async () => (await window.webfonApp.fonbo.get('/voicemail')).total")
    unread = page.evaluate("async () => (await window.webfonApp.fonbo.get('/voicemail')).unread")
    page.wait_for_function("(n) => window.webfonTest.badges().voicemail === n", arg=unread,
                           timeout=10_000)
    page.evaluate("""() => window.webfonApp.fonbo.put('/forwarding/unconditional',
                     { enabled: true, target_type: 'voicemail' })""")
    try:
        desk = make_sip_phone("2001", TONE_DESK)
        desk.dial("1003")
        desk.wait_answered()
        page.wait_for_timeout(6000)
        desk.hangup()
    finally:
        page.evaluate("""() => window.webfonApp.fonbo.put('/forwarding/unconditional',
                         { enabled: false, target_type: 'number' })""")
    # The new message is announced over Socket.IO: the badge changes without reloading.
    page.wait_for_function("(n) => window.webfonTest.badges().voicemail === n", arg=unread + 1,
                           timeout=15_000)
    page.get_by_test_id("badge-voicemail").filter(has_text=str(unread + 1)).wait_for(
        timeout=5_000)
    page.get_by_test_id("nav-voicemail").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=voicemail-item]').length > n",
        arg=before, timeout=20_000)
    # The newest unread message, pinned by its id (playing it marks it heard).
    message_id = page.locator("[data-testid=voicemail-item].unread").first.get_attribute(
        "data-id")
    item = page.locator(f"[data-testid=voicemail-item][data-id='{message_id}']")
    item.get_by_test_id("voicemail-play").click()
    audio = item.get_by_test_id("voicemail-audio")
    page.wait_for_function("(el) => !el.paused && el.currentTime > 0.5",
                           arg=audio.element_handle(), timeout=15_000)
    # The message is the caller's tone: fetch what the player plays and look at it.
    src = audio.get_attribute("src")
    assert src
    with urllib.request.urlopen(stack.base_url + src if src.startswith("/") else src,
                                timeout=10) as resp:
        samples, rate = decode_wav_bytes(resp.read())
    tone = detect.tone_seconds(samples, rate, TONE_DESK)
    assert tone >= 2.0, f"only {tone:.2f} s of the caller's {TONE_DESK} Hz tone"
