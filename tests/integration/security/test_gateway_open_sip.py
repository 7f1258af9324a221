"""The gateway is not an open SIP client: a logged-in user reaches only the allowed SIP servers
and only their own calls, within their share of accounts and media.

Each test runs the gateway as its own process (settings from the environment, as a node has
them), browsers on ``janus-client`` + aiortc, and sipp processes as the PBX, the attacker's
registrar and the "internal hosts"; what sipp received is read from its message trace.

* A user registering at a registrar of their own (as ``proxy``, as the identity's host, by a
  name that resolves to the same loopback address, as ``outbound_proxy``, or smuggled in a
  Route header) is refused with plugin error 403/444 and not one message reaches it; the PBX's
  registrar still registers.
* A call, message or transfer to an internal host (another port, a name for it, a ``maddr``
  pointing elsewhere, a Route header) is refused and no INVITE/MESSAGE/REFER leaves; a call to
  the PBX is answered with audio both ways. An INVITE from a stranger whose Contact (where our
  BYE would go) is not the PBX gets 403.
* Outside a call, only the account's SIP servers reach it: a stranger at another address posing
  as the PBX (its Contact and From name the PBX) gets 403 to an INVITE and a MESSAGE, and the
  browser neither rings nor shows the message.
* A second user naming the first user's call (``call_id``), transfer (``refer_id``: follow or
  decline it) or dialog (``transfer.replace``) is refused; the first user's call stays up and
  their transfer is still theirs to decline.
* Per user, SIP accounts and calls with media are limited (error 429); another user registers
  and calls as usual, and a hung-up call makes room again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from janus_client import JanusSession

from tests.integration.gateway.conftest import SipClient
from tests.support import procs
from tests.support.net import free_port
from tests.support.sipp import Sipp
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key

TRANSFEROR = Path(__file__).parents[1] / "conformance" / "sipp" / "uas_transferor.xml"
SPOOFED_PBX = Path(__file__).parents[2] / "sipp" / "uac_spoofed_pbx.xml"


@dataclass
class Node:
    gateway: procs.Component
    issuer: TokenIssuer
    sip_port: int
    sessions: list[JanusSession] = field(default_factory=list)
    clients: list[SipClient] = field(default_factory=list)

    async def browser(self, user: int, tone_hz: float = 440.0) -> SipClient:
        """A browser of ``user`` (a token with role ``user``) attached to the SIP plugin."""
        token = self.issuer.issue(user, audience=["gateway"], roles=["user"], ttl=600)[0]
        session = JanusSession(base_url=f"ws://127.0.0.1:{self.gateway.port}/janus",
                               token=token)
        self.sessions.append(session)
        client = SipClient(tone_hz)
        await client.attach(session)
        self.clients.append(client)
        return client

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as http, \
                http.get(f"{self.gateway.url}/metrics") as resp:
            return await resp.text()

    async def close(self) -> None:
        """End the browsers' sessions (their accounts unregister: call it while the
        registrar still runs)."""
        clients, self.clients = self.clients, []
        sessions, self.sessions = self.sessions, []
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for session in sessions:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.destroy(), 10)


@pytest.fixture
async def node_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    """``await node_factory(SIP_REGISTRAR=..., ...)``: a gateway process with those
    ``WEBFON_GATEWAY_*`` settings (the rest as a node's defaults)."""
    nodes: list[Node] = []

    async def make(**settings: str) -> Node:
        data = tmp_path / f"data{len(nodes)}"
        private, _ = ensure_keypair(data)
        sip_port = free_port()
        env = procs.base_env(data, WEBFON_GATEWAY_MEDIA_WORKERS="0",
                             WEBFON_GATEWAY_SIP_PORT=str(sip_port),
                             WEBFON_GATEWAY_PBX_CONTROL_URL="http://127.0.0.1:9",
                             **{f"WEBFON_GATEWAY_{k}": v for k, v in settings.items()})
        gateway = await procs.start("gateway", "gateway", free_port("tcp"), env,
                                    tmp_path / "logs")
        node = Node(gateway, TokenIssuer(load_private_key(private)), sip_port)
        nodes.append(node)
        return node

    try:
        yield make
    finally:
        for node in nodes:
            await node.close()
            await procs.stop(node.gateway)


async def refused(client: SipClient, body: dict[str, Any],
                  jsep: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send a plugin request that must fail; its error event."""
    await client.request(body, jsep)
    return await client.wait_error()


def sipp_registrar(sipp_factory: Callable[..., Sipp]) -> Sipp:
    """sipp as the PBX's registrar: accepts REGISTERs (a refresh or an unregistration too:
    a Call-ID seen before is not held back as a dead call's)."""
    return sipp_factory("uas_register", calls=50, timeout=60,
                        extra_args=["-deadcall_wait", "1"])


async def register(client: SipClient, registrar: Sipp, user: str) -> None:
    await client.request({"request": "register", "username": f"sip:{user}@127.0.0.1",
                          "secret": "pw", "proxy": f"sip:{registrar.sip_address}"})
    await client.wait_event("registered")


def received(sipp: Sipp, method: str) -> bool:
    """Did sipp receive a ``method`` request? (its message trace, after it stopped)"""
    assert sipp.result is not None, "stop sipp first"
    for block in sipp.result.text("messages.log").split("message received")[1:]:
        lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
        if lines and lines[0].startswith(f"{method} "):
            return True
    return False


async def test_register_at_an_attackers_registrar_is_refused(node_factory, sipp_factory
                                                             ) -> None:
    pbx = sipp_registrar(sipp_factory)
    attacker: Sipp = sipp_factory("uas_register", calls=10, timeout=60)
    await pbx.start()
    await attacker.start()
    # the default: the PBX (sip_registrar) is the only SIP server users may reach
    node = await node_factory(SIP_REGISTRAR=f"sip:{pbx.sip_address}")
    mallory = await node.browser(1001)
    evil = f"sip:{attacker.sip_address}"
    attempts: list[tuple[dict[str, Any], int]] = [
        ({"proxy": evil}, 403),                                   # a registrar of one's own
        ({"username": f"sip:mallory@{attacker.sip_address}"}, 403),  # REGISTER to that host
        ({"proxy": f"sip:localhost:{attacker.local_port}"}, 403),  # a name for a loopback port
        ({"proxy": f"sip:{pbx.sip_address}", "outbound_proxy": evil}, 403),
        ({"proxy": f"sip:{pbx.sip_address};maddr=127.0.0.2"}, 403),  # sent elsewhere
        ({"proxy": f"sip:{pbx.sip_address}",                      # a pre-loaded Route
          "headers": {"Route": f"<{evil};lr>"}}, 444),
    ]
    for extra, code in attempts:
        body = {"request": "register", "username": "sip:mallory@127.0.0.1", "secret": "pw",
                **extra}
        error = await refused(mallory, body)
        assert error["error_code"] == code, (extra, error)
        assert "not allowed" in error["error"] or "set by the gateway" in error["error"]
    # the PBX's registrar is still there for everyone
    await register(mallory, pbx, "mallory")
    await mallory.request({"request": "unregister"})
    await mallory.wait_event("unregistered")
    await attacker.stop()
    await pbx.stop()
    assert received(pbx, "REGISTER")
    assert not received(attacker, "REGISTER"), attacker.result.text("messages.log")
    assert "webfon_gateway_sip_refused_destinations_total 5" in await node.metrics()


async def test_call_to_an_internal_host_is_refused(node_factory, sipp_factory) -> None:
    pbx_registrar = sipp_registrar(sipp_factory)
    pbx: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    internal: Sipp = sipp_factory("uas_echo", timeout=60)
    # the same port as the PBX's on another address: what a maddr would reach
    elsewhere: Sipp = sipp_factory("uas_echo", local_ip="127.0.0.2",
                                   local_port=pbx.local_port, timeout=60)
    for sipp in (pbx_registrar, pbx, internal, elsewhere):
        await sipp.start()
    node = await node_factory(
        SIP_REGISTRAR=f"sip:{pbx_registrar.sip_address}",
        SIP_ALLOWED_SERVERS=f"{pbx_registrar.sip_address},{pbx.sip_address}")
    alice = await node.browser(1001, tone_hz=600.0)
    await register(alice, pbx_registrar, "alice")
    offer = await alice.make_offer()
    probes: list[tuple[dict[str, Any], int]] = [
        ({"uri": f"sip:x@{internal.sip_address}"}, 403),
        ({"uri": f"sip:x@localhost:{internal.local_port}"}, 403),
        ({"uri": f"sip:x@{pbx.sip_address};maddr=127.0.0.2"}, 403),
        ({"uri": f"sip:x@{pbx.sip_address}",
          "headers": {"Route": f"<sip:{internal.sip_address};lr>"}}, 444),
    ]
    for extra, code in probes:
        error = await refused(alice, {"request": "call", **extra}, offer)
        assert error["error_code"] == code, (extra, error)
    error = await refused(alice, {"request": "message", "content": "hi",
                                  "uri": f"sip:x@{internal.sip_address}"})
    assert error["error_code"] == 403 and "Message destination not allowed" in error["error"]
    # the PBX is called as usual, with audio both ways (sipp echoes the browser's tone)
    await alice.request({"request": "call", "uri": f"sip:echo@{pbx.sip_address}"}, offer)
    _, answer = await alice.wait_event("accepted")
    await alice.take_answer(answer)
    recorder = await alice.wait_recorder()
    assert abs(await recorder.wait_tone(600.0, timeout=15) - 600.0) < 15
    # ... and its calls are not transferred to an internal host either
    error = await refused(alice, {"request": "transfer",
                                  "uri": f"sip:x@{internal.sip_address}"})
    assert error["error_code"] == 403 and "Transfer target not allowed" in error["error"]
    await alice.request({"request": "hangup"})
    await alice.wait_event("hangup")
    # an INVITE from elsewhere (its Contact: where our BYE would go) is not taken
    stranger: Sipp = sipp_factory("uac", f"127.0.0.1:{node.sip_port}", service="alice",
                                  timeout=20)
    result = await stranger.run()
    assert result.failed_calls == 1 and "SIP/2.0 403" in result.text("messages.log"), \
        result.describe()
    with pytest.raises(AssertionError, match="no incomingcall event"):
        await alice.wait_event("incomingcall", timeout=0.5)
    await node.close()
    for sipp in (pbx_registrar, pbx, internal, elsewhere):
        await sipp.stop()
    assert received(pbx, "INVITE") and not received(pbx, "REFER")
    for host in (internal, elsewhere):
        assert not any(received(host, m) for m in ("INVITE", "MESSAGE", "OPTIONS")), \
            host.result.text("messages.log")


async def test_a_stranger_posing_as_the_pbx_cannot_ring_or_write_to_a_browser(
        node_factory, sipp_factory) -> None:
    pbx = sipp_registrar(sipp_factory)
    await pbx.start()
    node = await node_factory(SIP_REGISTRAR=f"sip:{pbx.sip_address}")
    alice = await node.browser(1001)
    await register(alice, pbx, "alice")
    stranger: Sipp = sipp_factory(str(SPOOFED_PBX), f"127.0.0.1:{node.sip_port}",
                                  local_ip="127.0.0.2", service="alice", timeout=20,
                                  variables={"pbx": pbx.sip_address})
    result = await stranger.run()
    assert result.ok and result.successful_calls == 1, result.describe()
    with pytest.raises(AssertionError, match="no incomingcall event"):
        await alice.wait_event("incomingcall", timeout=0.5)
    with pytest.raises(AssertionError, match="no message event"):
        await alice.wait_event("message", timeout=0.5)
    assert "webfon_gateway_sip_refused_sources_total 2" in await node.metrics()
    await node.close()
    await pbx.stop()


async def test_another_users_call_ids_cannot_be_named(node_factory, sipp_factory) -> None:
    pbx_registrar = sipp_registrar(sipp_factory)
    target: Sipp = sipp_factory("uas_echo", rtp_echo=True, calls=3, timeout=60)
    transferor: Sipp = sipp_factory(str(TRANSFEROR), timeout=60, extra_args=["-aa"],
                                    variables={"refer_to": f"sip:carol@{target.sip_address}"})
    for sipp in (pbx_registrar, target, transferor):
        await sipp.start()
    node = await node_factory(
        SIP_REGISTRAR=f"sip:{pbx_registrar.sip_address}",
        SIP_ALLOWED_SERVERS=f"{pbx_registrar.sip_address},{target.sip_address},"
                            f"{transferor.sip_address}")
    alice = await node.browser(1001, tone_hz=600.0)
    bob = await node.browser(1002, tone_hz=700.0)
    await register(alice, pbx_registrar, "alice")
    await register(bob, pbx_registrar, "bob")
    # Alice's call: the called party transfers her (a REFER she has not followed yet)
    await alice.request({"request": "call", "uri": f"sip:t@{transferor.sip_address}"},
                        await alice.make_offer())
    calling, _ = await alice.wait_event("calling")
    alice_call = calling["result"]["call_id"]
    _, answer = await alice.wait_event("accepted")
    await alice.take_answer(answer)
    transfer, _ = await alice.wait_event("transfer")
    refer_id = transfer["result"]["refer_id"]

    # Bob names Alice's Call-ID for a call of his own
    bob_offer = await bob.make_offer()
    error = await refused(bob, {"request": "call", "uri": f"sip:echo@{target.sip_address}",
                                "call_id": alice_call}, bob_offer)
    assert error["error_code"] == 444 and "call_id already in use" in error["error"]
    # Bob declines Alice's transfer (a NOTIFY 603 would end her call)
    error = await refused(bob, {"request": "decline", "refer_id": refer_id})
    assert error["error_code"] == 447
    # Bob follows Alice's transfer: his call goes out as his own (no NOTIFY into her dialog)
    await bob.request({"request": "call", "uri": f"sip:echo@{target.sip_address}",
                       "refer_id": refer_id}, bob_offer)
    _, answer = await bob.wait_event("accepted")
    await bob.take_answer(answer)
    # Bob bridges his call into Alice's dialog (REFER with Replaces of her call)
    error = await refused(bob, {"request": "transfer", "uri": f"sip:c@{target.sip_address}",
                                "replace": alice_call})
    assert error["error_code"] == 454 and error["error"] == f"No such call-ID {alice_call}"
    recorder = await bob.wait_recorder()
    assert abs(await recorder.wait_tone(700.0, timeout=15) - 700.0) < 15
    await bob.request({"request": "hangup"})
    await bob.wait_event("hangup")

    # Alice's call is intact, and her transfer still hers to decline
    with pytest.raises(AssertionError, match="no hangup event"):
        await alice.wait_event("hangup", timeout=1.0)
    alice_audio = await alice.wait_recorder()
    assert alice_audio is not None
    await alice.request({"request": "decline", "refer_id": refer_id})
    declining, _ = await alice.wait_event("declining")
    assert declining["result"]["code"] == 603
    hangup, _ = await alice.wait_event("hangup")  # the transferor ends the call, told
    assert hangup["result"]["reason"] == "Session Terminated"
    await node.close()
    for sipp in (pbx_registrar, target, transferor):
        await sipp.stop()
    assert not received(target, "REFER")
    trace = target.result.text("messages.log")
    assert "Replaces" not in trace and "Referred-By" not in trace
    assert transferor.result.successful_calls == 1, transferor.result.describe()


async def test_sip_accounts_and_media_legs_per_user(node_factory, sipp_factory) -> None:
    pbx_registrar = sipp_registrar(sipp_factory)
    pbx: Sipp = sipp_factory("uas_echo", rtp_echo=True, calls=10, timeout=60)
    await pbx_registrar.start()
    await pbx.start()
    node = await node_factory(
        SIP_REGISTRAR=f"sip:{pbx_registrar.sip_address}",
        SIP_ALLOWED_SERVERS=f"{pbx_registrar.sip_address},{pbx.sip_address}",
        MAX_SIP_ACCOUNTS_PER_USER="2", MAX_MEDIA_LEGS_PER_USER="1")
    greedy = [await node.browser(1001) for _ in range(3)]
    await register(greedy[0], pbx_registrar, "g0")
    await register(greedy[1], pbx_registrar, "g1")
    error = await refused(greedy[2], {
        "request": "register", "username": "sip:g2@127.0.0.1", "secret": "pw",
        "proxy": f"sip:{pbx_registrar.sip_address}"})
    assert error["error_code"] == 429 and "Too many SIP accounts" in error["error"]
    # one call with media; the second is refused before any port or INVITE
    await greedy[0].request({"request": "call", "uri": f"sip:echo@{pbx.sip_address}"},
                            await greedy[0].make_offer())
    _, answer = await greedy[0].wait_event("accepted")
    await greedy[0].take_answer(answer)
    second = await greedy[1].make_offer()
    error = await refused(greedy[1], {"request": "call", "uri": f"sip:echo@{pbx.sip_address}"},
                          second)
    assert error["error_code"] == 429 and "Too many calls with media" in error["error"]
    # someone else registers and calls with audio meanwhile
    polite = await node.browser(1002, tone_hz=650.0)
    await register(polite, pbx_registrar, "polite")
    await polite.request({"request": "call", "uri": f"sip:echo@{pbx.sip_address}"},
                         await polite.make_offer())
    _, answer = await polite.wait_event("accepted")
    await polite.take_answer(answer)
    recorder = await polite.wait_recorder()
    assert abs(await recorder.wait_tone(650.0, timeout=15) - 650.0) < 15
    # nothing is lost: a call hung up and an account unregistered make room again
    await greedy[0].request({"request": "hangup"})
    await greedy[0].wait_event("hangup")
    await greedy[1].request({"request": "call", "uri": f"sip:echo@{pbx.sip_address}"}, second)
    await greedy[1].wait_event("accepted")
    await greedy[0].request({"request": "unregister"})
    await greedy[0].wait_event("unregistered")
    await register(greedy[2], pbx_registrar, "g2")
    assert "webfon_gateway_sip_limit_refusals_total 2" in await node.metrics()
    await node.close()
