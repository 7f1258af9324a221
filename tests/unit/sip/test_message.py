"""Parsing and serialization of SIP messages, URIs and header values."""

from __future__ import annotations

import pytest
import sipmessage

from webfon.sip import Address, CSeq, Headers, ParseError, Request, Response, SipURI, Via
from webfon.sip.message import parse_message

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Via: SIP/2.0/TCP proxy.example.com:5070;branch=z9hG4bKa, "
    b"SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKb;received=192.0.2.1\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice, A." <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>;+sip.instance=\"<urn:uuid:1234>\"\r\n"
    b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Record-Route: <sip:p3.example.com;lr>\r\n"
    b"Subject: a folded\r\n   header value\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def test_parse_request_and_typed_headers() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert str(msg.uri) == "sip:bob@biloxi.example.com"
    msg.validate()
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.cseq == CSeq(314159, "INVITE")
    assert msg.from_.display_name == "Alice, A."
    assert msg.from_tag == "1928301774"
    assert msg.to.display_name == "Bob" and msg.to_tag is None
    vias = msg.vias
    assert [v.transport for v in vias] == ["UDP", "TCP", "UDP"]
    assert vias[0].branch == "z9hG4bK776asdhds" and vias[0].sent_by == (
        "pc33.atlanta.example.com", 5060)
    assert vias[1].port == 5070
    assert vias[2].host == "[2001:db8::1]" and vias[2].received == "192.0.2.1"
    assert vias[2].sent_by == ("2001:db8::1", 5062)
    assert [str(r.uri) for r in msg.record_routes] == [
        "sip:p1.example.com;lr", "sip:p2.example.com;lr", "sip:p3.example.com;lr"]
    assert msg.contact is not None
    assert msg.contact.params["+sip.instance"] == '"<urn:uuid:1234>"'
    assert msg.headers.get("subject") == "a folded header value"
    assert msg.max_forwards == 70
    assert msg.content_type == "application/sdp"
    assert msg.body == b"v=0\n"


def test_round_trip_keeps_everything() -> None:
    msg = parse_message(INVITE)
    again = parse_message(msg.encode())
    assert list(again.headers) == list(msg.headers)
    assert again.body == msg.body
    # and the encoding is stable
    assert again.encode() == msg.encode()
    # params with quoted strings survive (sipmessage would URL-escape them)
    assert b'+sip.instance="<urn:uuid:1234>"' in msg.encode()


def test_our_output_parses_with_sipmessage() -> None:
    """Cross-check our serializer with an independent parser."""
    msg = parse_message(INVITE)
    other = sipmessage.Message.parse(msg.encode())
    assert isinstance(other, sipmessage.Request)
    assert other.call_id == msg.call_id
    assert other.cseq.sequence == 314159
    assert other.from_address.parameters["tag"] == "1928301774"
    assert len(other.via) == 3
    assert other.body == b"v=0\n"


def test_compact_forms_are_expanded() -> None:
    data = (b"OPTIONS sip:x@example.com SIP/2.0\r\n"
            b"v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
            b"f: <sip:a@example.com>;tag=1\r\nt: <sip:x@example.com>\r\n"
            b"i: cid\r\nCSeq: 1 OPTIONS\r\nm: <sip:a@h.example.com>\r\nk: replaces, timer\r\n"
            b"l: 0\r\n\r\n")
    msg = parse_message(data)
    msg.validate()
    assert msg.headers.get("Via") == msg.headers.get("v")
    assert msg.headers.get("Supported") == "replaces, timer"
    assert msg.headers.values("Supported") == ["replaces", "timer"]
    assert msg.call_id == "cid"
    assert b"Call-ID: cid\r\n" in msg.encode()


def test_parse_response() -> None:
    data = (b"SIP/2.0 180 Ringing Now\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            b"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\n"
            b"CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n")
    msg = parse_message(data)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (180, "Ringing Now")
    assert msg.is_provisional and not msg.is_final
    assert msg.to_tag == "2"


def test_headers_multi_value_and_case_insensitive() -> None:
    h = Headers()
    h.add("Via", "a")
    h.add("via", "b")
    h.add("Route", "<sip:x;lr>, <sip:y;lr>")
    h.add("VIA", "top", first=True)
    assert h.get_all("Via") == ["top", "a", "b"]
    assert h.values("route") == ["<sip:x;lr>", "<sip:y;lr>"]
    assert h.pop_first("Route") == "<sip:x;lr>"
    assert h.values("Route") == ["<sip:y;lr>"]
    h.set("via", ["z"])
    assert h.get_all("Via") == ["z"]
    assert h.remove("Via") == 1 and "Via" not in h


def test_content_length_rules() -> None:
    base = (b"MESSAGE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            b"From: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n")
    # longer body than Content-Length on a datagram: truncated
    msg = parse_message(base + b"Content-Length: 2\r\n\r\nhello")
    assert msg.body == b"he"
    # shorter: error (RFC 3261 §18.3)
    with pytest.raises(ParseError, match="shorter"):
        parse_message(base + b"Content-Length: 20\r\n\r\nhello")
    # no Content-Length on a datagram: the rest is the body
    assert parse_message(base + b"\r\nhello").body == b"hello"
    # stream: missing Content-Length with a body is an error
    with pytest.raises(ParseError):
        parse_message(base + b"\r\nhello", stream=True)
    with pytest.raises(ParseError, match="Content-Length"):
        parse_message(base + b"Content-Length: x\r\n\r\n")
    # serialization always writes the real length
    msg.body = b"abc"
    assert b"Content-Length: 3\r\n" in msg.encode()


@pytest.mark.parametrize("data, reason", [
    (b"", "no end of headers"),
    (b"garbage\r\n\r\n", "bad request line"),
    (b"INVITE sip:x@h SIP/3.0\r\n\r\n", "version"),
    (b"INV@TE sip:x@h SIP/2.0\r\n\r\n", "bad method"),
    (b"INVITE http://x SIP/2.0\r\n\r\n", "scheme"),
    (b"SIP/2.0 99 Nope\r\n\r\n", "status"),
    (b"SIP/2.0 abc Nope\r\n\r\n", "status"),
    (b"INVITE sip:x@h SIP/2.0\r\nno colon here\r\n\r\n", "header line"),
    (b"INVITE sip:x@h SIP/2.0\r\nBad Name: v\r\n\r\n", "header line"),
    (b"INVITE sip:x@h SIP/2.0\r\nX: \xff\xfe\r\n\r\n", "UTF-8"),
    (b"INVITE sip:x@h SIP/2.0\r\n X: continuation first\r\n\r\n", "continuation"),
])
def test_garbage_raises_parse_error(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_message(data)


def test_oversized_message() -> None:
    data = INVITE + b"x" * 70000
    with pytest.raises(ParseError) as info:
        parse_message(data)
    assert info.value.status == 513
    too_many = b"OPTIONS sip:x@h SIP/2.0\r\n" + b"X-A: 1\r\n" * 300 + b"\r\n"
    with pytest.raises(ParseError, match="too many headers"):
        parse_message(too_many)


@pytest.mark.parametrize("missing", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_validate_missing_mandatory_header(missing: str) -> None:
    msg = parse_message(INVITE)
    msg.headers.remove(missing)
    with pytest.raises(ParseError, match=missing):
        msg.validate()


def test_validate_cseq_method_mismatch() -> None:
    msg = parse_message(INVITE.replace(b"314159 INVITE", b"314159 BYE"))
    with pytest.raises(ParseError, match="CSeq method"):
        msg.validate()


@pytest.mark.parametrize("text, parts", [
    ("sip:alice@atlanta.com", ("sip", "alice", "atlanta.com", None)),
    ("sips:alice:secretword@atlanta.com;transport=tcp", ("sips", "alice", "atlanta.com", None)),
    ("sip:+1-212-555-1212:1234@gateway.com;user=phone", ("sip", "+1-212-555-1212",
                                                         "gateway.com", None)),
    ("sip:alice@192.0.2.4:5070", ("sip", "alice", "192.0.2.4", 5070)),
    ("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", ("sip", None, "atlanta.com",
                                                                None)),
    ("sip:alice;day=tuesday@atlanta.com", ("sip", "alice;day=tuesday", "atlanta.com", None)),
    ("sip:[2001:db8::10]:5061;transport=tls", ("sip", None, "[2001:db8::10]", 5061)),
])
def test_uri_parse(text: str, parts: tuple[object, ...]) -> None:
    uri = SipURI.parse(text)
    assert (uri.scheme, uri.user, uri.host, uri.port) == parts
    assert str(uri) == text


def test_uri_params_headers_and_helpers() -> None:
    uri = SipURI.parse("sip:bob@example.com;transport=TCP;lr?Replaces=abc%3Bto-tag%3D1&X=y")
    assert uri.transport == "tcp" and uri.lr
    assert uri.headers == {"Replaces": "abc%3Bto-tag%3D1", "X": "y"}
    assert uri.host_port == ("example.com", 5060)
    assert SipURI.parse("sips:x@example.com").host_port == ("example.com", 5061)
    tel = SipURI.parse("tel:+34-91-555-0100;phone-context=example.com")
    assert tel.scheme == "tel" and tel.user == "+34-91-555-0100" and tel.host == ""
    assert str(tel) == "tel:+34-91-555-0100;phone-context=example.com"
    assert SipURI.parse("sip:A@EXAMPLE.com") == SipURI.parse("sip:A@example.com")
    copy = uri.copy(port=1234)
    copy.params["x"] = "1"
    assert uri.port is None and "x" not in uri.params


@pytest.mark.parametrize("text", ["sip:", "sip:@host", "sip:a@", "sip:a@ho st",
                                  "sip:a@host:99999", "sip:a@host:12a", "sip:a@[::1",
                                  "mailto:a@b", "tel:abc+", "sip:a@host;", "sip:a@host?x",
                                  "sip:a@300.1.1.1", "sip:a b@host"])
def test_uri_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        SipURI.parse(text)


def test_address_forms() -> None:
    a = Address.parse('"Bob \\"B\\"" <sip:bob@h>;tag=x;expires=60')
    assert a.display_name == 'Bob "B"' and a.tag == "x" and a.expires == 60
    assert str(a) == '"Bob \\"B\\"" <sip:bob@h>;tag=x;expires=60'
    b = Address.parse("sip:bob@h;tag=y")  # addr-spec: params belong to the header
    assert b.tag == "y" and b.uri.params == {}
    c = Address.parse("Bob Smith <sip:bob@h;lr>")
    assert c.display_name == "Bob Smith" and c.uri.lr
    assert Address.parse("*").wildcard
    lst = Address.parse_list('"A, B" <sip:a@h>, <sip:b@h>;q=0.5')
    assert [str(x.uri) for x in lst] == ["sip:a@h", "sip:b@h"]
    c.tag = "new"
    assert str(c).endswith(";tag=new")


@pytest.mark.parametrize("text", ['"unterminated <sip:a@h>', "<sip:a@h", "<sip:a@h> junk",
                                  "<sip:a@h>;", "a b c", '<sip:a@h>;x="open'])
def test_address_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        Address.parse(text)


def test_via_params() -> None:
    v = Via.parse("SIP / 2.0 / udp 10.0.0.1:5060 ;branch=z9hG4bKx;rport;received=1.2.3.4"
                  .replace(" / ", "/").replace(" ;", ";"))
    assert v.transport == "UDP" and v.wants_rport and v.rport is None
    v.params["rport"] = "4000"
    assert v.rport == 4000
    assert str(v) == "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport=4000;received=1.2.3.4"
    for bad in ["SIP/2.0 host", "SIP/1.0/UDP host", "SIP/2.0/UDP", "SIP/2.0/UDP h;rport=x",
                "SIP/2.0/UDP h:port"]:
        with pytest.raises(ParseError):
            Via.parse(bad)


def test_cseq() -> None:
    assert CSeq.parse("  12   INVITE ") == CSeq(12, "INVITE")
    for bad in ["x INVITE", "1", "1 2 3", "99999999999 INVITE", "-1 BYE"]:
        with pytest.raises(ParseError):
            CSeq.parse(bad)


def test_create_response_copies_headers() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    resp = req.create_response(180, to_tag="abc")
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.to_tag == "abc" and resp.from_tag == "1928301774"
    assert resp.headers.get_all("Record-Route") == req.headers.get_all("Record-Route")
    assert resp.cseq == req.cseq and resp.reason == "Ringing"
    assert req.create_response(100, to_tag="abc").to_tag is None
    assert "Record-Route" not in req.create_response(486).headers
