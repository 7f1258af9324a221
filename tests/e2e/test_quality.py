"""Live call quality and the keyboard during real browser calls: the indicator from
getStats(), the warnings when audio stops arriving (driven for real: the far end stops
sending) or when the gateway says it no longer receives ours ("media" event), a poor network
fed through the test hook; every phone action from the keyboard alone; axe-core on the call
screens."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack

TONE_A = 600.0
TONE_B = 1000.0

# The far end stops sending (a dead microphone or a broken uplink), then sends again.
STOP_SENDING = """(i) => {
    const pc = window.webfonApp.phone.lines[i].pc;
    const sender = pc.getSenders().find((s) => s.track && s.track.kind === 'audio');
    window.__savedTrack = sender.track;
    return sender.replaceTrack(null);
}"""
RESUME_SENDING = """(i) => {
    const pc = window.webfonApp.phone.lines[i].pc;
    const sender = pc.getSenders().find((s) => s.track === null);
    return sender.replaceTrack(window.__savedTrack);
}"""


def quality(phone: Phone, index: int) -> dict:
    return phone.page.evaluate("(i) => window.webfonTest.quality(i)", index)


def wait_quality(phone: Phone, index: int, *, level: str | None = None,
                 warning: str | None = None, timeout_ms: int = 15_000) -> None:
    """Wait until the indicator on screen shows this level / warning ("" for none)."""
    phone.page.wait_for_function(
        """([i, level, warning]) => {
            const q = document.querySelector(`[data-testid="quality-${i}"]`);
            const w = document.querySelector(`[data-testid="quality-warning-${i}"]`);
            if (!q || !w) return false;
            return (level === null || q.dataset.level === level)
                && (warning === null || (w.dataset.warning || '') === warning);
        }""", arg=[index, level, warning], timeout=timeout_ms)


def call(a: Phone, b: Phone, number: str) -> int:
    a.page.get_by_test_id("dial-input").fill(number)
    a.page.get_by_test_id("call-button").click()
    line_b = b.wait_incoming()
    b.page.get_by_test_id(f"answer-{line_b}").click()
    a.wait_line_state(0, "active")
    b.wait_line_state(line_b, "active")
    return line_b


def test_quality_indicator_and_warnings(stack: Stack,
                                        make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    b = make_phone(TONE_B)
    a.login("1001")
    b.login("1002")
    line_b = call(a, b, "1002")
    b.axe("incoming call answered, in call")
    a.wait_hearing(0, TONE_B)
    # Loopback: a good call, with its figures in the tooltip.
    wait_quality(a, 0, level="good", warning="")
    wait_quality(b, line_b, level="good", warning="")
    a.page.wait_for_function("() => window.webfonTest.quality(0).samples >= 3", timeout=10_000)
    tip = a.page.get_by_test_id("quality-tip-0")
    assert not tip.is_visible()
    a.page.get_by_test_id("quality-0").focus()
    assert tip.is_visible()
    assert "Pérdida 0 %" in tip.inner_text() and "MOS" in tip.inner_text()
    a.axe("call in progress, quality tooltip shown")
    a.screenshot("call-quality")

    # B stops sending: A hears nothing and says so; B's gateway reports that it gets nothing
    # from B (the "media" event) and B is told.
    a.page.evaluate("() => document.activeElement.blur()")
    b.page.evaluate(STOP_SENDING, line_b)
    wait_quality(a, 0, warning="noaudio")
    wait_quality(b, line_b, warning="uplink")
    warning = a.page.get_by_test_id("quality-warning-0")
    assert warning.is_visible() and "No llega audio" in warning.inner_text()
    assert warning.get_attribute("role") == "alert"
    assert "no recibe su audio" in b.page.get_by_test_id(f"quality-warning-{line_b}").inner_text()
    a.screenshot("call-no-audio")
    a.axe("call with a warning")
    b.page.evaluate(RESUME_SENDING, line_b)
    wait_quality(a, 0, warning="")
    wait_quality(b, line_b, warning="")
    a.wait_hearing(0, TONE_B)

    # A poor network (fed through the test hook: 10 % loss, 80 ms jitter, 600 ms round trip).
    a.page.evaluate("""() => window.webfonTest.feedStats(0, [
        { packetsReceived: 1000, packetsLost: 0, jitter: 0.08, rtt: 0.6 },
        { packetsReceived: 1045, packetsLost: 5, jitter: 0.08, rtt: 0.6 },
        { packetsReceived: 1090, packetsLost: 10, jitter: 0.08, rtt: 0.6 }])""")
    wait_quality(a, 0, level="poor", warning="network")
    q = quality(a, 0)
    assert round(q["lossPct"]) == 10 and round(q["jitterMs"]) == 80 and round(q["rttMs"]) == 600
    assert q["mos"] < 3.0
    assert "Red deficiente" in a.page.get_by_test_id("quality-warning-0").inner_text()
    assert a.page.get_by_test_id("quality-0").inner_text().strip().endswith("Mala")
    # A middling one: fair, no warning.
    a.page.evaluate("""() => window.webfonTest.feedStats(0, [
        { packetsReceived: 2000, packetsLost: 20, jitter: 0.04, rtt: 0.1 },
        { packetsReceived: 2097, packetsLost: 23, jitter: 0.04, rtt: 0.1 }])""")
    wait_quality(a, 0, level="fair", warning="")
    # The gateway says packets from us went missing on their way to it (its "slowlink",
    # delivered as the Janus client delivers it).
    a.page.evaluate("""() => window.webfonApp.phone.lines[0].handle.emit('slowlink',
        { janus: 'slowlink', media: 'audio', uplink: true, lost: 9 })""")
    wait_quality(a, 0, level="poor", warning="network")
    assert "9 paquetes suyos perdidos" in a.page.get_by_test_id("quality-tip-0").inner_text()
    a.page.get_by_test_id("hangup-0").click()
    b.wait_line_state(line_b, "idle")
    a.logout()
    b.logout()


def test_every_phone_action_from_the_keyboard(stack: Stack,
                                              make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_A)
    b = make_phone(TONE_B)
    a.login("1003")
    b.login("1002")
    # A: focus the dialler, type, Enter.
    a.page.keyboard.press("Alt+Shift+D")
    assert a.page.evaluate("() => document.activeElement.dataset.testid") == "dial-input"
    a.page.keyboard.type("1002")
    a.page.keyboard.press("Enter")
    line_b = b.wait_incoming()
    b.axe("incoming call")
    b.page.keyboard.press("Alt+Shift+A")
    a.wait_line_state(0, "active")
    b.wait_line_state(line_b, "active")
    a.wait_hearing(0, TONE_B)
    # Hold and resume, mute and unmute.
    a.page.keyboard.press("Alt+Shift+R")
    a.page.wait_for_function("() => window.webfonTest.line(0).held", timeout=5_000)
    b.wait_not_hearing(line_b, TONE_A)
    a.page.keyboard.press("Alt+Shift+R")
    a.page.wait_for_function("() => !window.webfonTest.line(0).held", timeout=5_000)
    b.wait_hearing(line_b, TONE_A)
    a.page.keyboard.press("Alt+Shift+M")
    a.page.wait_for_function("() => window.webfonTest.line(0).muted", timeout=5_000)
    b.wait_not_hearing(line_b, TONE_A)
    a.page.keyboard.press("Alt+Shift+M")
    a.page.wait_for_function("() => !window.webfonTest.line(0).muted", timeout=5_000)
    # Keyboard focus survives the line being redrawn: Enter on the focused hold button.
    a.page.get_by_test_id("hold-0").focus()
    a.page.keyboard.press("Enter")
    a.page.wait_for_function("() => window.webfonTest.line(0).held", timeout=5_000)
    assert a.page.evaluate("() => document.activeElement.dataset.testid") == "hold-0"
    a.page.wait_for_selector(".line.held")
    a.axe("call on hold")
    a.page.keyboard.press("Enter")
    a.page.wait_for_function("() => !window.webfonTest.line(0).held", timeout=5_000)
    # The transfer box, from the keyboard: opened, focused, closed.
    a.page.get_by_test_id("transfer-0").focus()
    a.page.keyboard.press("Enter")
    assert a.page.evaluate("() => document.activeElement.dataset.testid") == "transfer-input"
    a.axe("transfer form during a call")
    a.page.keyboard.press("Escape")  # in a text field: leaves the call alone
    a.page.get_by_test_id("transfer-form").get_by_role("button", name="Cancelar").click()
    # The help dialog: "?" opens it, Escape closes it without hanging up.
    a.page.evaluate("() => document.activeElement.blur()")
    a.page.keyboard.press("?")
    dialog = a.page.get_by_test_id("shortcuts-dialog")
    dialog.wait_for()
    assert "Alt" in dialog.inner_text() and "Contestar" in dialog.inner_text()
    a.axe("keyboard shortcuts dialog during a call")
    a.page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert a.line(0)["state"] == "active"
    # B hangs up from the keyboard.
    b.page.keyboard.press("Alt+Shift+H")
    a.wait_line_state(0, "idle")
    b.wait_line_state(line_b, "idle")
    # Single keys can be turned off (WCAG 2.1.4): digits typed outside a field then do nothing.
    a.page.keyboard.press("Alt+Shift+K")
    dialog.wait_for()
    a.page.get_by_test_id("single-keys").uncheck()
    a.page.keyboard.press("Escape")
    dialog.wait_for(state="detached")  # removed on its "close" event, a task after Escape
    a.page.evaluate("() => document.activeElement.blur()")
    a.page.keyboard.type("55")
    assert a.page.get_by_test_id("dial-input").input_value() == ""
    a.page.keyboard.press("?")
    assert a.page.get_by_test_id("shortcuts-dialog").count() == 0
    a.logout()
    b.logout()
