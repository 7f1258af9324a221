"""The audio test in settings: janus.plugin.echotest sends the browser its own tone back."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack


def test_echo_test_hears_its_own_tone(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "gateway", "web")
    phone = make_phone(1000.0)
    phone.login("1001", wait_registered=False)
    page = phone.page
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("echo-start").click()
    page.wait_for_function("() => window.webfonTest.echo.running()", timeout=15_000)
    phone.wait_hearing("echo", 1000.0)
    stats = page.evaluate("() => window.webfonTest.echo.stats()")
    assert stats["inbound"]["packetsReceived"] > 20
    phone.screenshot("settings")
    page.get_by_test_id("echo-start").click()
    page.wait_for_function("() => !window.webfonTest.echo.running()", timeout=10_000)
