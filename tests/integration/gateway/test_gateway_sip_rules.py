"""The gateway's SIP behaviour is webfon's user agent's, seen from a browser client.

Registration: two challenges in a row (an outbound proxy's, then the registrar's), 423 Interval
Too Brief, the expiry the registrar granted to *our* Contact, a failed refresh reported to the
client, the outbound proxy as a pre-loaded Route. Calls: a second fork's 2xx ACKed and ended
with BYE, and an in-dialog request the user agent does not handle answered 405 with Allow.
Requests outside a call reach an account only from its SIP servers: a stranger's INVITE and
MESSAGE get 403 and never reach the browser.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.transports.websocket import GATEWAY_KEY
from tests.unit.sip.peer import UdpPeer
from webfon.sip import (
    DigestServer,
    Request,
    ServerTransaction,
    SessionDescription,
    SipEndpoint,
    compute_ha1,
    make_answer,
)
from webfon.sip.ua import ALLOW


class Registrar:
    """Outbound proxy and registrar in one: challenges as proxy (407, realm proxy.test), then
    as registrar (401, realm pbx.test), wants at least 300 s, lists another binding before
    ours, grants ours ``granted`` seconds and refuses refreshes with ``refresh_status``."""

    def __init__(self, granted: int = 2, refresh_status: int = 503) -> None:
        self.endpoint = SipEndpoint("127.0.0.1", 0, handler=self.handle)
        self.proxy = DigestServer("proxy.test", b"p" * 32, algorithms=("MD5",))
        self.registrar = DigestServer("pbx.test", b"r" * 32, algorithms=("MD5",))
        self.granted = granted
        self.refresh_status = refresh_status
        self.requests: list[Request] = []
        self.accepted = 0
        self.refreshed = asyncio.Event()

    async def handle(self, request: Request, tx: ServerTransaction | None) -> None:
        if tx is None:
            return
        self.requests.append(request)

        def ha1(realm: str) -> Any:
            return lambda user, alg: compute_ha1(user, realm, "secret") if user == "alice" \
                else None

        if not (await self.proxy.authenticate(request, ha1("proxy.test"), proxy=True)).ok:
            tx.respond(self.proxy.challenge(request, proxy=True, to_tag=tx.local_tag))
            return
        if not (await self.registrar.authenticate(request, ha1("pbx.test"))).ok:
            tx.respond(self.registrar.challenge(request, to_tag=tx.local_tag))
            return
        if 0 < (request.expires or 0) < 300:
            tx.respond(423, headers=[("Min-Expires", "300")])
            return
        if self.accepted:
            self.refreshed.set()
            tx.respond(self.refresh_status)
            return
        self.accepted += 1
        tx.respond(200, headers=[("Contact", "<sip:alice@192.0.2.50>;expires=3600"),
                                 ("Contact", f"{request.contact};expires={self.granted}")])


async def test_registration_rules_through_the_gateway(gateway_factory, sip_clients) -> None:
    # the registrar is named by its domain, reached through the outbound proxy
    gw = await gateway_factory(sip_allowed_servers=("127.0.0.1:*", "pbx.test"))
    registrar = Registrar()
    await registrar.endpoint.start()
    try:
        host, port = registrar.endpoint.address("udp")
        client = await sip_clients(gw=gw)
        await client.request({"request": "register", "username": "sip:alice@pbx.test",
                              "secret": "secret", "register_ttl": 60,
                              "proxy": "sip:pbx.test",
                              "outbound_proxy": f"sip:{host}:{port}"})
        await client.wait_event("registered", timeout=10)
        first = registrar.requests[0]
        # the outbound proxy is a pre-loaded Route; the registrar stays the Request-URI
        assert str(first.uri) == "sip:pbx.test"
        assert first.headers.get("Route") == f"<sip:{host}:{port};lr>"
        # 407, 401, 423, and the REGISTER accepted carries both credentials and 300 s
        statuses = [r.expires for r in registrar.requests]
        accepted = [r for r in registrar.requests if r.expires == 300 and
                    r.headers.get("Proxy-Authorization") and r.headers.get("Authorization")]
        assert accepted and 60 in statuses, statuses
        # our Contact was granted 2 s (the other binding's 3600 s is not ours): the refresh
        # comes at once, fails, and the client hears of it
        await asyncio.wait_for(registrar.refreshed.wait(), 5)
        failed, _ = await client.wait_event("registration_failed", timeout=10)
        assert failed["result"]["code"] == 503
    finally:
        await registrar.endpoint.close()


async def test_a_second_fork_is_ended_and_unknown_requests_get_405(gateway_server,
                                                                   sip_clients) -> None:
    client = await sip_clients()
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    await client.wait_event("registered")
    peer = await UdpPeer.open()
    try:
        await client.request({"request": "call", "uri": f"sip:bob@127.0.0.1:{peer.port}"},
                             await client.make_offer())
        invite = await peer.recv()
        assert isinstance(invite, Request) and invite.method == "INVITE"
        gw_port = invite.via.port or 5060
        answer = str(make_answer(SessionDescription.parse(invite.body), "127.0.0.1",
                                 peer.port + 2, codecs=("PCMU",))[0])
        for tag in ("fork-1", "fork-2"):
            ok = invite.create_response(200, to_tag=tag)
            ok.headers.add("Contact", f"<sip:{tag}@127.0.0.1:{peer.port}>")
            ok.set_body(answer, "application/sdp")
            peer.send(ok.encode(), gw_port)
        seen: list[tuple[str, str | None]] = []
        async with asyncio.timeout(5):
            while len(seen) < 3:
                msg = await peer.recv()
                if isinstance(msg, Request):
                    seen.append((msg.method, msg.to_tag))
                    if msg.method == "BYE":
                        peer.send(msg.create_response(200).encode(), gw_port)
        assert sorted(seen) == [("ACK", "fork-1"), ("ACK", "fork-2"), ("BYE", "fork-2")]
        _, jsep = await client.wait_event("accepted")
        await client.take_answer(jsep)
        # the first fork's dialog goes on: a request the UA does not handle gets 405
        subscribe = ("SUBSCRIBE sip:alice@127.0.0.1 SIP/2.0\r\n"
                     f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKsub1\r\n"
                     f"From: <sip:bob@127.0.0.1:{peer.port}>;tag=fork-1\r\n"
                     f"To: {invite.headers.get('From')}\r\n"
                     f"Call-ID: {invite.call_id}\r\nCSeq: 1 SUBSCRIBE\r\nEvent: dialog\r\n"
                     f"Contact: <sip:fork-1@127.0.0.1:{peer.port}>\r\n"
                     "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        peer.send(subscribe, gw_port)
        async with asyncio.timeout(5):
            while True:
                reply = await peer.recv()
                if not isinstance(reply, Request) and reply.cseq.method == "SUBSCRIBE":
                    break
        assert reply.status == 405 and reply.headers.get("Allow") == ALLOW
        await client.request({"request": "hangup"})
        async with asyncio.timeout(5):
            while True:
                bye = await peer.recv()
                if isinstance(bye, Request) and bye.method == "BYE":
                    break
        assert bye.to_tag == "fork-1"  # the dialog of the first fork
        peer.send(bye.create_response(200).encode(), gw_port)
        await client.wait_event("hangup")
    finally:
        peer.close()


async def test_requests_for_unknown_users_get_404(gateway_server, sip_clients) -> None:
    """One account registered: an INVITE for anyone else is not its call."""
    client = await sip_clients()
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    await client.wait_event("registered")
    sip = gateway_server.app[GATEWAY_KEY].registry.get("janus.plugin.sip")
    peer = await UdpPeer.open()
    try:
        port = sip.endpoint.port
        peer.send(("INVITE sip:mallory@127.0.0.1 SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKscan1\r\n"
                   f"From: <sip:scanner@127.0.0.1:{peer.port}>;tag=s1\r\n"
                   "To: <sip:mallory@127.0.0.1>\r\nCall-ID: scan-1\r\nCSeq: 1 INVITE\r\n"
                   f"Contact: <sip:scanner@127.0.0.1:{peer.port}>\r\n"
                   "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"), port)
        async with asyncio.timeout(5):
            while True:
                reply = await peer.recv()
                if not isinstance(reply, Request) and reply.status >= 200:
                    break
        assert reply.status == 404
        assert not [e for e, _ in client.backlog if e.get("result", {}).get("event")
                    == "incomingcall"]
    finally:
        peer.close()


def _out_of_dialog(method: str, peer: UdpPeer, host: str, user: str, n: int,
                   body: str = "", contact: str = "") -> str:
    return (f"{method} sip:{user}@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{peer.port};branch=z9hG4bKood{n}\r\n"
            f"From: \"Director\" <sip:1000@{host}:{peer.port}>;tag=o{n}\r\n"
            f"To: <sip:{user}@127.0.0.1>\r\nCall-ID: ood-{n}@{host}\r\nCSeq: 1 {method}\r\n"
            f"Contact: <{contact or f'sip:1000@{host}:{peer.port}'}>\r\nMax-Forwards: 70\r\n"
            + ("Content-Type: text/plain\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n{body}")


async def _final(peer: UdpPeer, method: str) -> int:
    async with asyncio.timeout(5):
        while True:
            reply = await peer.recv()
            if not isinstance(reply, Request) and reply.cseq.method == method \
                    and reply.status >= 200:
                return reply.status


async def test_only_the_accounts_sip_servers_reach_it_outside_a_call(gateway_server,
                                                                     sip_clients) -> None:
    """The gateway's SIP servers are 127.0.0.1 (any port) here; 127.0.0.2 is a stranger who
    found the gateway's SIP port: it may not ring the browser with a caller of its choosing
    nor write to it."""
    client = await sip_clients()
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    await client.wait_event("registered")
    sip = gateway_server.app[GATEWAY_KEY].registry.get("janus.plugin.sip")
    port = sip.endpoint.port
    stranger = await UdpPeer.open("127.0.0.2")
    server = await UdpPeer.open()
    try:
        # posing as the server: its Contact (where our ACK and BYE would go) is the server's
        stranger.send(_out_of_dialog("INVITE", stranger, "127.0.0.2", "alice", 1,
                                     contact=f"sip:1000@127.0.0.1:{server.port}"), port)
        assert await _final(stranger, "INVITE") == 403
        stranger.send(_out_of_dialog("MESSAGE", stranger, "127.0.0.2", "alice", 2, "pay now"),
                      port)
        assert await _final(stranger, "MESSAGE") == 403
        # the same MESSAGE from the account's server is delivered
        server.send(_out_of_dialog("MESSAGE", server, "127.0.0.1", "alice", 3, "hello"), port)
        assert await _final(server, "MESSAGE") == 200
        message, _ = await client.wait_event("message")  # the first: the stranger's was not
        assert message["result"]["content"] == "hello"
        assert not [e for e, _ in client.backlog
                    if e.get("result", {}).get("event") in ("incomingcall", "message")]
        assert sip.metrics()["sip_refused_sources_total"] == 2
    finally:
        stranger.close()
        server.close()
