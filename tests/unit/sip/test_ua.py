"""User agent: registration with digest auth and refresh, calls, in-dialog requests."""

from __future__ import annotations

import asyncio
import gc
import weakref

from tests.unit.sip.peer import UdpPeer
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

REALM = "pbx.test"


class Registrar:
    """A tiny registrar with digest auth, enough to drive the UA."""

    def __init__(self, ep: SipEndpoint, users: dict[str, str], min_expires: int = 0) -> None:
        self.ep = ep
        self.auth = DigestServer(REALM, b"k" * 32)
        self.ha1 = {u: {a: compute_ha1(u, REALM, p, a) for a in ("MD5", "SHA-256")}
                    for u, p in users.items()}
        self.bindings: dict[str, str] = {}
        self.registers: list[Request] = []
        self.min_expires = min_expires
        ep.handler = self.handle

    async def handle(self, request: Request, tx: ServerTransaction | None) -> None:
        assert tx is not None
        if request.method != "REGISTER":
            tx.respond(405)
            return
        self.registers.append(request)
        result = await self.auth.authenticate(
            request, lambda user, alg: self.ha1.get(user, {}).get(alg))
        if not result.ok:
            if result.status == "failed":
                tx.respond(403)
            else:
                tx.respond(self.auth.challenge(request, stale=result.status == "stale",
                                               to_tag=tx.local_tag))
            return
        expires = request.expires or 0
        if 0 < expires < self.min_expires:
            tx.respond(423, headers=[("Min-Expires", str(self.min_expires))])
            return
        contact = request.contact
        assert contact is not None
        if expires == 0:
            self.bindings.pop(result.username or "", None)
        else:
            self.bindings[result.username or ""] = str(contact.uri)
        tx.respond(200, headers=[("Contact", f"{contact};expires={expires}")])


async def test_register_with_auth_and_refresh(make_endpoint) -> None:
    server = await make_endpoint()
    client = await make_endpoint()
    registrar = Registrar(server, {"alice": "secret"})
    events: list[str] = []
    ua = UserAgent(client, Account(aor="sip:alice@pbx.test", password="secret",
                                   registrar=f"sip:127.0.0.1:{server.port}", expires=1),
                   on_event=lambda name, data: events.append(name), refresh_margin=0.2)
    response = await ua.register()
    assert response.status == 200
    assert ua.registered and ua.registration_expires == 1
    assert "alice" in registrar.bindings
    assert registrar.bindings["alice"].endswith(f":{client.port}")
    first = len(registrar.registers)
    assert first == 2  # challenge + authorized
    # the refresh happens by itself after 0.2 s
    for _ in range(200):
        if events.count("registered") >= 2:
            break
        await asyncio.sleep(0.02)
    assert len(registrar.registers) > first
    assert events.count("registered") >= 2
    cseqs = [r.cseq.seq for r in registrar.registers]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == len(cseqs)
    response = await ua.unregister()
    assert response.status == 200
    assert "alice" not in registrar.bindings
    assert "unregistered" in events
    await ua.close()


async def test_register_with_ha1_and_wrong_password(make_endpoint) -> None:
    server = await make_endpoint()
    client = await make_endpoint()
    Registrar(server, {"bob": "pw"})
    good = UserAgent(client, Account(aor="sip:bob@pbx.test",
                                     ha1_md5=compute_ha1("bob", REALM, "pw", "MD5"),
                                     registrar=f"sip:127.0.0.1:{server.port}",
                                     contact_user="bob1"))
    assert (await good.register(refresh=False)).status == 200
    bad = UserAgent(client, Account(aor="sip:bob@pbx.test", password="wrong",
                                    registrar=f"sip:127.0.0.1:{server.port}",
                                    contact_user="bob2"))
    response = await bad.register(refresh=False)
    assert response.status == 403
    assert not bad.registered


async def test_register_interval_too_brief(make_endpoint) -> None:
    server = await make_endpoint()
    client = await make_endpoint()
    Registrar(server, {"carol": "pw"}, min_expires=120)
    ua = UserAgent(client, Account(aor="sip:carol@pbx.test", password="pw",
                                   registrar=f"sip:127.0.0.1:{server.port}", expires=30))
    response = await ua.register(refresh=False)
    assert response.status == 200
    assert ua.registration_expires == 120


async def _two_agents(make_endpoint, **kw):
    ep_a = await make_endpoint(**kw)
    ep_b = await make_endpoint(**kw)
    alice = UserAgent(ep_a, Account(aor=f"sip:alice@127.0.0.1:{ep_a.port}"))
    bob = UserAgent(ep_b, Account(aor=f"sip:bob@127.0.0.1:{ep_b.port}"))
    return ep_a, ep_b, alice, bob


async def test_call_answer_hold_info_refer_bye(make_endpoint) -> None:
    _ep_a, ep_b, alice, bob = await _two_agents(make_endpoint)
    offer = make_offer("127.0.0.1", 4000)
    call = alice.invite(f"sip:bob@127.0.0.1:{ep_b.port}", offer)
    incoming = await asyncio.wait_for(bob.incoming.get(), 5)
    assert incoming.remote_sdp is not None
    incoming.ringing()
    assert (await call.wait_event("ringing"))["code"] == 180
    answer, codec = make_answer(SessionDescription.parse(incoming.remote_sdp), "127.0.0.1", 5000)
    assert codec is not None and codec.name == "PCMA"
    incoming.accept(answer)
    response = await call.wait_answer(5)
    assert response.status == 200
    accepted = await call.wait_event("accepted")
    assert SessionDescription.parse(accepted["sdp"]).audio.port == 5000
    assert call.state == "confirmed" and call.dialog is not None
    # ACK reached bob: the 2xx retransmissions stop
    assert incoming.server_tx is not None
    assert await asyncio.wait_for(incoming.server_tx.ack, 5) is not None

    # hold: bob answers automatically with recvonly
    response = await call.hold()
    assert response.status == 200
    upd = await incoming.wait_event("updating")
    held = SessionDescription.parse(upd["sdp"])
    assert held.direction_of(held.audio) == "sendonly"
    answered = SessionDescription.parse(call.remote_sdp)
    assert answered.direction_of(answered.audio) == "recvonly"
    response = await call.unhold()
    assert response.status == 200
    answered = SessionDescription.parse(call.remote_sdp)
    assert answered.direction_of(answered.audio) == "sendrecv"

    # INFO dtmf from bob to alice
    response = await incoming.send_dtmf_info("5")
    assert response.status == 200
    info = await call.wait_event("info")
    assert info["content_type"] == "application/dtmf-relay"
    assert b"Signal=5" in info["body"]

    # blind transfer: alice refers bob to carol, bob reports progress by NOTIFY
    response = await call.refer("sip:carol@127.0.0.1:5999")
    assert response.status == 202
    refer = await incoming.wait_event("refer")
    assert refer["refer_to"] == "sip:carol@127.0.0.1:5999"
    response = await incoming.notify_refer(200)
    assert response.status == 200
    notify = await call.wait_event("notify")
    assert notify["event"] == "refer" and notify["body"].startswith(b"SIP/2.0 200")

    # bob hangs up
    response = await incoming.bye()
    assert response is not None and response.status == 200
    hangup = await call.wait_event("hangup")
    assert hangup["by"] == "remote"
    assert call.state == incoming.state == "terminated"
    assert not alice.hub.calls and not bob.hub.calls


async def test_attended_transfer_carries_replaces(make_endpoint) -> None:
    _ep_a, ep_b, alice, bob = await _two_agents(make_endpoint)
    first = alice.invite(f"sip:bob@127.0.0.1:{ep_b.port}", make_offer("127.0.0.1", 4000))
    in1 = await asyncio.wait_for(bob.incoming.get(), 5)
    in1.accept(make_offer("127.0.0.1", 5000))
    await first.wait_answer(5)
    second = alice.invite(f"sip:bob@127.0.0.1:{ep_b.port}", make_offer("127.0.0.1", 4002))
    in2 = await asyncio.wait_for(bob.incoming.get(), 5)
    in2.accept(make_offer("127.0.0.1", 5002))
    await second.wait_answer(5)
    response = await first.refer("sip:carol@127.0.0.1", replaces=second)
    assert response.status == 202
    refer = await in1.wait_event("refer")
    d = second.dialog
    assert refer["replaces"] == f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}"
    await first.bye()
    await second.bye()


async def test_reject_and_cancel(make_endpoint) -> None:
    _ep_a, ep_b, alice, bob = await _two_agents(make_endpoint)
    call = alice.invite(f"sip:bob@127.0.0.1:{ep_b.port}", make_offer("127.0.0.1", 4000))
    incoming = await asyncio.wait_for(bob.incoming.get(), 5)
    incoming.reject(486)
    response = await call.wait_answer(5)
    assert response.status == 486
    hangup = await call.wait_event("hangup")
    assert hangup["code"] == 486

    call = alice.invite(f"sip:bob@127.0.0.1:{ep_b.port}", make_offer("127.0.0.1", 4000))
    incoming = await asyncio.wait_for(bob.incoming.get(), 5)
    incoming.ringing()
    await call.wait_event("ringing")
    await call.cancel()
    assert (await call.wait_answer(5)).status == 487
    await incoming.wait_event("cancelled")
    assert incoming.state == "terminated"
    assert incoming.server_tx is not None
    assert incoming.server_tx.last_response is not None
    assert incoming.server_tx.last_response.status == 487


async def test_call_to_nowhere_times_out(make_endpoint) -> None:
    ep = await make_endpoint()
    silent = await make_endpoint()
    silent.transports["udp"].receiver = lambda *a: None  # swallow everything
    ua = UserAgent(ep, Account(aor="sip:a@127.0.0.1"))
    call = ua.invite(f"sip:x@127.0.0.1:{silent.port}", make_offer("127.0.0.1", 4000))
    response = await call.wait_answer(5)
    assert response.status == 408 and response.local
    assert call.state == "terminated"


async def test_invite_with_auth_retry(make_endpoint) -> None:
    """A proxy-like UAS that challenges the INVITE with 407 before answering."""
    ep_a = await make_endpoint()
    ep_b = await make_endpoint()
    auth = DigestServer(REALM)
    ha1 = compute_ha1("alice", REALM, "pw", "SHA-256")
    seen: list[int] = []

    async def handler(request: Request, tx: ServerTransaction | None) -> None:
        if tx is None:
            return
        if request.method != "INVITE":
            tx.respond(200)
            return
        result = await auth.authenticate(request, lambda u, a: ha1 if a == "SHA-256" else None,
                                         proxy=True)
        seen.append(request.cseq.seq)
        if not result.ok:
            tx.respond(auth.challenge(request, proxy=True, to_tag=tx.local_tag))
            return
        tx.respond(200, headers=[("Contact", f"<sip:b@127.0.0.1:{ep_b.port}>")],
                   body=make_offer("127.0.0.1", 5000).encode(), content_type="application/sdp")

    ep_b.handler = handler
    ua = UserAgent(ep_a, Account(aor="sip:alice@pbx.test", password="pw"))
    call = ua.invite(f"sip:bob@127.0.0.1:{ep_b.port}", make_offer("127.0.0.1", 4000))
    response = await call.wait_answer(5)
    assert response.status == 200
    assert seen == [1, 2]
    assert call.invite.headers.get("Proxy-Authorization", "").startswith("Digest ")
    assert call.dialog is not None and call.dialog.local_seq == 2
    bye = await call.bye()
    assert bye is not None and bye.status == 200


async def test_ended_call_is_released_while_its_transactions_linger(make_endpoint) -> None:
    """After BYE the answered INVITE's transactions wait 64*T1 for retransmissions: they
    must not keep the call alive, and a retransmitted 2xx still gets its ACK again."""
    ep = await make_endpoint(timers=Timers(t1=0.5, t2=4.0, t4=5.0))
    alice = UserAgent(ep, Account(aor=f"sip:alice@127.0.0.1:{ep.port}"))
    peer = await UdpPeer.open()
    try:
        events: list[str] = []
        call = alice.invite(f"sip:bob@127.0.0.1:{peer.port}", make_offer("127.0.0.1", 4000),
                            on_event=lambda name, data: events.append(name))
        invite = await peer.recv()
        assert isinstance(invite, Request) and invite.method == "INVITE"
        ok = invite.create_response(200, to_tag="bob-tag")
        ok.headers.add("Contact", f"<sip:bob@127.0.0.1:{peer.port}>")
        answer = make_answer(SessionDescription.parse(invite.body), "127.0.0.1", 5000)[0]
        ok.set_body(str(answer),
                    "application/sdp")
        peer.send(ok.encode(), ep.port)
        ack = await peer.recv()
        assert isinstance(ack, Request) and ack.method == "ACK"
        assert (await call.wait_answer(3)).status == 200

        hangup = asyncio.ensure_future(call.hangup())
        bye = await peer.recv()
        assert isinstance(bye, Request) and bye.method == "BYE"
        peer.send(bye.create_response(200).encode(), ep.port)
        await asyncio.wait_for(hangup, 3)
        assert "hangup" in events

        lingering = [tx for tx in ep._clients.values() if tx.method == "INVITE"]
        assert lingering and lingering[0].state == "accepted"  # timer M still running
        ref = weakref.ref(call)
        del call, hangup
        gc.collect()
        assert ref() is None, gc.get_referrers(ref())

        peer.send(ok.encode(), ep.port)  # the 2xx again, as if our ACK had been lost
        again = await peer.recv()
        assert isinstance(again, Request) and again.method == "ACK"
        assert (again.call_id, again.cseq, again.to_tag) == (ack.call_id, ack.cseq, "bob-tag")
    finally:
        peer.close()
