"""Login in the browser: one factor from a trusted network, a code by e-mail otherwise."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone
from tests.e2e.stack import TRUSTED_IP, UNTRUSTED_IP, Stack


def test_login_from_trusted_network_needs_no_second_factor(
        stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "web")
    phone = make_phone(700.0, TRUSTED_IP)
    phone.open()
    phone.screenshot("login")
    sent_before = stack.mailbox.count()
    phone.login("1003", wait_registered=False)
    page = phone.page
    page.get_by_test_id("current-user").filter(has_text="Marta Ruiz").wait_for(timeout=10_000)
    assert page.get_by_test_id("second-factor-form").count() == 0
    assert stack.mailbox.count() == sent_before
    assert page.evaluate("() => window.webfonTest.user().login_number") == "1003"


def test_login_with_emailed_code(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "web")
    phone = make_phone(700.0, UNTRUSTED_IP)
    phone.open()
    page = phone.page
    before = stack.mailbox.count()
    page.get_by_test_id("login-user").fill("1002")
    page.get_by_test_id("login-password").fill("webfon-1002")
    page.get_by_test_id("login-submit").click()
    form = page.get_by_test_id("second-factor-form")
    form.wait_for(timeout=10_000)
    assert form.get_attribute("data-method") == "email"
    code = stack.mailbox.wait_code("luis.perez@example.com", before)
    phone.screenshot("login-second-factor")
    # A wrong code first: a clear message, still on the second-factor form.
    wrong = "000000" if code != "000000" else "111111"
    page.get_by_test_id("login-code").fill(wrong)
    page.get_by_test_id("login-verify").click()
    page.get_by_test_id("login-error").filter(has_text="Código").wait_for(timeout=5_000)
    page.get_by_test_id("login-code").fill(code)
    page.get_by_test_id("login-verify").click()
    page.get_by_test_id("current-user").filter(has_text="Luis Pérez").wait_for(timeout=10_000)
    assert page.evaluate("() => window.webfonTest.loggedIn()") is True


def test_wrong_password_is_refused(stack: Stack, make_phone: Callable[..., Phone]) -> None:
    stack.require("sercen", "web")
    phone = make_phone(700.0, TRUSTED_IP, lang="en")
    phone.open()
    page = phone.page
    page.get_by_test_id("login-user").fill("1003")
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    error.filter(has_text="Wrong user or password").wait_for(timeout=10_000)
    assert page.evaluate("() => window.webfonTest.loggedIn()") is False
