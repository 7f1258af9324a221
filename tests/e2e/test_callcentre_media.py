"""Conference, callback and recording with a browser and SIP desk phones on the real stack:

* «Conferencia»: the browser talks to one desk phone, holds it, calls another, presses
  «Conferencia»; the three are in one room of the PBX's bridge and each hears the two others'
  tones and never its own, and the first desk phone in heard the entry beep when the browser
  came in («Conferencias BEEP» on).
* «Retrollamada»: a busy number, the smart button, and the outcome: when the number is free
  the browser rings, is answered, and talks to the number it wanted.
* Recording on demand from the web phone's button, played back in the portal; both parties'
  tones in the file; another user cannot get it.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from tests.e2e.conftest import Phone
from tests.e2e.stack import DEMO_PASSWORD, Stack
from tests.support.phone import ThreadedPhone
from webfon.rtp.detect import tone_levels

TONE_BROWSER = 500.0
TONE_2002 = 700.0
TONE_2003 = 900.0
ENTER_BEEP = 1600.0
PBX_CACHE_S = 5.5
"""The PBX reads users' and extensions' settings through a 5 s cache."""


def api(phone: Phone, method: str, path: str, body: object = None) -> object:
    """FONBO from inside the page, with the page's own token."""
    return phone.page.evaluate(
        """async ([m, p, b]) => window.webfonApp.fonbo.request(m, p,
            b === null ? {} : { body: b })""", [method, path, body])


def ids(phone: Phone) -> tuple[dict[str, int], dict[str, int]]:
    users = api(phone, "GET", "/admin/users?limit=100")["items"]
    extensions = api(phone, "GET", "/admin/extensions?limit=100")["items"]
    return ({u["login_number"]: u["id"] for u in users},
            {e["number"]: e["id"] for e in extensions})


@pytest.fixture
def admin_settings() -> Iterator[list[tuple[Phone, str, dict]]]:
    """Settings a test changes through the admin API, put back afterwards."""
    undo: list[tuple[Phone, str, dict]] = []
    yield undo
    for phone, path, body in reversed(undo):
        try:
            api(phone, "PATCH", path, body)
        except Exception:
            pass


def heard_somewhere(samples: np.ndarray, hz: float, window_s: float = 0.2) -> bool:
    w = int(8000 * window_s)
    return any(tone_levels(samples[i:i + w], 8000, [hz])[0] > -35
               for i in range(0, max(1, len(samples) - w), w // 2))


def test_conference_button_joins_active_and_held_lines(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone], admin_settings: list) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    b = make_sip_phone("2002", TONE_2002)
    c = make_sip_phone("2003", TONE_2003)
    a = make_phone(TONE_BROWSER)
    a.login("1001")
    users, _ = ids(a)
    path = f"/admin/users/{users['1001']}"
    api(a, "PATCH", path, {"conference_rooms": 1, "beep": 1})
    admin_settings.append((a, path, {"conference_rooms": -1, "beep": -1}))
    page = a.page
    page.evaluate("() => window.webfonTest.call('2002')")
    b.answer_incoming()
    a.wait_hearing(0, TONE_2002)
    page.evaluate("() => window.webfonTest.call('2003')")  # line 0 is held first
    c.answer_incoming()
    a.wait_hearing(1, TONE_2003)
    page.wait_for_function("() => window.webfonTest.line(0).held", timeout=5_000)
    b.phone.reset_recording()
    page.get_by_test_id("conference-1").click()
    handle = page.wait_for_function(
        "() => window.webfonTest.phone().lines.find((l) => l.conference && "
        "l.state === 'active' && l.peer === l.conference)", timeout=20_000)
    line = handle.json_value()
    page.wait_for_function("() => window.webfonTest.phone().lines.filter((l) => "
                           "l.state === 'active').length === 1", timeout=15_000)
    # each hears the two others, never itself
    a.wait_tones(line["index"], (TONE_2002, TONE_2003), absent=(TONE_BROWSER,))
    b.wait_tones((TONE_BROWSER, TONE_2003), absent=(TONE_2002,))
    c.wait_tones((TONE_BROWSER, TONE_2002), absent=(TONE_2003,))
    # 2002 went in first: the browser's entry was announced to it
    assert heard_somewhere(b.phone.rec.samples(), ENTER_BEEP)
    a.axe("phone, in a conference")
    rooms = api(a, "GET", "/conferences")["items"]
    assert [r["number"] for r in rooms if r["adhoc"]] == [line["conference"]]
    # the browser leaves: the two desk phones still talk; when one of them leaves, the
    # ad-hoc room ends
    page.evaluate("(i) => window.webfonTest.hangup(i)", line["index"])
    b.wait_tones((TONE_2003,), absent=(TONE_BROWSER, TONE_2002))
    c.hangup()
    assert b.ended.wait(10)
    deadline = time.monotonic() + 10
    while api(a, "GET", "/conferences")["items"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert api(a, "GET", "/conferences")["items"] == []


def test_dial_in_room_with_pin_from_the_keypad_and_by_info(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    """The demo's room 8000 (PIN 1234): the browser keys the PIN on its keypad (RFC 4733
    through the gateway), a desk phone by SIP INFO; then they hear each other."""
    stack.require("sercen", "pbx", "gateway", "web")
    a = make_phone(TONE_BROWSER)
    a.login("1002")
    page = a.page
    page.evaluate("() => window.webfonTest.call('8000')")
    a.wait_line_state(0, "active")
    for key in "1234#":
        page.get_by_test_id(f"key-{key}").click()
    c = make_sip_phone("2003", TONE_2003)
    c.dial("8000")
    c.wait_answered()

    async def info_pin() -> None:
        assert c.phone.call is not None
        for digit in "1234#":
            await c.phone.call.send_dtmf_info(digit)

    c.run(info_pin())
    a.wait_tones(0, (TONE_2003,), absent=(TONE_BROWSER,))
    c.wait_tones((TONE_BROWSER,), absent=(TONE_2003,))
    page.evaluate("() => window.webfonTest.hangup(0)")
    c.hangup()


def test_callback_smart_button_rings_back_and_connects(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone], admin_settings: list) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    a = make_phone(TONE_BROWSER)
    a.login("1001")
    _, extensions = ids(a)
    path = f"/admin/extensions/{extensions['2002']}"
    api(a, "PATCH", path, {"line_count": 1})  # one call makes 2002 busy
    changed = time.monotonic()
    admin_settings.append((a, path, {"line_count": 2}))
    b = make_sip_phone("2002", TONE_2002)
    c = make_sip_phone("2003", TONE_2003)
    c.dial("2002")
    b.answer_incoming()
    c.wait_answered()
    time.sleep(max(0.0, PBX_CACHE_S - (time.monotonic() - changed)))
    page = a.page
    page.evaluate("() => window.webfonTest.call('1002')")
    page.wait_for_function("() => window.webfonTest.line(0).failure === 'busy'",
                           timeout=15_000)
    page.get_by_test_id("smart-*43#").click()
    page.wait_for_function(
        "() => window.webfonTest.phone().lines.some((l) => l.peer === '*43#')", timeout=5_000)
    # booked: the PBX answered with its confirmation and hung up
    page.wait_for_function(
        "() => window.webfonTest.phone().lines.every((l) => l.state === 'idle')",
        timeout=15_000)
    booked = api(a, "GET", "/callbacks")["items"][0]
    assert (booked["target_number"], booked["state"]) == ("1002", "pending")
    # 2002 is free again: the PBX rings the browser, showing whom it will call
    c.hangup()
    assert b.ended.wait(10)
    index = a.wait_incoming(timeout_ms=20_000)
    assert a.line(index)["peer"] == "1002"
    page.get_by_test_id(f"answer-{index}").click()
    b.answer_incoming(timeout=20)
    a.wait_hearing(index, TONE_2002)
    b.wait_hearing(TONE_BROWSER)
    assert api(a, "GET", "/callbacks")["items"][0]["state"] == "done"
    page.evaluate("(i) => window.webfonTest.hangup(i)", index)
    assert b.ended.wait(10)


def _login_token(stack: Stack, login: str) -> str:
    req = urllib.request.Request(
        f"{stack.base_url}/sercen/login", method="POST",
        data=json.dumps({"login": login, "password": DEMO_PASSWORD.format(login=login)}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": "172.25.9.3"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["access_token"]


def _status(stack: Stack, method: str, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"{stack.base_url}{path}", method=method, headers=headers,
                                 data=b"{}" if method == "POST" else None)
    if method == "POST":
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_record_a_call_and_play_it_in_the_portal(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone], admin_settings: list) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    a = make_phone(TONE_BROWSER)
    a.login("1001")
    users, _ = ids(a)
    path = f"/admin/users/{users['1001']}"
    api(a, "PATCH", path, {"recording_mode": "on_demand"})
    changed = time.monotonic()
    admin_settings.append((a, path, {"recording_mode": "none"}))
    b = make_sip_phone("2002", TONE_2002)
    page = a.page
    page.evaluate("() => window.webfonTest.call('2002')")
    b.answer_incoming()
    a.wait_hearing(0, TONE_2002)
    b.wait_hearing(TONE_BROWSER)
    time.sleep(max(0.0, PBX_CACHE_S - (time.monotonic() - changed)))
    page.get_by_test_id("record-0").click()
    page.get_by_test_id("recording-0").wait_for(timeout=10_000)
    time.sleep(2.0)
    page.get_by_test_id("record-0").click()
    page.get_by_test_id("recording-0").wait_for(state="detached", timeout=10_000)
    page.evaluate("() => window.webfonTest.hangup(0)")
    assert b.ended.wait(10)
    # the portal lists it; playing it loads the audio into the page's player
    page.get_by_test_id("nav-recordings").click()
    item = page.get_by_test_id("recording-item").first
    item.wait_for(timeout=10_000)
    a.axe("recordings")
    item.get_by_test_id("recording-play").click()
    page.wait_for_function(
        "() => { const p = document.querySelector('[data-testid=recording-audio]');"
        " return p && !p.hidden && p.readyState >= 1 && p.duration > 1.5; }", timeout=10_000)
    url = page.evaluate("() => document.querySelector('[data-testid=recording-audio]').src")
    with urllib.request.urlopen(url, timeout=10) as resp:
        data = resp.read()
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    left = tone_levels(samples[:, 0], 8000, [TONE_BROWSER, TONE_2002])
    right = tone_levels(samples[:, 1], 8000, [TONE_BROWSER, TONE_2002])
    assert left[0] > -35 and right[1] > -35, (left, right)  # the browser left, 2002 right
    # another user cannot see, get a ticket for, or play it
    recording = page.evaluate(
        "() => document.querySelector('[data-testid=recording-item]').dataset.id")
    other = _login_token(stack, "1002")
    assert _status(stack, "GET", f"/fonbo/recordings/{recording}", other) == 404
    assert _status(stack, "POST", f"/fonbo/recordings/{recording}/ticket", other) == 404
    assert _status(stack, "GET", f"/fonbo/recordings/{recording}/audio", other) == 404
    assert _status(stack, "GET", f"/fonbo/recordings/{recording}/audio") == 401
