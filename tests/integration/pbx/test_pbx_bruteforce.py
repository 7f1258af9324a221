"""Password guessing against the PBX process: a sipp REGISTER brute force from one address
(a network namespace of its own) is banned after ``auth_max_failures`` tries — every later
attempt gets 403 without a challenge, so nothing more can be guessed — the shipped fail2ban
filter matches exactly those failures, with the attacker's address, in the log the PBX wrote;
and phones at other addresses still register and call each other, with audio both ways."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pbx.pbxproc import ROOT, pbx_process
from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork
from tests.support.sipp import Sipp

FILTER = ROOT / "deploy" / "fail2ban" / "filter.d" / "webfon-pbx.conf"
FAIL2BAN_REGEX = shutil.which("fail2ban-regex") or "/usr/bin/fail2ban-regex"
MAX_FAILURES = 5
GUESSES = 20


def fail2ban_matches(log: Path) -> list[str]:
    """The addresses fail2ban-regex finds in ``log`` with the shipped filter, one a match."""
    out = subprocess.run([FAIL2BAN_REGEX, "--out", "ip", str(log), str(FILTER)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


async def test_register_brute_force_is_banned_and_others_still_call(
        tmp_path: Path, phone_network: PhoneNetwork, sipp_factory: Callable[..., Sipp],
        baresip_factory: Callable[..., Any]) -> None:
    if not Path(FAIL2BAN_REGEX).exists():
        pytest.fail("fail2ban-regex is missing: run scripts/install-test-deps")
    host = phone_network.host_ip
    async with pbx_process(tmp_path, host, auth_max_failures=MAX_FAILURES,
                           auth_ban_s=300) as pbx:
        netns, attacker = phone_network.add_namespace()
        guesses = sipp_factory("pbx/register_guess", pbx.sip, netns=netns, local_ip=attacker,
                               service="2001", auth_user="2001", auth_password="123456",
                               calls=GUESSES, limit=1, rate=50, timeout=30)
        result = await guesses.run()
        assert result.ok and result.successful_calls == GUESSES, result.describe()
        trace = result.text("messages.log")
        challenged = trace.count("SIP/2.0 401 ")
        guessed_wrong = trace.count("SIP/2.0 403 Wrong credentials")
        banned = trace.count("SIP/2.0 403 Forbidden")
        assert (challenged, guessed_wrong, banned) == \
            (MAX_FAILURES, MAX_FAILURES, GUESSES - MAX_FAILURES), trace[-3000:]

        # phones at other addresses are not affected
        alice: BaresipPhone = await baresip_factory(
            "2002", tone_hz=440.0, registrar=pbx.sip, password="sip-2002", codecs=("PCMA",))
        bob: BaresipPhone = await baresip_factory(
            "2003", tone_hz=1000.0, registrar=pbx.sip, password="sip-2003", codecs=("PCMA",))
        await alice.dial(f"sip:1003@{pbx.sip}")
        await alice.wait_event("CALL_ESTABLISHED", 10)
        await bob.wait_event("CALL_ESTABLISHED", 10)
        await asyncio.sleep(3.0)
        await alice.hangup()
        await bob.wait_event("CALL_CLOSED", 10)
        assert_tone(alice.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=2.0)
        assert_tone(bob.last_decoded_wav(), 440.0, tolerance_hz=5, min_seconds=2.0)

        bans = [e for e in pbx.log_events()
                if str(e.get("event", "")).startswith("pbx-auth-ban")]
        assert [e["event"] for e in bans] == \
            [f"pbx-auth-ban kind=address subject={attacker} seconds=300"]
    # the firewall side: the shipped filter finds each failure, with the attacker's address
    assert fail2ban_matches(pbx.log_path) == [attacker] * MAX_FAILURES
