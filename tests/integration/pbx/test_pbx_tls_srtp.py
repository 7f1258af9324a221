"""SIP over TLS and SDES-SRTP with real desk phones: a baresip «publicable en internet» phone
registers over TLS (checking the PBX's certificate) and calls with SRTP; it calls and is
called by a plain UDP/RTP baresip phone, the PBX relaying SRTP ↔ RTP, audio heard both ways,
and a callback the PBX places rings it with SRTP.
The same phone is refused over UDP, and a publicable phone that offers plain RTP is refused
too. A trunk configured for TLS and SRTP (a baresip with its own certificate) gets its calls
over TLS, its certificate checked for the name configured, with SRTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pbx.pbxrun import RunningPbx, start_pbx, stop_pbx
from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork
from tests.support.certs import CertAuthority
from tests.support.net import free_port, wait_until
from webfon.sip import SipEndpoint
from webfon.sip.tls import TlsConfig
from webfon.sip.ua import Account, UserAgent

SECURE = "2001"   # publicable: TLS and SRTP
PLAIN = "2002"


@pytest.fixture
def ca(tmp_path: Path) -> CertAuthority:
    return CertAuthority(tmp_path / "pki")


@pytest.fixture
async def tls_pbx(tmp_path: Path, phone_network: PhoneNetwork, ca: CertAuthority
                  ) -> AsyncIterator[RunningPbx]:
    host = phone_network.host_ip
    cert = ca.issue("pbx", names=("pbx.example.test",), addresses=(host,))
    running = await start_pbx(tmp_path, host=host, no_answer_timeout_s=10.0,
                              trunk_timeout_s=10.0, callback_poll_s=0.2,
                              sip_transports=["udp", "tcp", "tls"],
                              sip_tls_port=free_port("tcp", host), sip_tls_cert_file=cert.cert,
                              sip_tls_key_file=cert.key, sip_tls_ca_file=ca.ca_file)
    await running.store.execute("UPDATE phones SET secure = 1, publishable = 1 "
                                "WHERE sip_username = ?", (SECURE,))
    running.core.directory.invalidate()
    try:
        yield running
    finally:
        await stop_pbx(running)


async def _secure_phone(factory: Any, pbx: RunningPbx, ca: CertAuthority, *,
                        transport: str = "tls", wait_registered: bool = True,
                        auto_answer: bool = True) -> BaresipPhone:
    port = pbx.engine.endpoint.port_of("tls") if transport == "tls" else pbx.port
    return await factory(SECURE, tone_hz=440.0, wait_registered=wait_registered,
                         auto_answer=auto_answer,
                         registrar=f"{pbx.host}:{port};transport={transport}",
                         password=f"sip-{SECURE}", codecs=("PCMA", "PCMU"),
                         extra_config={"sip_cafile": str(ca.ca_file), "module": "srtp.so"},
                         extra_account_params=";mediaenc=srtp-mand")


async def _call(caller: BaresipPhone, callee: BaresipPhone, uri: str) -> None:
    await caller.dial(uri)
    await caller.wait_event("CALL_ESTABLISHED", 10)
    await callee.wait_event("CALL_ESTABLISHED", 10)
    await asyncio.sleep(3.0)
    await caller.hangup()
    await caller.wait_event("CALL_CLOSED", 5)
    await callee.wait_event("CALL_CLOSED", 5)


async def test_a_publicable_phone_calls_over_tls_with_srtp_both_ways(
        tls_pbx: RunningPbx, baresip_factory: Any, ca: CertAuthority) -> None:
    pbx = tls_pbx
    secure = await _secure_phone(baresip_factory, pbx, ca)
    plain = await baresip_factory(PLAIN, tone_hz=1000.0, registrar=f"{pbx.host}:{pbx.port}",
                                  password=f"sip-{PLAIN}", codecs=("PCMA", "PCMU"))
    transports = {b.aor: b.transport for b in await pbx.core.location.all()}
    assert transports == {SECURE: "tls", PLAIN: "udp"}

    # SRTP → RTP: the desk phone on TLS calls the plain one (the users' numbers)
    tls_port = pbx.engine.endpoint.port_of("tls")
    await _call(secure, plain, f"sip:1002@{pbx.host}:{tls_port};transport=tls")
    assert_tone(secure.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=2.0)
    assert_tone(plain.last_decoded_wav(), 440.0, tolerance_hz=5, min_seconds=2.0)
    # RTP → SRTP: the PBX calls the TLS phone over the connection it registered on, with
    # SRTP only (RTP/SAVP and the PBX's key)
    await _call(plain, secure, f"sip:1001@{pbx.host}:{pbx.port}")
    assert_tone(secure.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=2.0)
    assert_tone(plain.last_decoded_wav(), 440.0, tolerance_hz=5, min_seconds=2.0)

    await wait_until(lambda: _calls(pbx, 2), timeout=10, message="both CDRs")
    for row in await _calls(pbx, 2) or []:
        legs = {leg["leg"]: leg for leg in json.loads(row["quality"])}
        by_srtp = {leg["srtp"]: leg for leg in legs.values()}
        assert by_srtp[True]["network"] == "tls" and by_srtp[False]["network"] == "udp"
        assert by_srtp[True]["address"].startswith(secure.ip + ":")
        assert by_srtp[True]["rx_packets"] > 100 and by_srtp[True]["rx_loss_pct"] == 0.0


async def test_a_callback_rings_a_publicable_phone_back_with_srtp(
        tls_pbx: RunningPbx, baresip_factory: Any, ca: CertAuthority) -> None:
    """«Retrollamada» placed by the PBX itself: the phone on TLS is rung back with SRTP only
    (it takes nothing else), then the target is called for it; audio both ways."""
    pbx = tls_pbx
    secure = await _secure_phone(baresip_factory, pbx, ca, auto_answer=False)
    plain = await baresip_factory(PLAIN, tone_hz=1000.0, registrar=f"{pbx.host}:{pbx.port}",
                                  password=f"sip-{PLAIN}", codecs=("PCMA", "PCMU"))
    tls_port = pbx.engine.endpoint.port_of("tls")
    # *43*1002#: booked and confirmed (a tone, then the PBX hangs up)
    await secure.dial(f"sip:*43*1002%23@{pbx.host}:{tls_port};transport=tls")
    await secure.wait_event("CALL_ESTABLISHED", 10)
    await secure.wait_event("CALL_CLOSED", 10)
    # 1002 is free: the PBX rings the requester back, then calls 1002. baresip names its
    # recordings by the second a call starts: answer in a later second than the booking's
    # call started, or both calls write the same file
    await secure.wait_event("CALL_INCOMING", 15)
    await asyncio.sleep(1.1)
    await secure.accept()
    await secure.wait_event("CALL_ESTABLISHED", 15)
    await plain.wait_event("CALL_ESTABLISHED", 15)
    await asyncio.sleep(3.0)
    await secure.hangup()
    await secure.wait_event("CALL_CLOSED", 5)
    await plain.wait_event("CALL_CLOSED", 5)
    assert_tone(secure.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=2.0)
    assert_tone(plain.last_decoded_wav(), 440.0, tolerance_hz=5, min_seconds=2.0)
    rows = await pbx.store.fetchall("SELECT state FROM callbacks")
    assert [r["state"] for r in rows] == ["done"]


async def _calls(pbx: RunningPbx, count: int) -> list[Any] | None:
    rows = await pbx.store.fetchall("SELECT * FROM cdr WHERE leg = 0 AND disposition = "
                                    "'answered' ORDER BY started_at")
    rows = list({r["call_id"]: r for r in rows}.values())
    return rows if len(rows) >= count else None


async def test_a_publicable_phone_is_refused_without_tls_or_without_srtp(
        tls_pbx: RunningPbx, baresip_factory: Any, ca: CertAuthority, tmp_path: Path) -> None:
    pbx = tls_pbx
    over_udp = await _secure_phone(baresip_factory, pbx, ca, transport="udp",
                                   wait_registered=False)
    # (its first REGISTER goes out before the control connection: read its log)
    await wait_until(lambda: "403 TLS required (publicable phone)" in over_udp.log_tail(),
                     timeout=10, message="the phone's registration refused")
    assert await pbx.core.location.all() == []

    # its credentials over TLS, but a plain RTP offer: refused before anything rings
    files = ca.issue("ua", names=("ua.example.test",))
    ep = SipEndpoint(pbx.host, 0, transports=("udp", "tls"),
                     tls=TlsConfig(files.cert, files.key, ca.ca_file))
    await ep.start()
    try:
        ua = UserAgent(ep, Account(aor=f"sip:{SECURE}@webfon", username=SECURE,
                                   password=f"sip-{SECURE}", transport="tls"))
        target = f"sip:1002@{pbx.host}:{pbx.engine.endpoint.port_of('tls')};transport=tls"
        call = ua.invite(target, _plain_offer(pbx.host))
        answer = await call.wait_answer(10)
        assert (answer.status, answer.reason) == (488, "SRTP required (publicable phone)")
        udp = UserAgent(ep, Account(aor=f"sip:{SECURE}@webfon", username=SECURE,
                                    password=f"sip-{SECURE}"))
        answer = await udp.invite(f"sip:1002@{pbx.host}:{pbx.port}",
                                  _plain_offer(pbx.host)).wait_answer(10)
        assert (answer.status, answer.reason) == (403, "TLS required (publicable phone)")
    finally:
        await ep.close()


def _plain_offer(host: str) -> bytes:
    return (f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\n").encode()


async def test_a_trunk_over_tls_with_srtp_and_its_certificate_checked(
        tls_pbx: RunningPbx, baresip_factory: Any, ca: CertAuthority) -> None:
    pbx = tls_pbx
    files = ca.issue("trunk", names=("trunk.example.test",))
    bundle = files.cert.parent / "bundle.pem"
    bundle.write_bytes(files.cert.read_bytes() + files.key.read_bytes())
    number = "0611223344"  # out through the trunk without the outside prefix
    trunk = await baresip_factory(number[1:], tone_hz=700.0, codecs=("PCMA",), extra_config={
        "sip_certificate": str(bundle), "sip_cafile": str(ca.ca_file), "module": "srtp.so"},
        extra_account_params=";mediaenc=srtp-mand")
    plain = await baresip_factory(PLAIN, tone_hz=1000.0, registrar=f"{pbx.host}:{pbx.port}",
                                  password=f"sip-{PLAIN}", codecs=("PCMA", "PCMU"))
    # baresip listens for TLS on its SIP port + 1
    trunk_id = await pbx.store.insert(
        "INSERT INTO trunks (name, host, port, transport, priority, srtp, tls_server_name) "
        "VALUES ('Trunk_tls', ?, ?, 'tls', 1, 1, 'someone-else.example.test')",
        (trunk.ip, trunk.sip_port + 1))
    pbx.core.directory.invalidate()
    # a certificate that does not bear the configured name: no call goes out
    await plain.dial(f"sip:{number}@{pbx.host}:{pbx.port}")
    closed = await plain.wait_event("CALL_CLOSED", 15)
    assert "503" in str(closed.get("param")), closed
    assert not [e for e in trunk.events if e.get("type") == "CALL_INCOMING"]

    await pbx.store.execute("UPDATE trunks SET tls_server_name = 'trunk.example.test' "
                            "WHERE id = ?", (trunk_id,))
    pbx.core.directory.invalidate()
    await _call(plain, trunk, f"sip:{number}@{pbx.host}:{pbx.port}")
    assert_tone(plain.last_decoded_wav(), 700.0, tolerance_hz=5, min_seconds=2.0)
    assert_tone(trunk.last_decoded_wav(), 1000.0, tolerance_hz=5, min_seconds=2.0)
    query = "SELECT * FROM cdr WHERE leg = 0 AND trunk = 'Trunk_tls' AND disposition = 'answered'"
    await wait_until(lambda: pbx.store.fetchone(query), timeout=10, message="the call's CDR")
    row = await pbx.store.fetchone(query)
    assert row is not None
    callee = next(leg for leg in json.loads(row["quality"]) if leg["leg"] == "callee")
    assert (callee["network"], callee["srtp"]) == ("tls", True)
