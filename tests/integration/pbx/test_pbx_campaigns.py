"""Dialler campaigns with real calls: a carrier (sipp) whose numbers answer, are busy or ring
unanswered; answered calls reach a queue agent, or an IVR menu whose key the called party
presses, with audio both ways; retries, pacing, the owner's category, and a restart in the
middle of a campaign."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from pbx.core import PbxCore
from pbx.engine import SipEngine
from tests.integration.pbx.pbxrun import RunningPbx, ivr_menu, ivr_option, start_pbx, stop_pbx
from tests.support.net import wait_until
from tests.support.sipp import Sipp

AGENT_TONE = 700.0
ANSWERS, BUSY, RINGS = "0600000101", "0600000202", "0600000303"


@pytest.fixture
async def pbx(tmp_path: Path) -> AsyncIterator[RunningPbx]:
    running = await start_pbx(tmp_path, campaign_tick_s=0.1, campaign_lease_s=1.0)
    try:
        yield running
    finally:
        await stop_pbx(running)


async def carrier_trunk(pbx: RunningPbx, sipp_factory: Callable[..., Sipp]) -> Sipp:
    carrier = sipp_factory("pbx/uas_carrier", rtp_echo=True, payload_type=8, timeout=60,
                           calls=1000)
    await carrier.start()
    await pbx.store.execute("INSERT INTO trunks (name, host, port) VALUES ('carrier', ?, ?)",
                            (pbx.host, carrier.local_port))
    pbx.core.directory.invalidate()
    return carrier


async def campaign(pbx: RunningPbx, name: str, numbers: list[str], *, owner: str = "1001",
                   **settings: Any) -> int:
    row: dict[str, Any] = {"name": name, "owner_user_id": pbx.ids[f"user{owner}"],
                           "destination": "3000", "days": "mon-sun", "time_from": "00:00",
                           "time_to": "24:00", "ring_timeout_s": 2, "max_concurrent": 2,
                           "calls_per_s": 5, "busy_retries": 0, "no_answer_retries": 0,
                           "failed_retries": 0, "created_at": time.time(), **settings}
    async with pbx.store.transaction() as tx:
        cid = await tx.insert(f"INSERT INTO campaigns ({', '.join(row)}) VALUES "
                              f"({', '.join('?' for _ in row)})", list(row.values()))
        for n in numbers:
            await tx.execute("INSERT INTO campaign_numbers (campaign_id, number) VALUES (?, ?)",
                             (cid, n))
        await tx.execute("UPDATE campaigns SET state = 'running', started_at = ? WHERE id = ?",
                         (time.time(), cid))
    return cid


async def finished(pbx: RunningPbx, cid: int, timeout: float = 20) -> dict[str, dict[str, Any]]:
    await wait_until(lambda: pbx.store.fetchval(
        "SELECT COUNT(*) AS n FROM campaigns WHERE id = ? AND state = 'finished'", (cid,)),
        timeout=timeout, message="campaign finished")
    rows = await pbx.store.fetchall("SELECT * FROM campaign_numbers WHERE campaign_id = ?",
                                    (cid,))
    return {r["number"]: r for r in rows}


def invites(carrier_result: Any) -> list[str]:
    return [line.split()[1] for line in carrier_result.text("messages.log").splitlines()
            if line.startswith("INVITE ")]


async def test_campaign_answered_busy_unanswered_and_a_restricted_owner(
        pbx: RunningPbx, sipp_factory: Callable[..., Sipp]) -> None:
    carrier = await carrier_trunk(pbx, sipp_factory)
    agent = await pbx.registered("2002")
    internal = await pbx.store.insert(
        "INSERT INTO categories (name, allowed) VALUES ('Interna', 'internal,emergency')")
    await pbx.store.execute("UPDATE users SET category_id = ? WHERE id = ?",
                            (internal, pbx.ids["user1003"]))
    restricted = await campaign(pbx, "interna", ["0600000401"], owner="1003")
    cid = await campaign(pbx, "ventas", [ANSWERS, BUSY, RINGS], busy_retries=1,
                         busy_retry_s=1)
    incoming = await agent.incoming(10)
    agent.answer(incoming)
    agent.send_tone(AGENT_TONE)  # the customer echoes it: heard back only if relayed both ways
    await agent.wait_hearing(AGENT_TONE, timeout=5)
    await incoming.bye()
    rows = await finished(pbx, cid)
    assert (rows[ANSWERS]["outcome"], rows[ANSWERS]["attempts"]) == ("answered", 1)
    assert rows[ANSWERS]["last_reason"] == "answered, connected to 3000"
    assert (rows[BUSY]["outcome"], rows[BUSY]["attempts"], rows[BUSY]["state"]) == \
        ("busy", 2, "done")  # one retry, a second later
    assert (rows[RINGS]["outcome"], rows[RINGS]["attempts"]) == ("no_answer", 1)
    other = await finished(pbx, restricted)
    assert other["0600000401"]["outcome"] == "refused"
    assert other["0600000401"]["last_reason"] == "Category Interna does not allow mobile calls"
    await pbx.core.cdr.flush()
    cdr = await pbx.store.fetchall(
        "SELECT callee, disposition, trunk, user_id FROM cdr WHERE leg = 0 AND user_id = ?",
        (pbx.ids["user1001"],))
    assert sorted((r["callee"], r["disposition"], r["trunk"]) for r in cdr) == [
        (ANSWERS, "answered", "carrier"), (BUSY, "busy", "carrier"),
        (BUSY, "busy", "carrier"), (RINGS, "no_answer", "carrier")]
    result = await carrier.stop()
    assert result is not None
    called = invites(result)
    assert sorted(u.split("@")[0] for u in called) == [
        "sip:600000101", "sip:600000202", "sip:600000202", "sip:600000303"]


async def test_a_campaign_through_a_trunk_that_requires_srtp_never_talks_in_the_clear(
        pbx: RunningPbx, sipp_factory: Callable[..., Sipp]) -> None:
    carrier = await carrier_trunk(pbx, sipp_factory)
    await pbx.store.execute("UPDATE trunks SET srtp = 1 WHERE name = 'carrier'")
    pbx.core.directory.invalidate()
    cid = await campaign(pbx, "segura", [ANSWERS])
    rows = await finished(pbx, cid)
    # the carrier answers with plain RTP: the call is ended, not connected in the clear
    assert rows[ANSWERS]["outcome"] != "answered", dict(rows[ANSWERS])
    result = await carrier.stop()
    assert result is not None
    log = result.text("messages.log")
    offers = log.split("INVITE sip:")[1:]
    assert offers, log[-2000:]
    for offer in offers:  # what the PBX sent the carrier (its answers are plain RTP/AVP)
        assert "m=audio" in offer and "RTP/SAVP" in offer.split("SIP/2.0 ")[0]
        assert "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" in offer.split("SIP/2.0 ")[0]


async def test_answered_campaign_call_goes_to_an_ivr_menu(pbx: RunningPbx) -> None:
    menu = await ivr_menu(pbx, "4000", "IVRCAMP", timeout_s=5)
    await ivr_option(pbx, menu, "1", "extension", "2002")
    # the called party is a phone of the PBX (so that it can press a key)
    customer, agent = await pbx.registered("2003"), await pbx.registered("2002")
    cid = await campaign(pbx, "encuesta", ["2003"], destination="4000")
    incoming = await customer.incoming(10)
    customer.answer(incoming)
    await asyncio.sleep(0.3)
    await customer.rtp.send_dtmf("1", 101)  # the menu's key 1 rings the agent
    agent.answer(await agent.incoming(5))
    customer.send_tone(440.0)
    agent.send_tone(AGENT_TONE)
    await customer.wait_hearing(AGENT_TONE, timeout=5)
    await agent.wait_hearing(440.0, timeout=5)
    await incoming.bye()
    rows = await finished(pbx, cid)
    assert (rows["2003"]["outcome"], rows["2003"]["last_reason"]) == (
        "answered", "answered, connected to 2002")  # where the menu's key led
    counted = await pbx.store.fetchall("SELECT name, option_value, count FROM ivr_accumulators")
    assert [(r["name"], r["option_value"], r["count"]) for r in counted] == [
        ("IVRCAMP", "1", 1)]


async def test_pacing_limits_concurrent_calls_and_rate(
        pbx: RunningPbx, sipp_factory: Callable[..., Sipp]) -> None:
    await carrier_trunk(pbx, sipp_factory)
    numbers = [f"06000005{i}3" for i in range(5)]  # all ring unanswered for 1 s
    cid = await campaign(pbx, "ritmo", numbers, max_concurrent=2, calls_per_s=4,
                         ring_timeout_s=1)
    rows = await finished(pbx, cid)
    assert {r["outcome"] for r in rows.values()} == {"no_answer"}
    starts = sorted(float(r["last_attempt_at"]) for r in rows.values())
    assert min(b - a for a, b in pairwise(starts)) >= 0.24  # 4 a second
    await pbx.core.cdr.flush()
    calls = await pbx.store.fetchall("SELECT started_at, ended_at FROM cdr WHERE leg = 0")
    assert len(calls) == 5
    edges = sorted([(float(c["started_at"]), 1) for c in calls]
                   + [(float(c["ended_at"]), -1) for c in calls])
    at_once, peak = 0, 0
    for _, step in edges:
        at_once += step
        peak = max(peak, at_once)
    assert peak == 2  # five calls of a second each, never more than two at once


async def test_campaign_resumes_after_a_pbx_restart(
        pbx: RunningPbx, sipp_factory: Callable[..., Sipp]) -> None:
    await carrier_trunk(pbx, sipp_factory)
    numbers = [f"06000006{i}3" for i in range(2)]  # ring unanswered for 2 s each
    cid = await campaign(pbx, "reinicio", numbers, max_concurrent=1, ring_timeout_s=2,
                         failed_retries=1, failed_retry_s=1)
    await wait_until(lambda: pbx.store.fetchval(
        "SELECT COUNT(*) AS n FROM campaign_numbers WHERE state = 'dialling'"), timeout=10)
    await pbx.engine.close()  # the PBX stops in the middle of the first call
    cut = await pbx.store.fetchone(
        "SELECT number, attempts FROM campaign_numbers WHERE state = 'dialling'")
    assert cut is not None and cut["attempts"] == 1
    # a new PBX process over the same store takes the campaign up once the lease runs out
    core = PbxCore.create(pbx.settings, pbx.store, pbx.bus)
    pbx.engine = SipEngine(core)
    await pbx.engine.start()
    rows = await finished(pbx, cid, timeout=30)
    interrupted = rows[cut["number"]]
    assert (interrupted["attempts"], interrupted["outcome"]) == (2, "no_answer")
    assert all(r["attempts"] == 1 and r["outcome"] == "no_answer"
               for n, r in rows.items() if n != cut["number"])


async def test_campaign_calls_count_against_the_trunk_limit_and_wait_for_it(
        tmp_path: Path, sipp_factory: Callable[..., Sipp]) -> None:
    """A campaign call takes a place on its trunk like any call out; one that finds every
    trunk full is not dialled, not failed for good and not counted as an attempt: it is placed
    once the trunk frees. The answered leg is the owner's, reached through the trunk."""
    pbx = await start_pbx(tmp_path, campaign_tick_s=0.1, campaign_lease_s=1.0,
                          max_calls_per_trunk=1, campaign_limit_backoff_s=0.3)
    try:
        carrier = await carrier_trunk(pbx, sipp_factory)
        agent = await pbx.registered("2002")
        first, second = "0600000711", "0600000721"  # both answer
        cid = await campaign(pbx, "limite", [first, second], max_concurrent=2, calls_per_s=10)
        incoming = await agent.incoming(10)  # the first answered call rings the agent
        query = ("SELECT number, state, attempts, outcome, last_reason FROM campaign_numbers "
                 "WHERE campaign_id = ? AND last_reason LIKE 'not placed%'", (cid,))
        await wait_until(lambda: pbx.store.fetchone(*query), timeout=5,
                         message="the second call held back by the trunk limit")
        held = await pbx.store.fetchone(*query)
        assert held is not None and held["number"] == second
        assert held["state"] in ("pending", "dialling") and held["attempts"] <= 1
        engine = pbx.engine
        assert engine.active.trunk_calls("carrier") == 1
        calls = list(engine.active.calls.values())
        assert len(calls) == 1
        party = calls[0].a.party
        assert party is not None and party.trunk is not None and party.user is not None
        assert (party.trunk.name, party.user.id) == ("carrier", pbx.ids["user1001"])
        agent.answer(incoming)
        await incoming.bye()  # the trunk frees: the held number is placed now
        again = await agent.incoming(10)
        agent.answer(again)
        agent.send_tone(AGENT_TONE)  # the customer echoes it: heard back only if relayed
        await agent.wait_hearing(AGENT_TONE, timeout=5)
        await again.bye()
        rows = await finished(pbx, cid)
        # failed_retries = 0: had the limit been a failure, the number would be done
        assert {n: (r["outcome"], r["attempts"]) for n, r in rows.items()} == {
            first: ("answered", 1), second: ("answered", 1)}
        await wait_until(lambda: engine.active.trunk_calls("carrier") == 0, timeout=5)
        result = await carrier.stop()
        assert result is not None
        assert sorted(u.split("@")[0] for u in invites(result)) == [
            "sip:600000711", "sip:600000721"]  # the held call was never dialled
    finally:
        await stop_pbx(pbx)
