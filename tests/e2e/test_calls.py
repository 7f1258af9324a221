"""Browser-to-browser calls through gateway and PBX, audio checked both ways by frequency."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack

TONE_A = 500.0
TONE_B = 1200.0


def test_browser_a_calls_browser_b(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    b = make_phone(TONE_B)
    a.login("1001")
    b.login("1002")
    a.page.get_by_test_id("dial-input").fill("1002")
    a.page.get_by_test_id("call-button").click()
    line_b = b.wait_incoming()
    b.screenshot("incoming-call")
    b.page.get_by_test_id(f"answer-{line_b}").click()
    a.wait_line_state(0, "active")
    b.wait_line_state(line_b, "active")
    a.wait_hearing(0, TONE_B)
    b.wait_hearing(line_b, TONE_A)
    stats = a.stats(0)
    assert stats["inbound"]["packetsReceived"] > 20
    assert stats["codec"].lower() in ("audio/pcma", "audio/pcmu", "audio/opus")
    a.screenshot("in-call")
    # the call timer runs without rebuilding the line's buttons (a click spanning a rebuild
    # would be lost)
    hangup = a.page.get_by_test_id("hangup-0").element_handle()
    before = a.page.get_by_test_id("timer-0").inner_text()
    a.page.wait_for_function(
        "(t) => document.querySelector('[data-testid=\"timer-0\"]').textContent !== t",
        arg=before, timeout=5_000)
    assert hangup.evaluate("(e) => e.isConnected")
    hangup.click()
    b.wait_line_state(line_b, "idle")
    a.wait_line_state(0, "idle")
