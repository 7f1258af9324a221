"""Portal pages against the real FONBO: history, voicemail, forwarding, agenda, settings,
admin validation, language and narrow windows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack


def api(phone: Phone, method: str, path: str, body: object = None) -> object:
    """Call FONBO from inside the page with the page's own token."""
    return phone.page.evaluate(
        """async ([m, p, b]) => {
            const app = window.webfonApp;
            return app.fonbo.request(m, p, b === null ? {} : { body: b });
        }""", [method, path, body])


def test_history_badge_and_infinite_scroll(stack: Stack,
                                           make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1001", wait_registered=False)
    page = phone.page
    total_missed = api(phone, "GET", "/history/missed-count")["missed"]
    assert total_missed > 0, "the demo data has missed calls"
    badge = page.get_by_test_id("badge-missed")
    badge.wait_for(timeout=10_000)
    assert int(badge.inner_text()) == total_missed
    page.get_by_test_id("nav-history").click()
    items = page.get_by_test_id("history-item")
    items.first.wait_for(timeout=10_000)
    first_page = items.count()
    assert first_page == 30
    assert page.get_by_test_id("badge-missed").count() == 0
    page.get_by_test_id("history-status").scroll_into_view_if_needed()
    page.mouse.wheel(0, 20_000)
    page.wait_for_function("(n) => document.querySelectorAll('[data-testid=history-item]')"
                           ".length > n", arg=first_page, timeout=10_000)
    phone.screenshot("history")
    page.get_by_test_id("history-filter-missed").click()
    page.wait_for_function("() => { const rows = [...document.querySelectorAll("
                           "'[data-testid=history-item]')]; return rows.length > 0 && "
                           "rows.every((r) => r.dataset.missed === 'true'); }", timeout=10_000)


def test_bad_calls_in_the_history_and_the_admins_call_quality_page(
        stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1001", wait_registered=False)  # Ana García, an admin
    page = phone.page
    bad = api(phone, "GET", "/history?bad=true&limit=200")["items"]
    assert bad, "the demo data has calls of poor quality"
    page.get_by_test_id("nav-history").click()
    page.get_by_test_id("history-item").first.wait_for(timeout=10_000)
    page.get_by_test_id("history-filter-bad").click()
    page.wait_for_function(
        """(n) => { const rows = [...document.querySelectorAll('[data-testid=history-item]')];
                    return rows.length === n && rows.every((r) => r.dataset.bad === 'true'
                      && r.querySelector('[data-testid=history-quality].bad')); }""",
        arg=min(len(bad), 30), timeout=10_000)
    badge = page.get_by_test_id("history-quality").first
    assert badge.inner_text().startswith("MOS ") and "pérdida" in badge.get_attribute("title")
    # the admin's page: every call, the bad ones, and where each leg ran
    page.get_by_test_id("nav-admin/calls").click()
    page.get_by_test_id("call-row").first.wait_for(timeout=10_000)
    page.get_by_test_id("calls-filter-bad").click()
    page.wait_for_function(
        """() => { const rows = [...document.querySelectorAll('[data-testid=call-row]')];
                   return rows.length > 0 && rows.every((r) => r.dataset.bad === 'true'); }""",
        timeout=10_000)
    # a demo call (the oldest on the page: calls made by earlier tests come first), only the
    # legs of the call unfolded (every call's are in the page, hidden)
    toggle = page.get_by_test_id("call-show-legs").last
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    legs = page.locator("[data-testid=call-leg]:visible")
    legs.first.wait_for(timeout=5_000)
    seen = {(legs.nth(i).get_attribute("data-leg"), legs.nth(i).get_attribute("data-node"),
             legs.nth(i).get_attribute("data-codec")) for i in range(legs.count())}
    assert ("webrtc", "gateway-4", "PCMA") in seen and len(seen) == 3, seen
    phone.screenshot("admin-call-quality")


def test_voicemail_player_and_unread_badge(stack: Stack,
                                           make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1002", wait_registered=False)
    page = phone.page
    unread = api(phone, "GET", "/voicemail/unread")["unread"]
    page.get_by_test_id("nav-voicemail").click()
    items = page.get_by_test_id("voicemail-item")
    items.first.wait_for(timeout=10_000)
    phone.screenshot("voicemail")
    # The newest unread message, pinned by its id (playing it marks it heard).
    message_id = page.locator("[data-testid=voicemail-item].unread").first.get_attribute(
        "data-id")
    item = page.locator(f"[data-testid=voicemail-item][data-id='{message_id}']")
    item.get_by_test_id("voicemail-play").click()
    audio = item.get_by_test_id("voicemail-audio")
    page.wait_for_function("(el) => el.readyState >= 2 && el.duration > 0",
                           arg=audio.element_handle(), timeout=10_000)
    page.wait_for_function(
        "(n) => window.webfonTest.badges().voicemail === n", arg=unread - 1, timeout=10_000)
    assert api(phone, "GET", "/voicemail/unread")["unread"] == unread - 1


def test_forwarding_rules_are_saved(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1003", wait_registered=False)
    page = phone.page
    page.get_by_test_id("nav-forwarding").click()
    page.get_by_test_id("fwd-busy-enabled").wait_for(timeout=10_000)
    page.get_by_test_id("fwd-busy-enabled").check()
    page.get_by_test_id("fwd-busy-voicemail").check()
    page.get_by_test_id("fwd-no_answer-enabled").check()
    page.get_by_test_id("fwd-no_answer-number").fill("1001")
    page.get_by_test_id("fwd-no_answer-timeout").fill("12")
    page.get_by_test_id("fwd-save").click()
    page.get_by_test_id("forwarding-status").filter(has_text="guardados").wait_for(
        timeout=10_000)
    phone.screenshot("forwarding")
    rules = {r["kind"]: r for r in api(phone, "GET", "/forwarding")["rules"]}
    assert rules["busy"]["enabled"] and rules["busy"]["target_type"] == "voicemail"
    assert rules["no_answer"]["target_number"] == "1001"
    assert rules["no_answer"]["timeout_s"] == 12
    # Forwarding to my own number is refused with FONBO's reason.
    page.get_by_test_id("fwd-unconditional-enabled").check()
    page.get_by_test_id("fwd-unconditional-number").fill("1003")
    page.get_by_test_id("fwd-save").click()
    page.get_by_test_id("forwarding-status").filter(has_text="own number").wait_for(
        timeout=10_000)
    for kind in ("busy", "no_answer", "unconditional"):
        api(phone, "PUT", f"/forwarding/{kind}", {"enabled": False, "target_type": "number"})


def test_agenda_add_search_and_call_button(stack: Stack,
                                           make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1003", wait_registered=False)
    page = phone.page
    page.get_by_test_id("nav-agenda").click()
    page.get_by_test_id("contact-name").fill("Proveedor Limpiezas")
    page.get_by_test_id("contact-number").fill("915550101")
    page.get_by_test_id("contact-save").click()
    page.get_by_test_id("agenda-item").filter(has_text="Proveedor Limpiezas").wait_for(
        timeout=10_000)
    page.get_by_test_id("agenda-search").fill("Limpiezas")
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=agenda-item]')]"
                           ".every((e) => e.textContent.includes('Limpiezas'))", timeout=10_000)
    row = page.get_by_test_id("agenda-item").filter(has_text="Proveedor Limpiezas")
    row.get_by_test_id("agenda-fav").click()
    page.wait_for_function("() => document.querySelector('[data-testid=agenda-fav]')"
                           ".getAttribute('aria-pressed') === 'true'", timeout=10_000)
    page.get_by_test_id("agenda-search").fill("")
    page.get_by_test_id("agenda-tab-corporate").click()
    page.get_by_test_id("agenda-item").filter(has_text="Ana García").wait_for(timeout=10_000)
    phone.screenshot("agenda")


def test_admin_users_and_validation(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1001", wait_registered=False)
    page = phone.page
    page.get_by_test_id("nav-admin/users").click()
    page.get_by_test_id("admin-row").first.wait_for(timeout=10_000)
    assert page.get_by_test_id("admin-row").count() >= 3
    page.get_by_test_id("admin-new-users").click()
    page.get_by_test_id("admin-field-display_name").fill("Duplicado")
    page.get_by_test_id("admin-field-login_number").fill("1002")
    page.get_by_test_id("admin-field-password").fill("una-clave-larga")
    page.get_by_test_id("admin-save").click()
    error = page.get_by_test_id("admin-form-error")
    error.wait_for(timeout=10_000)
    page.wait_for_function("() => document.querySelector('[data-testid=admin-form-error]')"
                           ".textContent.length > 0", timeout=10_000)
    assert "1002" in error.inner_text()
    phone.screenshot("admin-users")
    page.get_by_test_id("nav-admin/webphone_pools".replace("webphone_", "")).click()
    page.get_by_test_id("admin-row").filter(has_text="7000-7009").wait_for(timeout=10_000)
    phone.screenshot("admin-pools")


def test_settings_devices_saved_per_user_and_language(
        stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1002", wait_registered=False)
    page = phone.page
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("device-input").wait_for(timeout=10_000)
    options = page.locator("[data-testid=device-input] option")
    assert options.count() >= 2, "the fake microphone is listed"
    value = options.nth(1).get_attribute("value")
    page.get_by_test_id("device-input").select_option(value)
    page.get_by_test_id("devices-save").click()
    page.wait_for_function(
        "async (v) => (await window.webfonApp.fonbo.get('/me/preferences')).audio_input_id"
        " === v", arg=value, timeout=10_000)
    page.get_by_test_id("language").select_option("en")
    page.get_by_test_id("nav-settings").filter(has_text="Settings").wait_for(timeout=5_000)
    assert page.locator("html").get_attribute("lang") == "en"


def test_narrow_window(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "web")
    phone = make_phone(700.0, viewport={"width": 380, "height": 760})
    phone.login("1003", wait_registered=False)
    page = phone.page
    page.get_by_test_id("dial-input").wait_for(timeout=10_000)
    # Nothing wider than the window: no horizontal scrolling.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 380
    page.keyboard.type("2002")
    assert page.get_by_test_id("dial-input").input_value() == "2002"
    phone.screenshot("narrow")


def test_agenda_import_csv_and_export(stack: Stack, make_phone: Callable[..., Phone],
                                      tmp_path: Path) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1002", wait_registered=False)
    page = phone.page
    page.get_by_test_id("nav-agenda").click()
    page.get_by_test_id("agenda-list").wait_for(timeout=10_000)
    csv_file = tmp_path / "contactos.csv"
    csv_file.write_text("name,number,company\nTaller Norte,914440001,Norte SL\n"
                        "Taller Sur,914440002,Sur SL\n", encoding="utf-8")
    page.get_by_test_id("agenda-import-file").set_input_files(str(csv_file))
    page.get_by_test_id("toast").filter(has_text="2 contactos importados").wait_for(
        timeout=10_000)
    page.get_by_test_id("agenda-item").filter(has_text="Taller Sur").wait_for(timeout=10_000)
    with page.expect_download(timeout=10_000) as download:
        page.get_by_test_id("agenda-export-csv").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Taller Norte" in exported and "914440002" in exported
    # A file with a bad line imports nothing and says which line is wrong.
    bad = tmp_path / "malo.csv"
    bad.write_text("name,number\nBueno,914440003\n,abc\n", encoding="utf-8")
    page.get_by_test_id("agenda-import-file").set_input_files(str(bad))
    page.get_by_test_id("toast").filter(has_text="3:").wait_for(timeout=10_000)
    assert page.get_by_test_id("agenda-item").filter(has_text="Bueno").count() == 0


def test_my_phones_order_and_qr(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "fonbo", "web")
    phone = make_phone(700.0)
    phone.login("1001", wait_registered=False)
    mine = api(phone, "GET", "/phones")["items"]
    desk = next(p for p in mine if p["extension"] == "2001" and not p["is_webcall"])
    # An admin (1001 is one) makes the desk phone secure so it can be provisioned by QR.
    api(phone, "PATCH", f"/admin/phones/{desk['id']}", {"secure": True})
    try:
        _order_and_qr(phone, desk)
    finally:
        # Back to the demo's plain desk phone and password (other tests register as it).
        api(phone, "PATCH", f"/admin/phones/{desk['id']}",
            {"secure": False, "ring_order": 1, "sip_password": "sip-2001"})


def _order_and_qr(phone: Phone, desk: dict) -> None:
    page = phone.page
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id(f"phone-order-{desk['id']}").wait_for(timeout=10_000)
    page.get_by_test_id(f"phone-order-{desk['id']}").fill("3")
    page.get_by_test_id("phone-item").filter(has=page.get_by_test_id(
        f"phone-order-{desk['id']}")).get_by_role("button", name="Guardar").click()
    page.wait_for_function(
        "async (id) => (await window.webfonApp.fonbo.get('/phones')).items"
        ".find((p) => p.id === id).ring_order === 3", arg=desk["id"], timeout=10_000)
    page.get_by_test_id(f"phone-qr-{desk['id']}").click()
    image = page.get_by_test_id("phone-qr-image")
    image.wait_for(timeout=10_000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 100",
                           arg=image.element_handle(), timeout=10_000)
    image.scroll_into_view_if_needed()
    phone.screenshot("my-phones-qr")
