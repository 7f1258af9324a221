"""Malformed requests: 400 naming what is missing when the top Via is usable, else dropped.

Covers the endpoint's answer over UDP (rport/received honoured) and TCP (same connection),
and the cases that must stay silent: no usable Via, a malformed ACK, a malformed response.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.sip.peer import UdpPeer, request_text
from webfon.sip import ParseError, Response, parse_message
from webfon.sip.endpoint import _salvage_error_response


def _without(text: str, *names: str) -> str:
    """``text`` with every header line named in ``names`` removed."""
    return "\r\n".join(ln for ln in text.split("\r\n")
                       if not any(ln.startswith(f"{n}:") for n in names))


async def _endpoint(make_endpoint, **kw):
    ep = await make_endpoint(**kw)
    handled: list[str] = []

    def handler(request, tx) -> None:
        handled.append(request.method)
        if tx is not None:
            tx.respond(200)

    ep.handler = handler
    return ep, handled


@pytest.mark.parametrize("missing", ["From", "To", "Call-ID", "CSeq"])
async def test_missing_header_gets_400_naming_it(make_endpoint, missing: str) -> None:
    ep, handled = await _endpoint(make_endpoint)
    peer = await UdpPeer.open()
    try:
        # the Via names a port nobody listens on: the 400 must follow rport to the source
        text = request_text("INVITE", peer.port, branch="z9hG4bKmiss", target_port=ep.port)
        text = text.replace(f"127.0.0.1:{peer.port};branch", "127.0.0.1:9;branch")
        peer.send(_without(text, missing), ep.port)
        resp = await peer.recv()
        assert isinstance(resp, Response)
        assert resp.status == 400
        assert resp.reason == f"Missing {missing}"
        via = resp.via
        assert via.branch == "z9hG4bKmiss"
        assert via.received == "127.0.0.1" and via.rport == peer.port
        for name in ("From", "To", "Call-ID", "CSeq"):
            assert (name in resp.headers) == (name != missing)
        if missing != "To":
            assert resp.to_tag  # a final response tags To
        await peer.expect_silence(0.1)  # one answer, no transaction retransmissions
        assert handled == []
        assert ep.stats["bad_requests"] == 1 and ep.stats["dropped"] == 0
    finally:
        peer.close()


async def test_several_missing_headers_are_all_named(make_endpoint) -> None:
    ep, _ = await _endpoint(make_endpoint)
    peer = await UdpPeer.open()
    try:
        text = request_text("OPTIONS", peer.port, target_port=ep.port)
        peer.send(_without(text, "From", "Call-ID"), ep.port)
        resp = await peer.recv()
        assert resp.status == 400 and resp.reason == "Missing From, Call-ID"
        assert resp.cseq.method == "OPTIONS" and resp.via.branch == "z9hG4bKpeer1"
    finally:
        peer.close()


async def test_missing_max_forwards_is_tolerated(make_endpoint) -> None:
    ep, handled = await _endpoint(make_endpoint)
    peer = await UdpPeer.open()
    try:
        text = request_text("OPTIONS", peer.port, target_port=ep.port)
        peer.send(_without(text, "Max-Forwards"), ep.port)
        assert (await peer.recv()).status == 200
        assert handled == ["OPTIONS"]
    finally:
        peer.close()


async def test_no_answer_without_usable_via_to_acks_or_to_responses(make_endpoint) -> None:
    ep, handled = await _endpoint(make_endpoint)
    peer = await UdpPeer.open()
    try:
        base = request_text("INVITE", peer.port, target_port=ep.port)
        peer.send(_without(base, "Via"), ep.port)  # no Via at all
        peer.send(_without(base, "Call-ID").replace("SIP/2.0/UDP 127.0.0.1", "SIP/2.0/UDP ["),
                  ep.port)  # unparsable Via
        ack = request_text("ACK", peer.port, target_port=ep.port, to_tag="x")
        peer.send(_without(ack, "Call-ID"), ep.port)  # malformed ACK
        peer.send(ack.replace("CSeq: 1 ACK", "CSeq: one ACK"), ep.port)
        peer.send(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKr\r\n"
                  b"Content-Length: 0\r\n\r\n", ep.port)  # response without CSeq
        await peer.expect_silence(0.3)
        assert ep.stats["parse_errors"] == 5
        assert ep.stats["dropped"] == 5
        assert ep.stats["bad_requests"] == 0
        assert handled == []
        # still serving
        peer.send(request_text("OPTIONS", peer.port, branch="z9hG4bKok", target_port=ep.port),
                  ep.port)
        assert (await peer.recv()).status == 200
    finally:
        peer.close()


async def test_missing_header_over_tcp_answered_on_the_same_connection(make_endpoint) -> None:
    ep, _ = await _endpoint(make_endpoint, transports=("udp", "tcp"))
    reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
    try:
        port = writer.get_extra_info("sockname")[1]
        text = request_text("OPTIONS", port, target_port=ep.port).replace("/UDP", "/TCP")
        writer.write(_without(text, "Call-ID").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        resp = parse_message(head)
        assert isinstance(resp, Response)
        assert resp.status == 400 and resp.reason == "Missing Call-ID"
        assert resp.via.transport == "TCP"
    finally:
        writer.close()


def _salvage(text: str, reason: str = "missing Call-ID header") -> Response | None:
    return _salvage_error_response(text.encode(), ParseError(reason))


def test_salvage_echoes_vias_and_keeps_the_exception_reason_when_nothing_is_missing() -> None:
    text = request_text("OPTIONS", 5070).replace(
        "Max-Forwards", "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKsecond\r\nMax-Forwards")
    resp = _salvage(text, "bad Max-Forwards")
    assert resp is not None
    assert resp.status == 400 and resp.reason == "Bad Max-Forwards"
    assert [v.branch for v in resp.vias] == ["z9hG4bKpeer1", "z9hG4bKsecond"]
    assert resp.call_id == "call-1" and resp.from_tag == "ft" and resp.to_tag
    big = _salvage_error_response(text.encode(), ParseError("message too large", 513))
    assert big is not None and big.status == 513


def test_salvage_leaves_out_malformed_copies_but_still_answers() -> None:
    text = request_text("OPTIONS", 5070).replace("From: <sip:peer@127.0.0.1>;tag=ft",
                                                 "From: <<nonsense")
    resp = _salvage(text, "bad address")
    assert resp is not None and resp.status == 400
    assert "From" not in resp.headers
    assert resp.call_id == "call-1"


@pytest.mark.parametrize("text", [
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n\r\n",
    "ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n\r\n",
    "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n"
    "CSeq: 1 ACK\r\n\r\n",
    "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n",
    "OPTIONS sip:a@b SIP/2.0\r\nVia: nonsense\r\nCall-ID: x\r\n\r\n",
    "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\rX\r\n\r\n",
    "garbage\r\n\r\n",
])
def test_salvage_refuses(text: str) -> None:
    assert _salvage(text) is None
