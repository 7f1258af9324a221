"""The parsers' fast paths (regular expressions for the common shapes) give exactly what the
full parsers give: the same value, or a ParseError when the full parser raises one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webfon.sip import Address, ParseError, SipURI, Via
from webfon.sip.params import (
    SIMPLE_HEADER_PARAMS,
    SIMPLE_URI_PARAMS,
    parse_params,
    parse_simple_params,
)

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALPHABET = 'sipSIPtelUDPTCPabcxyzAZ0123456789@.:;=<>"\\ \t,-_[]%?&+*!~/\'`()$#'
PIECES = ["sip:", "sips:", "SIP:", "tel:", "SIP/2.0/", "SIP/2.0/UDP ", "sip/2.0/tcp ", "<", ">",
          '"', "\\", ";", "=", ":", "@", "?", "&", " ", "\t", ",", "alice", "Bob Smith",
          "example.com", "192.0.2.1", "256.1.1.1", "1.2.3", "[::1]", ":5060", ":70000",
          ";tag=abc", ";lr", ";branch=z9hG4bK1", ";rport", ";rport=5060", ";rport=x",
          ";transport=TCP", ";expires=60", '"<urn:uuid:1>"', "%41", "%4", "x-", "-x", "a..b",
          "\u00e9", "\u0661", ";maddr=10.0.0.1", "*"]

texts = st.one_of(
    st.text(alphabet=ALPHABET, max_size=60),
    st.lists(st.sampled_from(PIECES), max_size=10).map("".join),
    st.tuples(st.sampled_from(['"Alice" ', "Bob ", "", '"a\\"b" ', '"x<y" ', "a\tb "]),
              st.sampled_from(["sip:", "sips:", "SIP:"]),
              st.sampled_from(["", "alice@", "a;b@", "a:pw@", "%41@", "a b@"]),
              st.sampled_from(["example.com", "192.0.2.1", "256.0.0.1", "[::1]", "h_x", "x."]),
              st.sampled_from(["", ":5060", ":65536", ":0", ":"]),
              st.sampled_from(["", ";lr", ";transport=tcp", ";x", ";=", ";a=b=c", ";%zz"]),
              st.sampled_from(["", ";tag=1", ";expires=60", ';+sip.instance="<urn:x>"', ";",
                               ";t=a b", ";q=0.5;tag=x"]),
              st.booleans())
    .map(lambda p: f"{p[0]}<{p[1]}{p[2]}{p[3]}{p[4]}{p[5]}>{p[6]}" if p[7]
         else f"{p[1]}{p[2]}{p[3]}{p[4]}{p[5]}"),
    st.tuples(st.sampled_from(["SIP/2.0/UDP", "SIP/2.0/tls", "SIP/2.0/", "sip/2.0/UDP",
                               "SIP/2.0/U;D"]),
              st.sampled_from([" ", "  ", "\t"]),
              st.sampled_from(["192.0.2.1", "host.example", "[2001:db8::1]", "300.1.1.1", "-a"]),
              st.sampled_from(["", ":5060", ":99999"]),
              st.sampled_from(["", ";branch=z9hG4bK1;rport", ";rport=12", ";rport=1a", ";x=[a]",
                               ";received=10.0.0.1", ";b=", ";a;a=2", ';x="q"', " ;lr"]))
    .map("".join),
)


def _outcome(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return _plain(parse(text))
    except ParseError:
        return ParseError


def _plain(value: Any) -> Any:
    """Field-by-field view (SipURI's loose __eq__ and dict equality ignore what matters)."""
    if isinstance(value, SipURI | Via | Address):
        return (type(value).__name__,
                {k: _plain(v) for k, v in vars(value).items()}, str(value))
    if isinstance(value, dict):
        return list(value.items())
    return value


@FUZZ
@given(texts)
def test_uri_fast_path_matches_full_parser(text: str) -> None:
    assert _outcome(SipURI.parse, text) == _outcome(lambda t: SipURI._parse_full(t.strip()), text)


@FUZZ
@given(texts)
def test_via_fast_path_matches_full_parser(text: str) -> None:
    assert _outcome(Via.parse, text) == _outcome(lambda t: Via._parse_full(t.strip()), text)


@FUZZ
@given(texts)
def test_address_fast_path_matches_full_parser(text: str) -> None:
    full = _outcome(lambda t: Address._parse_full(t.strip()), text)
    assert _outcome(Address.parse, text) == full


@FUZZ
@given(texts)
def test_simple_params_match_full_parser(text: str) -> None:
    for pattern in (SIMPLE_HEADER_PARAMS, SIMPLE_URI_PARAMS):
        simple = parse_simple_params(text, pattern)
        if simple is not None:
            assert list(simple.items()) == list(parse_params(text).items())


def test_fast_paths_are_taken_for_common_shapes() -> None:
    assert SipURI._parse_simple("sip:alice@192.0.2.1:5060;transport=tcp") is not None
    assert parse_simple_params("branch=z9hG4bK1;rport", SIMPLE_HEADER_PARAMS) == {
        "branch": "z9hG4bK1", "rport": None}
    assert parse_simple_params('tag="x"', SIMPLE_HEADER_PARAMS) is None
    via = Via.parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport")
    assert (via.transport, via.host, via.port, via.branch, via.wants_rport) == \
        ("UDP", "192.0.2.1", 5060, "z9hG4bK1", True)
    addr = Address.parse('"A \\"B\\"" <sip:a@example.com>;tag=1')
    assert (addr.display_name, addr.uri.user, addr.tag) == ('A "B"', "a", "1")


def test_cached_values_are_copies() -> None:
    from webfon.sip import parse_message

    msg = parse_message(
        b"INVITE sip:b@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
        b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@192.0.2.1>\r\n"
        b"Content-Length: 0\r\n\r\n")
    msg.validate()
    to = msg.to
    to.tag = "changed"
    msg.via.params["received"] = "x"
    msg.vias[0].params["rport"] = "1"
    msg.contact.uri.params["lr"] = None  # type: ignore[union-attr]
    assert msg.to_tag is None and msg.to.tag is None
    assert msg.via.params == {"branch": "z9hG4bK1"}
    assert msg.contact.uri.params == {}  # type: ignore[union-attr]
    # a change of the headers drops what was cached
    msg.headers.set("To", "<sip:b@example.com>;tag=9")
    msg.headers.add("Via", "SIP/2.0/TCP 192.0.2.9;branch=z9hG4bK2", first=True)
    assert msg.to_tag == "9"
    assert msg.via.host == "192.0.2.9"
    assert [v.host for v in msg.vias] == ["192.0.2.9", "192.0.2.1"]
    msg.headers.remove("Contact")
    assert msg.contact is None and msg.contacts == []
    assert msg.headers.pop_first("Via") is not None
    assert msg.via.host == "192.0.2.1"


TRICKY = ["SIP/2.0/UDP 192.0.2.1;rport=1a", "SIP/2.0/UDP 256.1.1.1", "SIP/2.0/UDP 1.2.3:5060",
          "SIP/2.0/UDP h:65536", "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP h;a=b=c", "sip:a@b@c",
          "sip:host;x=a@b", "sip:a:5060;x=@b", "sip:1.2.3.4a", "SIP:a@b", "sip:a@b;", "sip:a@b?x=y",
          "sip:%4@b", "sip:a@b;%zz=1", "sip:a@" + "b" * 300, '"a\\"<b" <sip:a@b>;tag=1',
          '"a" b <sip:a@b>', '"a\\" <sip:a@b>', "a\tb  <sip:a@b> ", "<sip:a@b>;", "<sip:a@b>;tag",
          '<sip:a@b>;+sip.instance="<urn:x>"', "<sip:a@b> ;tag=1", "<sip:a\"@b>", "* ",
          "\u00e9 <sip:a@b>", "<sip:a@\u0661.1.1.1>", "sip:a@x.", "sip:a@a..b"]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_inputs(text: str) -> None:
    for cls in (SipURI, Via, Address):
        assert _outcome(cls.parse, text) == _outcome(lambda t, c=cls: c._parse_full(t.strip()),
                                                     text)
