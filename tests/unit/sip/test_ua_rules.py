"""What the one user agent does by the RFCs, for the PBX and the gateway alike.

Each test is one rule where the gateway's former user agent and this one differed: 423
Interval Too Brief, a failed refresh, two challenges in a row, the granted expiry of our own
Contact, the outbound proxy as a pre-loaded Route, dialogs matched by their full id (a second
fork's 2xx), and unknown in-dialog requests.
"""

from __future__ import annotations

import asyncio

from tests.unit.sip.peer import UdpPeer
from webfon.sip import (
    DigestServer,
    Request,
    ServerTransaction,
    SessionDescription,
    SipEndpoint,
    compute_ha1,
    make_answer,
    make_offer,
)
from webfon.sip.ua import ALLOW, Account, UserAgent

REALM = "pbx.test"


def _ha1(user: str, password: str) -> dict[str, str]:
    return {a: compute_ha1(user, REALM, password, a) for a in ("MD5", "SHA-256")}


async def test_423_is_retried_with_the_registrars_min_expires(make_endpoint) -> None:
    server, client = await make_endpoint(), await make_endpoint()
    asked: list[int] = []

    def handler(request: Request, tx: ServerTransaction | None) -> None:
        assert tx is not None
        asked.append(request.expires or 0)
        if (request.expires or 0) < 300:
            tx.respond(423, headers=[("Min-Expires", "300")])
        else:
            tx.respond(200, headers=[("Contact", f"{request.contact};expires=300")])

    server.handler = handler
    ua = UserAgent(client, Account(aor="sip:a@pbx.test", registrar=f"sip:127.0.0.1:"
                                   f"{server.port}", expires=60))
    response = await ua.register(refresh=False)
    assert response.status == 200 and asked == [60, 300]
    assert ua.registered and ua.registration_expires == 300


async def test_a_failed_refresh_is_retried_and_reported(make_endpoint) -> None:
    server, client = await make_endpoint(), await make_endpoint()
    answers = [200, 503, 200]
    events: list[str] = []
    registered_again = asyncio.Event()

    def on_event(name: str, data: object) -> None:
        events.append(name)
        if events.count("registered") == 2:
            registered_again.set()

    def handler(request: Request, tx: ServerTransaction | None) -> None:
        assert tx is not None
        status = answers.pop(0) if answers else 200
        tx.respond(status, headers=[("Contact", f"{request.contact};expires=2")]
                   if status == 200 else [])

    server.handler = handler
    ua = UserAgent(client, Account(aor="sip:a@pbx.test", registrar=f"sip:127.0.0.1:"
                                   f"{server.port}", expires=2),
                   on_event=on_event, refresh_margin=0.1, retry_after=0.2)
    await ua.register()
    # the refresh after 0.2 s gets 503: reported, retried 0.2 s later, registered again
    await asyncio.wait_for(registered_again.wait(), 5)
    assert events[:4] == ["registering", "registered", "registering", "registration_failed"]
    assert ua.registered
    await ua.close()


async def test_two_challenges_in_a_row_are_answered(make_endpoint) -> None:
    """A proxy (407) then the registrar (401): both get credentials."""
    server, client = await make_endpoint(), await make_endpoint()
    proxy_auth, registrar_auth = DigestServer(REALM, b"p" * 32), DigestServer(REALM, b"r" * 32)
    ha1 = _ha1("alice", "pw")
    seen: list[tuple[bool, bool]] = []

    async def handler(request: Request, tx: ServerTransaction | None) -> None:
        assert tx is not None
        by_proxy = await proxy_auth.authenticate(request, lambda u, a: ha1.get(a), proxy=True)
        by_registrar = await registrar_auth.authenticate(request, lambda u, a: ha1.get(a))
        seen.append((by_proxy.ok, by_registrar.ok))
        if not by_proxy.ok:
            tx.respond(proxy_auth.challenge(request, proxy=True, to_tag=tx.local_tag))
        elif not by_registrar.ok:
            tx.respond(registrar_auth.challenge(request, to_tag=tx.local_tag))
        else:
            tx.respond(200, headers=[("Contact", f"{request.contact};expires=60")])

    server.handler = handler
    ua = UserAgent(client, Account(aor="sip:alice@pbx.test", password="pw",
                                   registrar=f"sip:127.0.0.1:{server.port}"))
    response = await ua.register(refresh=False)
    assert response.status == 200
    assert seen == [(False, False), (True, False), (True, True)]


async def test_granted_expiry_is_read_from_our_own_contact(make_endpoint) -> None:
    """The registrar lists every binding of the AoR: ours is not the first."""
    server, client = await make_endpoint(), await make_endpoint()

    def handler(request: Request, tx: ServerTransaction | None) -> None:
        assert tx is not None
        tx.respond(200, headers=[("Contact", "<sip:other-phone@192.0.2.9>;expires=3600"),
                                 ("Contact", f"{request.contact};expires=120"),
                                 ("Expires", "3600")])

    server.handler = handler
    ua = UserAgent(client, Account(aor="sip:a@pbx.test", registrar=f"sip:127.0.0.1:"
                                   f"{server.port}", expires=600))
    await ua.register(refresh=False)
    assert ua.registration_expires == 120


async def test_outbound_proxy_is_a_preloaded_route(make_endpoint) -> None:
    """RFC 3261 §8.1.2: the request goes to the proxy with Route: <proxy;lr> and keeps the
    registrar (or callee) as its Request-URI; a dialog then follows its own route set."""
    proxy, client = await make_endpoint(), await make_endpoint()
    received: list[Request] = []

    def handler(request: Request, tx: ServerTransaction | None) -> None:
        received.append(request)
        if tx is None:
            return
        if request.method == "INVITE":
            answer = make_answer(SessionDescription.parse(request.body), "127.0.0.1", 5000)[0]
            tx.respond(200, headers=[("Contact", f"<sip:bob@127.0.0.1:{proxy.port}>")],
                       body=answer.encode(), content_type="application/sdp")
        else:
            headers = [("Contact", f"{request.contact};expires=60")] \
                if request.method == "REGISTER" else []
            tx.respond(200, headers=headers)

    proxy.handler = handler
    ua = UserAgent(client, Account(aor="sip:alice@pbx.test", registrar="sip:registrar.test",
                                   outbound_proxy=f"sip:127.0.0.1:{proxy.port}"))
    assert (await ua.register(refresh=False)).status == 200
    register = received[-1]
    assert str(register.uri) == "sip:registrar.test"
    assert register.headers.get("Route") == f"<sip:127.0.0.1:{proxy.port};lr>"
    call = ua.invite("sip:bob@elsewhere.test", make_offer("127.0.0.1", 4000))
    assert (await call.wait_answer(5)).status == 200
    invite = next(r for r in received if r.method == "INVITE")
    assert str(invite.uri) == "sip:bob@elsewhere.test"
    assert invite.headers.get("Route") == f"<sip:127.0.0.1:{proxy.port};lr>"
    # the proxy did not Record-Route: the BYE goes straight to the callee's Contact
    await call.bye()
    bye = next(r for r in received if r.method == "BYE")
    assert "Route" not in bye.headers and bye.uri.user == "bob"


async def test_a_second_forks_2xx_is_acked_and_ended(make_endpoint) -> None:
    ep: SipEndpoint = await make_endpoint()
    alice = UserAgent(ep, Account(aor=f"sip:alice@127.0.0.1:{ep.port}"))
    peer = await UdpPeer.open()
    try:
        call = alice.invite(f"sip:bob@127.0.0.1:{peer.port}", make_offer("127.0.0.1", 4000))
        invite = await peer.recv()
        assert isinstance(invite, Request)
        answer = str(make_answer(SessionDescription.parse(invite.body), "127.0.0.1", 5000)[0])
        for tag in ("fork-1", "fork-2"):
            ok = invite.create_response(200, to_tag=tag)
            ok.headers.add("Contact", f"<sip:{tag}@127.0.0.1:{peer.port}>")
            ok.set_body(answer, "application/sdp")
            peer.send(ok.encode(), ep.port)
        got: list[tuple[str, str | None]] = []
        async with asyncio.timeout(3):
            while len(got) < 3:
                msg = await peer.recv()
                if isinstance(msg, Request):
                    got.append((msg.method, msg.to_tag))
                    if msg.method == "BYE":
                        peer.send(msg.create_response(200).encode(), ep.port)
        assert sorted(got) == [("ACK", "fork-1"), ("ACK", "fork-2"), ("BYE", "fork-2")]
        assert call.state == "confirmed" and call.dialog is not None
        assert call.dialog.remote_tag == "fork-1"
    finally:
        peer.close()


async def test_unknown_in_dialog_requests_get_405_with_allow(make_endpoint) -> None:
    ep_a, ep_b = await make_endpoint(), await make_endpoint()
    alice = UserAgent(ep_a, Account(aor=f"sip:alice@127.0.0.1:{ep_a.port}"))
    bob = UserAgent(ep_b, Account(aor=f"sip:bob@127.0.0.1:{ep_b.port}"))
    call = alice.invite(f"sip:bob@127.0.0.1:{ep_b.port}", make_offer("127.0.0.1", 4000))
    incoming = await asyncio.wait_for(bob.incoming.get(), 3)
    incoming.accept(make_answer(SessionDescription.parse(incoming.invite.body),
                                "127.0.0.1", 5000)[0])
    assert (await call.wait_answer(3)).status == 200
    response = await call.request("SUBSCRIBE", headers=[("Event", "dialog")])
    assert response.status == 405
    assert response.headers.get("Allow") == ALLOW
    # MESSAGE inside a dialog is one the user agent handles
    assert (await call.request("MESSAGE", body=b"hi", content_type="text/plain")).status == 200
    await call.bye()
