"""The installable app and click to call: Chromium finds the page installable (manifest,
icons, service worker), the shell opens without a network and says it is offline, then
reconnects; tel:/sip: handlers, ?call=NUMBER and the number links of the portal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack


def installability_errors(phone: Phone) -> list[dict]:
    cdp = phone.context.new_cdp_session(phone.page)
    try:
        return cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    finally:
        cdp.detach()


def test_installable_and_offline_shell(stack: Stack, make_phone: Callable[..., Phone],
                                       tmp_path: Path) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    phone = make_phone(700.0, profile_dir=tmp_path / "profile")
    page = phone.page
    phone.open()
    # The manifest, as the browser gets it.
    resp = page.request.get(stack.base_url + "/manifest.webmanifest")
    assert resp.ok and resp.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(resp.text())
    assert manifest["name"] == "VIVAit Call Web" and manifest["display"] == "standalone"
    assert {h["protocol"] for h in manifest["protocol_handlers"]} == {"tel", "sip"}
    # The service worker runs and controls the page.
    page.wait_for_function("() => navigator.serviceWorker.controller !== null",
                           timeout=10_000)
    # Chromium's own verdict (what makes it offer "Install VIVAit Call Web").
    deadline = time.monotonic() + 10
    errors = installability_errors(phone)
    while errors and time.monotonic() < deadline:
        time.sleep(0.3)
        errors = installability_errors(phone)
    assert errors == []
    # So Chromium offers to install it: the settings page has the button.
    phone.login("1003")
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("app-install").wait_for(timeout=10_000)
    page.get_by_test_id("settings-app").scroll_into_view_if_needed()
    phone.screenshot("settings-app")
    phone.logout()

    # No network (the app opened from the desktop, say): the page loads from the service
    # worker and says it is offline; signing in says so too.
    phone.context.set_offline(True)
    page.reload()
    page.get_by_test_id("offline-banner").wait_for(timeout=10_000)
    assert "Sin conexión" in page.get_by_test_id("offline-banner").inner_text()
    page.get_by_test_id("login-form").wait_for()
    phone.screenshot("offline")
    phone.axe("offline shell")
    page.get_by_test_id("login-user").fill("1003")
    page.get_by_test_id("login-password").fill("webfon-1003")
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("login-error").filter(has_text="Sin conexión").wait_for(timeout=10_000)
    # The network is back: the banner goes by itself, and signing in works.
    phone.context.set_offline(False)
    page.get_by_test_id("offline-banner").wait_for(state="detached", timeout=15_000)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("current-user").wait_for(state="attached", timeout=15_000)
    phone.wait_registered()
    phone.logout()


SPY = """
window.__protocolHandlers = [];
if (navigator.registerProtocolHandler) {
  const original = navigator.registerProtocolHandler.bind(navigator);
  navigator.registerProtocolHandler = (scheme, url) => {
    window.__protocolHandlers.push([scheme, url]);
    return original(scheme, url);
  };
}
"""


def test_call_links_fill_the_dialler(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    page = phone.page
    phone.context.add_init_script(SPY)
    # A tel: link opened by the browser (the handler's URL): the number waits for the login.
    page.goto(stack.base_url + "/?call=tel%3A%2B34-91-555-0101%3Bphone-context%3Dx")
    page.get_by_test_id("login-form").wait_for(timeout=10_000)
    assert "call=" not in page.url, "the number is taken out of the address"
    page.get_by_test_id("login-user").fill("1003")
    page.get_by_test_id("login-password").fill("webfon-1003")
    page.get_by_test_id("login-submit").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=dial-input]')?.value === '+34915550101'",
        timeout=15_000)
    assert page.evaluate("() => document.activeElement.dataset.testid") == "dial-input"
    page.get_by_test_id("toast").filter(has_text="+34915550101").wait_for()
    # The app asked to handle tel: and sip: links, with ?call=%s on its own origin.
    handlers = page.evaluate("() => window.__protocolHandlers")
    assert sorted(handlers) == [["sip", stack.base_url + "/?call=%s"],
                                ["tel", stack.base_url + "/?call=%s"]]
    # A sip: address as the browser passes it.
    page.goto(stack.base_url + "/?call=sip%3A1002%40webfon#/agenda")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=dial-input]')?.value === 'sip:1002@webfon'",
        timeout=15_000)
    # Something else is refused and said so; the dialler stays empty.
    page.get_by_test_id("dial-input").fill("")
    page.goto(stack.base_url + "/?call=javascript%3Aalert(1)")
    page.get_by_test_id("toast").filter(has_text="no contiene un número válido").wait_for(
        timeout=10_000)
    assert page.get_by_test_id("dial-input").input_value() == ""
    phone.wait_registered()
    phone.logout()


def test_numbers_in_the_portal_are_links_that_call(stack: Stack,
                                                   make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    phone = make_phone(700.0)
    phone.login("1002")  # has history, voicemail and the corporate directory
    page = phone.page
    for route, testid in (("history", "history-link"), ("agenda", "agenda-link"),
                          ("voicemail", "voicemail-link")):
        page.get_by_test_id(f"nav-{route}").click()
        scope = page
        if route == "agenda":
            page.get_by_test_id("agenda-tab-corporate").click()
            scope = page.locator("[data-testid=agenda-list][data-tab=corporate]")
        link = scope.get_by_test_id(testid).first
        link.wait_for(timeout=10_000)
        number, href = link.evaluate("(a) => [a.textContent, a.getAttribute('href')]")
        assert href == "tel:" + number.replace("#", "%23")
    # A click on the last one (a voicemail's caller) calls that number from the app.
    link.click()
    page.wait_for_function(
        "(n) => window.webfonTest.phone().lines.some((l) => l.peer === n)", arg=number,
        timeout=5_000)
    page.evaluate("() => Promise.all(window.webfonTest.phone().lines.map((l) => "
                  "window.webfonTest.hangup(l.index)))")
    phone.logout()
