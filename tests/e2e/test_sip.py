"""Browser ⇄ SIP desk phone through gateway and PBX, audio checked both ways; DTMF."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack
from tests.support.phone import ThreadedPhone

BROWSER_TONE = 500.0
DESK_TONE = 900.0


def test_browser_calls_sip_phone_and_sends_dtmf(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
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
                                 make_sip_phone: Callable[..., ThreadedPhone]) -> None:
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


# Records what the page does with the Notification API and audio output devices (the real
# APIs still run underneath), and lets the test hide the page as a background tab would be.
OBSERVE_NOTIFICATIONS_AND_SINKS = """
(() => {
  window.__notifications = [];
  window.__sinks = [];
  window.__hidden = false;
  const Real = window.Notification;
  if (Real) {
    class Observed extends Real {
      constructor(title, options) {
        super(title, options);
        this.record = { title, tag: options?.tag || "", closed: false };
        window.__notifications.push(this.record);
      }
      close() { this.record.closed = true; super.close(); }
    }
    window.Notification = Observed;
  }
  Object.defineProperty(Document.prototype, "hidden",
    { configurable: true, get() { return window.__hidden; } });
  const realSink = HTMLMediaElement.prototype.setSinkId;
  if (realSink) {
    HTMLMediaElement.prototype.setSinkId = function (id) {
      window.__sinks.push(id);
      return realSink.call(this, id);
    };
  }
})();
"""


def test_incoming_call_in_background_notifies_and_rings_the_ringer_device(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    browser = make_phone(BROWSER_TONE)
    browser.context.add_init_script(OBSERVE_NOTIFICATIONS_AND_SINKS)
    browser.login("1002")
    page = browser.page
    # choose the second fake output as ringer, keep the default speaker
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("device-ringer").wait_for(timeout=10_000)
    options = page.locator("[data-testid=device-ringer] option")
    assert options.count() >= 3, "the fake audio outputs are listed"
    ringer = options.nth(2).get_attribute("value")
    page.get_by_test_id("device-ringer").select_option(ringer)
    page.get_by_test_id("devices-save").click()
    page.wait_for_function(
        "async (v) => (await window.webfonApp.fonbo.get('/me/preferences')).ringer_output_id"
        " === v", arg=ringer, timeout=10_000)
    page.get_by_test_id("nav-phone").click()
    page.evaluate("() => { window.__hidden = true; }")

    desk = make_sip_phone("2001", DESK_TONE)
    desk.dial("1002")
    line = browser.wait_incoming()
    page.wait_for_function("() => window.__notifications.length > 0", timeout=5_000)
    shown = page.evaluate("() => window.__notifications[0]")
    assert shown["tag"] == f"call-{line}"
    assert "2001" in shown["title"] or browser.line(line)["peerName"] in shown["title"], shown
    assert not shown["closed"]
    # the ringtone plays on the ringer device, not on the speaker
    page.wait_for_function("(v) => window.__sinks.includes(v)", arg=ringer, timeout=5_000)

    page.evaluate("() => { window.__hidden = false; }")
    page.get_by_test_id(f"answer-{line}").click()
    desk.wait_answered()
    page.wait_for_function("() => window.__notifications[0].closed", timeout=5_000)
    browser.wait_hearing(line, DESK_TONE)
    desk.wait_hearing(BROWSER_TONE)
    desk.hangup()
    browser.wait_line_state(line, "idle")
