"""Accessibility of every page and dialog of the web client: axe-core finds no WCAG 2 A/AA
violation (light and dark colours), and every control is reachable with the keyboard alone.
The pages seen during calls (incoming call, call in progress, quality warning, transfer) are
checked in test_quality.py, the offline shell in test_app.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack

# Addresses of their own for the tests that fail a login on purpose: sercen bans an address
# after three failures, which must not hit the other tests' browsers.
TRUSTED_OWN_IP = {"light": "172.25.7.1", "dark": "172.25.7.2"}
UNTRUSTED_OWN_IP = "203.0.113.71"

# Every route of the client (main.js ROUTES).
USER_ROUTES = ["phone", "agenda", "history", "voicemail", "forwarding", "conferences",
               "callbacks", "recordings", "settings", "acd", "supervision", "stats"]
ADMIN_ROUTES = ["admin/users", "admin/pools", "admin/extensions", "admin/groups", "admin/ivr",
                "admin/rooms", "admin/callbacks", "admin/recordings", "admin/routing",
                "admin/campaigns", "admin/hotel", "admin/calls"]


def goto(page: Page, route: str) -> None:
    page.get_by_test_id(f"nav-{route}").click()
    page.wait_for_function("(r) => document.body.dataset.route === r", arg=route)


def settle(page: Page) -> None:
    """Wait until the page has loaded what it shows (no "Cargando…"/"Loading…" left)."""
    page.wait_for_function(
        "() => !/Cargando…|Loading…|Midiendo…/.test(document.getElementById('main')"
        "?.innerText || '')", timeout=10_000)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_and_dialog_has_no_wcag_violation(
        stack: Stack, make_phone: Callable[..., Phone], scheme: str) -> None:
    stack.require("sercen", "fonbo", "pbx", "web")
    phone = make_phone(700.0, TRUSTED_OWN_IP[scheme], color_scheme=scheme)
    page = phone.page
    phone.open()
    phone.axe("login")
    page.get_by_test_id("login-user").fill("1001")
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("login-error").filter(has_text="incorrectos").wait_for(timeout=10_000)
    phone.axe("login with an error")
    phone.login("1001", wait_registered=False)
    for route in USER_ROUTES + ADMIN_ROUTES:
        goto(page, route)
        settle(page)
        phone.axe(route)
        if route == "phone" and scheme == "dark":
            phone.screenshot("dark")
        if route == "admin/calls":
            page.get_by_test_id("call-show-legs").first.click()
            page.get_by_test_id("call-leg").first.wait_for()
            phone.axe("a call's legs")
    # dialogs and the states of the pages
    page.get_by_test_id("shortcuts-open").click()
    page.get_by_test_id("shortcuts-dialog").wait_for()
    phone.axe("keyboard shortcuts dialog")
    if scheme == "light":
        phone.screenshot("shortcuts")
    page.keyboard.press("Escape")
    page.get_by_test_id("shortcuts-dialog").wait_for(state="detached")

    goto(page, "agenda")
    for tab in ("favourites", "corporate"):
        page.get_by_test_id(f"agenda-tab-{tab}").click()
        settle(page)
        phone.axe(f"agenda, {tab}")
    goto(page, "history")
    page.get_by_test_id("history-filter-missed").click()
    page.get_by_test_id("history-item").first.wait_for(timeout=10_000)
    phone.axe("history, missed calls")

    goto(page, "admin/users")
    page.get_by_test_id("admin-row").first.wait_for(timeout=10_000)
    page.get_by_test_id("admin-new-users").click()
    page.get_by_test_id("admin-save").click()  # required fields left empty: the browser says
    phone.axe("admin, new user form")
    page.get_by_test_id("admin-row").first.get_by_role("button", name="Editar").click()
    page.get_by_test_id("admin-form").wait_for()
    phone.axe("admin, user edit form")
    goto(page, "admin/pools")
    page.get_by_test_id("admin-new-pools").click()
    phone.axe("admin, new pool form")
    goto(page, "admin/rooms")
    page.get_by_test_id("admin-new-rooms").click()
    page.get_by_test_id("admin-form").wait_for()
    phone.axe("admin, new conference room form")
    goto(page, "admin/extensions")
    page.get_by_test_id("admin-row").first.wait_for(timeout=10_000)
    page.get_by_test_id("admin-row").first.get_by_role("button", name="Teléfonos").click()
    page.get_by_test_id("admin-phones").wait_for()
    page.get_by_test_id("admin-new-phones").click()
    phone.axe("admin, phones of an extension and new phone form")
    if scheme == "light":
        page.get_by_role("heading", name="Teléfonos · ").scroll_into_view_if_needed()
        phone.screenshot("admin-extensions")
    goto(page, "admin/routing")
    page.get_by_test_id("admin-new-rules").click()
    page.get_by_test_id("rt-test-number").fill("3000")
    page.get_by_test_id("rt-test-caller").fill("1002")
    page.get_by_test_id("rt-test-submit").click()
    page.get_by_test_id("rt-test-rule").wait_for(timeout=10_000)  # the PBX answered
    phone.axe("admin, routing rules: new rule form and a test's answer")
    goto(page, "admin/campaigns")
    page.get_by_test_id("admin-new-campaigns").click()
    page.get_by_test_id("admin-field-name").fill(f"Campaña {scheme}")
    owner = page.get_by_test_id("admin-field-owner_user_id")
    page.wait_for_function("(el) => el.options.length > 1", arg=owner.element_handle())
    owner.select_option(index=1)
    page.get_by_test_id("admin-field-destination").fill("3100")
    phone.axe("admin, campaigns and new campaign form")
    page.get_by_test_id("admin-save").click()
    page.get_by_role("button", name=f"Números y resultados Campaña {scheme}").click()
    page.get_by_test_id("cp-state").wait_for(timeout=10_000)
    phone.axe("admin, a campaign's progress, import and results")

    goto(page, "admin/hotel")
    settle(page)
    page.get_by_test_id("hotel-code-dial").fill("*8" + ("1" if scheme == "light" else "2"))
    page.get_by_test_id("hotel-code-code").fill("CLEAN")
    page.get_by_test_id("hotel-code-add").click()
    page.get_by_test_id("hotel-code-row").first.wait_for(timeout=10_000)
    page.get_by_test_id("hotel-timezone").fill("Mars/Base")
    page.get_by_test_id("hotel-settings-save").click()
    page.get_by_test_id("hotel-settings-error").filter(has_text="time zone").wait_for(
        timeout=10_000)
    phone.axe("hotel admin: a status code, a refused setting")

    page.get_by_test_id("language").select_option("en")
    page.get_by_test_id("nav-settings").filter(has_text="Settings").wait_for(timeout=5_000)
    goto(page, "settings")
    settle(page)
    phone.axe("settings in English")
    assert len(phone.axe_checked) >= 25


def test_second_factor_form_has_no_wcag_violation(stack: Stack,
                                                   make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "web")
    phone = make_phone(700.0, UNTRUSTED_OWN_IP)
    phone.open()
    phone.page.get_by_test_id("login-user").fill("1002")
    phone.page.get_by_test_id("login-password").fill("webfon-1002")
    phone.page.get_by_test_id("login-submit").click()
    phone.page.get_by_test_id("second-factor-form").wait_for(timeout=10_000)
    phone.page.get_by_test_id("login-code").fill("000000")
    phone.page.get_by_test_id("login-verify").click()
    phone.page.get_by_test_id("login-error").filter(has_text="Código").wait_for(timeout=10_000)
    phone.axe("second factor with a wrong code")


TAB_WALK = """async (limit) => {
    const visible = (el) => el.getClientRects().length > 0
        && getComputedStyle(el).visibility !== 'hidden';
    const native = 'a[href], button, input, select, textarea, summary';
    // Every native control counts (a tabindex of -1 on one is a defect); other elements
    // only when they ask for the focus.
    const controls = [...document.querySelectorAll(`${native}, [tabindex]`)]
        .filter((el) => (el.matches(native) || el.tabIndex >= 0) && !el.disabled
            && visible(el) && !el.closest('[inert], [hidden]'));
    return controls.map((el) => el.dataset.testid || el.getAttribute('aria-label')
        || el.textContent.trim().slice(0, 30) || el.outerHTML.slice(0, 60));
}"""


def tab_through(page: Page, limit: int = 250) -> list[str]:
    """Press Tab from the top of the page until the focus comes back round; what got it."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    seen: list[str] = []
    first = None
    for _ in range(limit):
        page.keyboard.press("Tab")
        key = page.evaluate("""() => { const el = document.activeElement;
            if (!el || el === document.body) return null;
            return el.dataset.testid || el.getAttribute('aria-label')
                || el.textContent.trim().slice(0, 30) || el.outerHTML.slice(0, 60); }""")
        if key is None:
            continue
        if first is None:
            first = key
        elif key == first:
            break
        seen.append(key)
    return [first, *seen] if first else seen


def test_every_control_is_reachable_with_the_keyboard(
        stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1001", wait_registered=False)
    page = phone.page
    for route in ("phone", "agenda", "settings", "admin/ivr", "admin/hotel", "admin/extensions"):
        goto(page, route)
        settle(page)
        if route == "admin/extensions":
            page.get_by_test_id("admin-row").first.wait_for(timeout=10_000)
        controls = page.evaluate(TAB_WALK, 0)
        reached = tab_through(page)
        missing = [c for c in controls if c not in reached]
        assert not missing, f"{route}: not reachable with Tab: {missing}"
    # The skip link comes first and takes the focus to the content, on the same page.
    page.reload()
    page.get_by_test_id("current-user").wait_for(timeout=10_000)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.testid") == "skip-link"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'main'", timeout=5_000)
    assert page.evaluate("() => document.body.dataset.route") == "admin/extensions"
