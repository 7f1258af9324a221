"""Browser tests against the real stack: fixtures for the stack, Chromium with a fake
microphone playing a tone, and logged-in pages."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.stack import TRUSTED_IP, Stack
from tests.support.phone import ThreadedPhone
from webfon.rtp.wav import write_tone_wav

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2, levels A and AA: every rule axe-core has for them.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def axe_source() -> str:
    if not AXE.exists():
        raise AssertionError(f"axe-core is not installed ({AXE}): run scripts/install-test-deps")
    return AXE.read_text(encoding="utf-8")


def run_axe(page: Page, what: str) -> None:
    """Run axe-core (WCAG 2 A/AA) on the page as it is now; fail with every violation.

    Injected through the DevTools protocol (``evaluate``), so the page's own
    Content-Security-Policy stays as in production."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        """(tags) => window.axe.run(document, {
            runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })""",
        AXE_TAGS)
    violations = result["violations"]
    if violations:
        lines = [f"{len(violations)} WCAG violation(s) on {what}:"]
        for v in violations:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
            for node in v["nodes"][:5]:
                lines.append(f"    {node['target']}: {node['failureSummary']}")
        raise AssertionError("\n".join(lines))


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("webfon-e2e"))
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture
def pw() -> Iterator[Playwright]:
    # Per test: the sync API keeps an event loop in the main thread while it is open, which
    # must be gone before the asyncio tests that run after the browser tests.
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def tones_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tones")


class Phone:
    """A browser with its own fake microphone tone, one page, and helpers for the tests."""

    def __init__(self, browser: Browser | None, context: BrowserContext, page: Page,
                 tone_hz: float, stack: Stack) -> None:
        self.browser = browser
        self.context = context
        self.page = page
        self.tone_hz = tone_hz
        self.stack = stack
        self.console: list[str] = []
        self.axe_checked: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def open(self) -> None:
        # Chromium aborts loads with ERR_NETWORK_CHANGED when interfaces come and go on the
        # host (network namespaces of other tests); a page left half-loaded is loaded again.
        for attempt in range(3):
            self.page.goto(self.stack.base_url + "/")
            try:
                self.page.get_by_test_id("login-form").wait_for(timeout=10_000)
                return
            except PlaywrightTimeout:
                if attempt == 2:
                    raise

    def login(self, login: str, password: str | None = None, *, wait_registered: bool = True
              ) -> None:
        from tests.e2e.stack import DEMO_PASSWORD

        self.open()
        self.page.get_by_test_id("login-user").fill(login)
        self.page.get_by_test_id("login-password").fill(
            password or DEMO_PASSWORD.format(login=login))
        for attempt in range(3):
            aborted = sum("ERR_NETWORK_CHANGED" in line for line in self.console)
            self.page.get_by_test_id("login-submit").click()
            try:
                self.page.get_by_test_id("current-user").wait_for(state="attached",
                                                                  timeout=15_000)
                break
            except PlaywrightTimeout:
                # as in open(): Chromium aborts requests in flight when the host's interfaces
                # change (other tests' network namespaces); only such an abort is tried again
                if attempt == 2 or sum("ERR_NETWORK_CHANGED" in line
                                       for line in self.console) == aborted:
                    raise
        if wait_registered:
            self.wait_registered()

    def logout(self) -> None:
        """Log out as a user would: the web extension is released at once. (A browser that
        is just closed leaves its gateway session waiting to be claimed for a while, and in
        «exclusivo» mode the user's desk phones do not ring meanwhile.)"""
        self.page.get_by_test_id("logout").click()
        self.page.get_by_test_id("login-form").wait_for(timeout=10_000)

    def wait_registered(self, timeout_ms: int = 20_000) -> str:
        self.page.wait_for_function(
            "() => window.webfonTest && window.webfonTest.registered()", timeout=timeout_ms)
        return self.page.evaluate("() => window.webfonTest.phone().registration.extension")

    def line(self, index: int) -> dict:
        return self.page.evaluate("(i) => window.webfonTest.line(i)", index)

    def wait_line_state(self, index: int, state: str, timeout_ms: int = 15_000) -> None:
        self.page.wait_for_function(
            "([i, s]) => { const l = window.webfonTest.line(i); return l && l.state === s; }",
            arg=[index, state], timeout=timeout_ms)

    def wait_incoming(self, timeout_ms: int = 15_000) -> int:
        handle = self.page.wait_for_function(
            "() => { const p = window.webfonTest.phone(); if (!p) return false;"
            " const l = p.lines.find((x) => x.state === 'incoming'); return l ? l.index + 1 : 0; }",
            timeout=timeout_ms)
        return int(handle.json_value()) - 1

    def frequency(self, index: int | str) -> float:
        if index == "echo":
            return float(self.page.evaluate("() => window.webfonTest.echo.frequency().frequency"))
        return float(self.page.evaluate("(i) => window.webfonTest.frequency(i).frequency",
                                        index))

    def wait_hearing(self, index: int | str, hz: float, tolerance: float = 12.0,
                     timeout_ms: int = 15_000, streak: int = 5) -> None:
        """Wait until the dominant received frequency stays near ``hz`` for a few readings."""
        expr = ("window.webfonTest.echo.frequency()" if index == "echo"
                else "window.webfonTest.frequency(i)")
        try:
            self._wait_tone(expr, index, hz, tolerance, timeout_ms, streak)
        except PlaywrightTimeout:
            raise AssertionError(f"line {index} did not hear {hz} Hz within {timeout_ms} ms; "
                                 f"{self.describe_audio(index)}") from None

    def describe_audio(self, index: int | str) -> str:
        """What the line receives now (frequency, level, RTP counters), for messages."""
        if index == "echo":
            return str(self.page.evaluate(
                "async () => ({now: window.webfonTest.echo.frequency(),"
                " stats: await window.webfonTest.echo.stats()})"))
        return str(self.page.evaluate(
            "async (i) => ({now: window.webfonTest.frequency(i),"
            " stats: await window.webfonTest.stats(i), line: window.webfonTest.line(i)})",
            index))

    def _wait_tone(self, expr: str, index: int | str, hz: float, tolerance: float,
                   timeout_ms: int, streak: int) -> None:
        self.page.wait_for_function(
            f"""([i, hz, tol, need]) => {{
                const r = {expr};
                window.__streak = window.__streak || {{}};
                const ok = r && r.level > -70 && Math.abs(r.frequency - hz) <= tol;
                window.__streak[i] = ok ? (window.__streak[i] || 0) + 1 : 0;
                return window.__streak[i] >= need;
            }}""", arg=[index, hz, tolerance, streak], polling=100, timeout=timeout_ms)

    def wait_not_hearing(self, index: int, hz: float, tolerance: float = 12.0,
                         timeout_ms: int = 15_000, streak: int = 8) -> None:
        """Wait until ``hz`` is absent from what arrives (silence or something else)."""
        try:
            self._wait_gone(index, hz, tolerance, timeout_ms, streak)
        except PlaywrightTimeout:
            raise AssertionError(f"line {index} still hears {hz} Hz after {timeout_ms} ms; "
                                 f"{self.describe_audio(index)}") from None

    def _wait_gone(self, index: int, hz: float, tolerance: float, timeout_ms: int,
                   streak: int) -> None:
        self.page.wait_for_function(
            """([i, hz, tol, need]) => {
                const r = window.webfonTest.frequency(i);
                window.__gone = window.__gone || {};
                const present = r && r.level > -70 && Math.abs(r.frequency - hz) <= tol;
                window.__gone[i] = present ? 0 : (window.__gone[i] || 0) + 1;
                return window.__gone[i] >= need;
            }""", arg=[index, hz, tolerance, streak], polling=100, timeout=timeout_ms)

    def axe(self, what: str) -> None:
        """axe-core on the page as it is now (see run_axe)."""
        run_axe(self.page, what)
        self.axe_checked.append(what)

    def wait_tones(self, index: int, present: tuple[float, ...],
                   absent: tuple[float, ...] = (), timeout_ms: int = 15_000,
                   streak: int = 5) -> None:
        """Wait until every tone of ``present`` arrives at once (a conference mix) and those
        of ``absent`` stay far below them."""
        try:
            self.page.wait_for_function(
                """([i, present, absent, need]) => {
                    const lv = window.webfonTest.levels(i, present.concat(absent));
                    const here = lv.slice(0, present.length);
                    const gone = lv.slice(present.length);
                    const floor = Math.min(...here);
                    const ok = floor > -70 && gone.every((v) => v < floor - 25);
                    window.__tones = window.__tones || {};
                    window.__tones[i] = ok ? (window.__tones[i] || 0) + 1 : 0;
                    return window.__tones[i] >= need;
                }""", arg=[index, list(present), list(absent), streak], polling=100,
                timeout=timeout_ms)
        except PlaywrightTimeout:
            levels = self.page.evaluate("([i, f]) => window.webfonTest.levels(i, f)",
                                        [index, list(present + absent)])
            raise AssertionError(f"line {index}: wanted {present} and not {absent}; levels "
                                 f"{levels}; {self.describe_audio(index)}") from None

    def stats(self, index: int) -> dict:
        return self.page.evaluate("(i) => window.webfonTest.stats(i)", index)

    def screenshot(self, name: str) -> None:
        """A screenshot of a main screen: into docs/screenshots/ when WEBFON_E2E_SCREENSHOTS
        is set (to refresh the README's pictures), otherwise into the stack's directory."""
        folder = (SCREENSHOTS if os.environ.get("WEBFON_E2E_SCREENSHOTS")
                  else self.stack.data_dir / "screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / f"{name}.png"))

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            if self.browser is not None:
                self.browser.close()


def launch_phone(pw: Playwright, stack: Any, tones_dir: Path, tone_hz: float, *,
                 lang: str = "es", https: bool = False) -> Phone:
    """A Chromium with a fake microphone playing ``tone_hz``, one page on ``stack``, with no
    client address of its own (the production-shape stack's nginx names the client; its
    certificate is self-signed, accepted with ``https``)."""
    wav = tones_dir / f"tone_{int(tone_hz)}.wav"
    if not wav.exists():
        write_tone_wav(wav, tone_hz, 10.0, rate=48_000)
    browser = pw.chromium.launch(executable_path=CHROMIUM,
                                 args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={wav}"])
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  permissions=["microphone", "notifications"],
                                  ignore_https_errors=https)
    context.add_init_script(f"localStorage.setItem('webfon.lang', '{lang}');")
    return Phone(browser, context, context.new_page(), tone_hz, stack)


@pytest.fixture
def make_phone(pw: Playwright, stack: Stack, tones_dir: Path, request: pytest.FixtureRequest
               ) -> Iterator[Callable[..., Phone]]:
    phones: list[Phone] = []

    def make(tone_hz: float, client_ip: str = TRUSTED_IP, *, lang: str = "es",
             viewport: dict | None = None, color_scheme: str = "light",
             profile_dir: Path | None = None) -> Phone:
        """A browser; with ``profile_dir`` a persistent profile (not incognito), as an
        installed app needs."""
        wav = tones_dir / f"tone_{int(tone_hz)}.wav"
        if not wav.exists():
            write_tone_wav(wav, tone_hz, 10.0, rate=48_000)
        args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
        options: dict = dict(
            extra_http_headers={"X-Forwarded-For": client_ip},
            viewport=viewport or {"width": 1280, "height": 800},
            permissions=["microphone", "notifications"],
            color_scheme=color_scheme,
        )
        browser: Browser | None = None
        if profile_dir is None:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
            context = browser.new_context(**options)
        else:
            context = pw.chromium.launch_persistent_context(
                str(profile_dir), executable_path=CHROMIUM, args=args, **options)
        context.add_init_script(f"localStorage.setItem('webfon.lang', '{lang}');")
        page = context.pages[0] if context.pages else context.new_page()
        phone = Phone(browser, context, page, tone_hz, stack)
        phones.append(phone)
        return phone

    request.node.webfon_phones = phones
    yield make
    for phone in phones:
        try:
            phone.close()
        except Exception:
            pass


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """On failure, attach each component's log tail and the pages' console to the report."""
    if call.when != "call" or call.excinfo is None:
        return
    for i, phone in enumerate(getattr(item, "webfon_phones", [])):
        try:
            state = phone.page.evaluate(
                "() => ({url: location.href, body: document.body.innerText.slice(0, 300),"
                " phone: window.webfonTest ? window.webfonTest.phone() : null})")
        except Exception as exc:
            state = f"page not readable: {exc}"
        item.add_report_section("call", f"browser {i}",
                                f"{state}\n" + "\n".join(phone.console[-30:]))
    funcargs = getattr(item, "funcargs", {})
    stack = funcargs.get("stack") or funcargs.get("prod")
    if stack is not None and hasattr(stack, "tail"):
        for name in getattr(stack, "log_names", ("gateway", "pbx", "sercen", "fonbo", "web")):
            # enough lines to see the whole test (a browser test lasts seconds; 30 lines
            # were often only its last moments)
            tail = "\n".join(line[:400] for line in stack.tail(name, 200).splitlines())
            item.add_report_section("call", f"{name} log", tail)


@pytest.fixture
def make_sip_phone(stack: Stack) -> Iterator[Callable[..., ThreadedPhone]]:
    """SIP desk phones of the demo users (extension ``20xx``, password ``sip-20xx``)."""
    phones: list[ThreadedPhone] = []

    def make(ext: str, tone_hz: float, register: bool = True) -> ThreadedPhone:
        phone = ThreadedPhone(ext, f"sip-{ext}", stack.sip_port, tone_hz)
        phones.append(phone)
        if register:
            phone.register()
        return phone

    yield make
    for phone in phones:
        phone.close()
