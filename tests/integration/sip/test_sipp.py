"""Interoperability of the SIP stack with a real peer: sipp (Debian ``sip-tester``).

sipp as UAC against a small UAS built from our stack (UDP and TCP, REGISTER with digest
auth), and sipp's built-in UAS answering calls placed by our user agent.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.net import free_port
from webfon.sip import (
    DigestServer,
    Request,
    ServerTransaction,
    SessionDescription,
    SipEndpoint,
    Timers,
    compute_ha1,
    make_answer,
    make_offer,
)
from webfon.sip.ua import Account, UserAgent

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = Path(__file__).parent / "scenarios"
REALM = "sipp.test"


async def run_sipp(*args: str, timeout: float = 30.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        SIPP, *args, "-nostdin", "-timeout", f"{int(timeout) - 5}s", "-timeout_error",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")[-3000:]


class TinyUas:
    """Answers INVITE (180 then 200 with SDP), BYE, and REGISTER with digest auth."""

    def __init__(self, ep: SipEndpoint, users: dict[str, str]) -> None:
        self.ep = ep
        self.auth = DigestServer(REALM, algorithms=["MD5"])  # sipp answers MD5 only
        self.ha1 = {u: compute_ha1(u, REALM, p) for u, p in users.items()}
        self.counts: dict[str, int] = {}
        self.registered: dict[str, str] = {}
        ep.handler = self.handle

    async def handle(self, request: Request, tx: ServerTransaction | None) -> None:
        self.counts[request.method] = self.counts.get(request.method, 0) + 1
        if tx is None:
            return
        if request.method == "REGISTER":
            result = await self.auth.authenticate(request, lambda u, a: self.ha1.get(u))
            if result.status == "failed":
                tx.respond(403)
            elif not result.ok:
                tx.respond(self.auth.challenge(request, stale=result.status == "stale",
                                               to_tag=tx.local_tag))
            else:
                contact = request.contact
                self.registered[result.username or ""] = str(contact.uri if contact else "")
                tx.respond(200, headers=[("Contact", f"{contact};expires=120")])
        elif request.method == "INVITE":
            tx.respond(180)
            sdp = make_offer("127.0.0.1", 30000)
            if request.body:
                sdp, _ = make_answer(SessionDescription.parse(request.body), "127.0.0.1", 30000)
            tx.respond(200, body=sdp.encode(), content_type="application/sdp",
                       headers=[("Contact", f"<sip:uas@127.0.0.1:{self.ep.port}>")])
        else:
            tx.respond(200)


@pytest.fixture
async def uas_endpoint() -> AsyncIterator[SipEndpoint]:
    ep = SipEndpoint("127.0.0.1", 0, transports=("udp", "tcp"),
                     timers=Timers(t1=0.1, t2=1.0, t4=1.0))
    await ep.start()
    yield ep
    await ep.close()


async def test_sipp_uac_calls_our_uas_over_udp(uas_endpoint: SipEndpoint) -> None:
    uas = TinyUas(uas_endpoint, {})
    code, out = await run_sipp("-sn", "uac", f"127.0.0.1:{uas_endpoint.port}", "-i",
                               "127.0.0.1", "-p", str(free_port()), "-m", "5", "-r", "5",
                               "-d", "100", "-s", "uas")
    assert code == 0, out
    assert uas.counts["INVITE"] == 5 and uas.counts["ACK"] == 5 and uas.counts["BYE"] == 5
    assert uas_endpoint.stats["parse_errors"] == 0
    for _ in range(50):  # every transaction ends (timers scaled with T1 = 0.1 s)
        if uas_endpoint.transaction_count == 0:
            break
        await asyncio.sleep(0.2)


async def test_sipp_uac_calls_our_uas_over_tcp(uas_endpoint: SipEndpoint) -> None:
    uas = TinyUas(uas_endpoint, {})
    code, out = await run_sipp("-sn", "uac", f"127.0.0.1:{uas_endpoint.port}", "-t", "t1",
                               "-i", "127.0.0.1", "-p", str(free_port("tcp")),
                               "-m", "3", "-r", "5", "-d", "100", "-s", "uas")
    assert code == 0, out
    assert uas.counts["INVITE"] == 3 and uas.counts["BYE"] == 3
    assert uas_endpoint.stats["retransmissions"] == 0


async def test_sipp_registers_with_digest_auth(uas_endpoint: SipEndpoint) -> None:
    uas = TinyUas(uas_endpoint, {"1001": "s3cret"})
    code, out = await run_sipp("-sf", str(SCENARIOS / "register_auth.xml"),
                               f"127.0.0.1:{uas_endpoint.port}", "-i", "127.0.0.1",
                               "-p", str(free_port()), "-m", "1", "-s", "1001",
                               "-au", "1001", "-ap", "s3cret")
    assert code == 0, out
    assert "1001" in uas.registered
    code, out = await run_sipp("-sf", str(SCENARIOS / "register_wrong_password.xml"),
                               f"127.0.0.1:{uas_endpoint.port}", "-i", "127.0.0.1",
                               "-p", str(free_port()), "-m", "1", "-s", "1001",
                               "-au", "1001", "-ap", "wrong")
    assert code == 0, out


async def test_our_ua_calls_sipp_uas(uas_endpoint: SipEndpoint) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-m", "2", "-nostdin",
        "-timeout", "25s", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        ua = UserAgent(uas_endpoint, Account(aor="sip:webfon@127.0.0.1"))
        for i in range(2):
            call = None
            for _attempt in range(50):  # wait until sipp listens
                call = ua.invite(f"sip:service@127.0.0.1:{port}",
                                 make_offer("127.0.0.1", 40000 + 2 * i))
                response = await call.wait_answer(10)
                if response.status != 503 and not (response.local and response.status == 408):
                    break
                await asyncio.sleep(0.1)
            assert call is not None
            response = await call.wait_answer(10)
            assert response.status == 200, response
            assert call.state == "confirmed"
            await asyncio.sleep(0.05)
            bye = await call.bye()
            assert bye is not None and bye.status == 200
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
