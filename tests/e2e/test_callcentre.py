"""The call centre in the browser, with SIP desk phones and audio checked both ways:

* an agent pauses with a reason in «Mis colas» and the ACD group's calls go to a colleague;
  resuming brings them back to the browser;
* an admin creates an operator and a hunt group on the admin page, sees a SIP caller waiting
  in «Supervisión» and moves it («Mover Cola») to the hunt group, whose member answers;
* an admin uploads a WAV prompt (and is told why a text file will not do), builds an IVR
  menu; a SIP caller picks its option by RFC 4733 and lands in the group; the statistics page
  shows that group's call and the menu's accumulator, as a chart, a table and a CSV.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from tests.e2e.conftest import Phone
from tests.e2e.stack import Stack
from tests.support.phone import ThreadedPhone
from webfon.rtp.wav import write_tone_wav

TONE_BROWSER = 700.0
TONE_CALLER = 500.0
TONE_AGENT = 1100.0


def goto(page: Page, route: str) -> None:
    page.get_by_test_id(f"nav-{route}").click()
    page.wait_for_function("(r) => document.body.dataset.route === r", arg=route)


def both_ways(a: ThreadedPhone, b: ThreadedPhone) -> None:
    a.wait_hearing(b.phone.tone_hz, timeout=10)
    b.wait_hearing(a.phone.tone_hz, timeout=10)


def test_agent_pauses_with_a_reason_and_the_group_calls_go_elsewhere(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "fonbo", "pbx", "gateway", "web")
    agent = make_phone(TONE_BROWSER)
    agent.login("1002")  # Luis: his web phone takes his place in his groups (penalty 0)
    page = agent.page
    colleague = make_sip_phone("2001", TONE_AGENT)  # Ana, penalty 1 in «ACD Atención»
    caller = make_sip_phone("2003", TONE_CALLER)  # Marta, calling the group
    goto(page, "acd")
    row = page.get_by_test_id("acd-row").filter(has_text="3100")
    row.get_by_test_id("acd-state").filter(has_text="Disponible").wait_for(timeout=10_000)
    assert page.get_by_test_id("acd-row").count() == 2  # the hunt group and the ACD group
    row.get_by_test_id("acd-reason").select_option("Descanso")  # the demo's pause reasons
    row.get_by_test_id("acd-pause").click()
    row.get_by_test_id("acd-state").filter(has_text="En pausa (Descanso)").wait_for(
        timeout=10_000)
    agent.axe("my queues, paused")
    # paused: the group's caller goes to Ana's desk phone, the browser does not ring
    caller.dial("3100")
    caller.wait_answered(10)  # an ACD group answers its callers at once
    colleague.answer_incoming(10)
    both_ways(caller, colleague)
    assert agent.line(0)["state"] == "idle"
    colleague.hangup()
    caller.ended.wait(5)
    # resumed: the browser (penalty 0) takes the next call, and talks
    row.get_by_test_id("acd-unpause").click()
    row.get_by_test_id("acd-state").filter(has_text="Disponible").wait_for(timeout=10_000)
    time.sleep(0.5)
    caller.dial("3100")
    caller.wait_answered(10)
    line = agent.wait_incoming(15_000)
    page.get_by_test_id(f"answer-{line}").click()
    agent.wait_hearing(line, TONE_CALLER)
    caller.wait_hearing(TONE_BROWSER, timeout=10)
    caller.hangup()
    agent.wait_line_state(line, "idle")
    agent.logout()


def test_admin_builds_groups_and_moves_a_waiting_caller(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone]) -> None:
    stack.require("sercen", "fonbo", "pbx", "web")
    admin = make_phone(TONE_BROWSER)
    admin.login("1001", wait_registered=False)
    page = admin.page
    goto(page, "admin/groups")
    for number, name, kind, member in (("3500", "Operadoras e2e", "operator", "2003"),
                                       ("3600", "Salto e2e", "hunt", "2002")):
        page.get_by_test_id("group-new").click()
        page.get_by_test_id("group-field-number").fill(number)
        page.get_by_test_id("group-field-name").fill(name)
        page.get_by_test_id("group-field-kind").select_option(kind)
        # an operator group has position announcements; a hunt group keeps nobody waiting
        assert page.get_by_test_id("group-field-announce_s").is_visible() == (
            kind == "operator")
        assert not page.get_by_test_id("group-field-wrapup_s").is_visible()
        page.get_by_test_id("group-field-timeout_s").fill("60")
        page.get_by_test_id("group-save").click()
        row = page.get_by_test_id("group-row").filter(has_text=name)
        row.wait_for(timeout=10_000)
        row.get_by_test_id("group-members").click()
        page.get_by_test_id("member-extension").select_option(label=member)
        page.get_by_test_id("member-add").click()
        page.get_by_test_id("member-row").filter(has_text=member).wait_for(timeout=10_000)
    admin.axe("admin, groups with a group's members")
    # 2003, the operator group's only member, has no phone registered: the caller waits
    caller = make_sip_phone("2001", TONE_CALLER)
    member = make_sip_phone("2002", TONE_AGENT)
    caller.dial("3500")
    caller.wait_answered(10)
    page.reload()
    page.get_by_test_id("current-user").wait_for(timeout=15_000)
    goto(page, "supervision")
    page.get_by_test_id("sup-queue").select_option(label="3500 Operadoras e2e · Grupo de "
                                                         "operadoras")
    call = page.get_by_test_id("sup-call").filter(has_text="1001")
    call.wait_for(timeout=10_000)
    admin.axe("supervision with a waiting call")
    call.get_by_test_id("sup-move-target").select_option(label="3600 Salto e2e")
    call.get_by_test_id("sup-move").click()
    member.answer_incoming(10)
    both_ways(caller, member)
    page.get_by_test_id("sup-no-calls").wait_for(timeout=10_000)
    caller.hangup()
    member.ended.wait(5)
    admin.logout()


def test_ivr_menu_built_in_the_browser_counts_and_statistics_show_it(
        stack: Stack, make_phone: Callable[..., Phone],
        make_sip_phone: Callable[..., ThreadedPhone], tmp_path: Path) -> None:
    stack.require("sercen", "fonbo", "pbx", "web")
    admin = make_phone(TONE_BROWSER)
    admin.login("1001", wait_registered=False)
    page = admin.page
    goto(page, "admin/ivr")
    bad = tmp_path / "not-a-prompt.wav"
    bad.write_text("hola, no soy un WAV")
    page.get_by_test_id("prompt-name").fill("Malo")
    page.get_by_test_id("prompt-file").set_input_files(str(bad))
    page.get_by_test_id("prompt-submit").click()
    page.get_by_test_id("prompt-error").filter(has_text="not a usable WAV file").wait_for(
        timeout=10_000)
    good = write_tone_wav(tmp_path / "bienvenida.wav", 600.0, 1.0, rate=16_000)
    page.get_by_test_id("prompt-name").fill("Bienvenida e2e")
    page.get_by_test_id("prompt-file").set_input_files(str(good))
    page.get_by_test_id("prompt-submit").click()
    prompt = page.get_by_test_id("prompt-row").filter(has_text="Bienvenida e2e")
    prompt.get_by_test_id("prompt-duration").filter(has_text="1.0 s").wait_for(timeout=10_000)
    page.get_by_test_id("menu-new").click()
    page.get_by_test_id("menu-number").fill("4500")
    page.get_by_test_id("menu-name").fill("IVRE2E")
    page.get_by_test_id("menu-greeting").select_option(label="Bienvenida e2e")
    page.get_by_test_id("menu-save").click()
    menu = page.get_by_test_id("menu-row").filter(has_text="IVRE2E")
    menu.wait_for(timeout=10_000)
    menu.get_by_test_id("menu-options").click()
    page.get_by_test_id("option-digit").select_option("1")
    page.get_by_test_id("option-action").select_option("queue")
    page.get_by_test_id("option-target").fill("3000")  # «Grupo salto Soporte»
    page.get_by_test_id("option-stats").check()
    page.get_by_test_id("option-save").click()
    page.get_by_test_id("option-row").filter(has_text="3000").wait_for(timeout=10_000)
    admin.axe("IVR prompts, a menu and its options")
    # a SIP caller picks 1 by RFC 4733 and reaches the hunt group's member
    caller = make_sip_phone("2001", TONE_CALLER)
    member = make_sip_phone("2002", TONE_AGENT)
    caller.dial("4500")
    caller.wait_answered(10)
    time.sleep(0.5)
    caller.run(caller.phone.rtp.send_dtmf("1", 101))
    member.answer_incoming(10)
    both_ways(caller, member)
    caller.hangup()
    member.ended.wait(5)
    time.sleep(1.0)  # the group's statistics are written when the call ends
    goto(page, "stats")
    page.get_by_test_id("st-group").select_option(label="3000 Grupo salto Soporte · Grupo "
                                                        "de salto")
    page.get_by_test_id("st-show").click()
    # the row whose group cell is 3000's (another group's figures may contain "3000")
    total = page.get_by_test_id("st-total").filter(
        has=page.locator("td", has_text=re.compile(r"^3000 ")))
    total.wait_for(timeout=10_000)
    cells = total.locator("td").all_inner_texts()
    assert cells[1:3] == ["1", "1"], cells  # offered, answered
    assert page.get_by_test_id("chart-bar").count() >= 1
    page.get_by_test_id("acc-row").filter(has_text="IVRE2E").wait_for(timeout=10_000)
    assert "1" in page.get_by_test_id("acc-row").filter(has_text="IVRE2E").inner_text()
    admin.axe("statistics with a chart and tables")
    with page.expect_download() as download:
        page.get_by_test_id("st-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["number"], r["offered"], r["answered"]) for r in rows] == [("3000", "1", "1")]
    admin.logout()
