"""Where a user's SIP requests may go (gateway.plugins.sip.policy) and the request checks that
keep ids and headers the client's own (gateway.plugins.sip.params)."""

from __future__ import annotations

import pytest

from gateway.plugins.sip import params
from gateway.plugins.sip.codes import SipPluginError
from gateway.plugins.sip.policy import DestinationRefused, Destinations, Server, Sources
from gateway.settings import GatewaySettings
from webfon.config import ConfigError
from webfon.sip import SipURI


def allowed(*entries: str) -> Destinations:
    return Destinations(tuple(Server.parse(e) for e in entries))


@pytest.mark.parametrize(("entry", "host", "port", "ok"), [
    ("127.0.0.1:5070", "127.0.0.1", 5070, True),
    ("127.0.0.1:5070", "127.0.0.1", 5071, False),
    ("127.0.0.1", "127.0.0.1", 5060, True),         # no port: the SIP default ports
    ("127.0.0.1", "127.0.0.1", 5061, True),
    ("127.0.0.1", "127.0.0.1", 8080, False),
    ("127.0.0.1:*", "127.0.0.1", 8080, True),
    ("sip:pbx.example.com:5080", "PBX.Example.com", 5080, True),  # names: any case
    ("pbx.example.com", "pbx.example.com.", 5060, False),  # written differently: refused
    ("[::1]:5070", "0:0::1", 5070, True),          # addresses in canonical form
    ("10.1.2.0/24:*", "10.1.2.77", 9, True),
    ("10.1.2.0/24:*", "10.1.3.1", 9, False),
    ("10.1.2.0/24:*", "host.in.that.net", 9, False),  # a name is never one of its addresses
])
def test_entries_match_host_and_port(entry: str, host: str, port: int, ok: bool) -> None:
    assert allowed(entry).allows(host, port) is ok


def test_names_are_never_resolved() -> None:
    # localhost is 127.0.0.1, but only what is written counts
    pbx = allowed("127.0.0.1:5060")
    with pytest.raises(DestinationRefused):
        pbx.check(SipURI.parse("sip:x@localhost:5060"), "Destination")
    with pytest.raises(DestinationRefused):
        pbx.check(SipURI.parse("sip:x@127.1:5060"), "Destination")
    pbx.check(SipURI.parse("sip:x@127.0.0.1"), "Destination")


@pytest.mark.parametrize(("entry", "source", "ok"), [
    ("127.0.0.1:5070", "127.0.0.1", True),    # by address: a TCP peer's port is its own
    ("127.0.0.1:5070", "127.0.0.2", False),
    ("10.1.2.0/24:*", "10.1.2.77", True),
    ("10.1.2.0/24:*", "10.1.3.1", False),
    ("[::1]:5070", "0:0::1", True),
    ("localhost:5080", "127.0.0.1", True),    # a listed name: what it resolves to
    ("localhost:5080", "192.0.2.1", False),
    ("no-such-host.invalid", "127.0.0.1", False),
])
async def test_requests_come_only_from_the_allowed_servers(entry: str, source: str,
                                                           ok: bool) -> None:
    assert await Sources().allows(allowed(entry), source) is ok


async def test_a_source_that_is_not_an_address_is_refused() -> None:
    assert not await Sources().allows(allowed("127.0.0.1:*"), "pbx.example.com")


def test_maddr_and_uri_headers_cannot_send_a_request_elsewhere() -> None:
    pbx = allowed("127.0.0.1:5060")
    with pytest.raises(DestinationRefused, match=r"maddr 10\.0\.0\.5:5060"):
        pbx.check(SipURI.parse("sip:x@127.0.0.1;maddr=10.0.0.5"), "Destination")
    with pytest.raises(DestinationRefused, match="with headers"):
        pbx.check(SipURI.parse("sip:x@127.0.0.1?Route=%3Csip:10.0.0.5%3Blr%3E"),
                  "Transfer target")
    pbx.check(SipURI.parse("sip:x@127.0.0.1;maddr=127.0.0.1;transport=tcp"), "Destination")


def test_default_is_the_pbx_only() -> None:
    settings = GatewaySettings.load(None, environ={}, sip_registrar="sip:10.0.0.2:5080",
                                    sip_outbound_proxy="10.0.0.3")
    servers = settings.sip_destinations()
    assert servers.describe() == ["10.0.0.2:5080", "10.0.0.3"]
    assert not servers.allows("10.0.0.2", 5060)
    assert GatewaySettings.load(None, environ={}).sip_destinations().servers == ()
    listed = GatewaySettings.load(None, environ={
        "WEBFON_GATEWAY_SIP_ALLOWED_SERVERS": "pbx.example, 10.9.0.0/16:*"},
        sip_registrar="sip:10.0.0.2:5080").sip_destinations()
    assert listed.describe() == ["pbx.example", "10.9.0.0/16:*"]  # the list replaces it


@pytest.mark.parametrize("entry", ["a@b", "host:port", "host:70000", "[::1", "10.0.0.0/33",
                                   "sip:", "host;maddr=x"])
def test_bad_entries_are_configuration_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match="sip_allowed_servers"):
        GatewaySettings.load(None, environ={}, sip_allowed_servers=(entry,))


@pytest.mark.parametrize("name", ["Route", "route", "Via", "v", "Call-ID", "i", "Contact",
                                  "Replaces", "Max-Forwards", "Record-Route"])
def test_client_headers_cannot_route_or_take_dialogs(name: str) -> None:
    with pytest.raises(SipPluginError, match="set by the gateway") as info:
        params.headers({"headers": {name: "<sip:10.0.0.5;lr>"}})
    assert info.value.code == 444
    assert params.headers({"headers": {"X-Tag": "ok", "Subject": "hi"}}) == \
        [("X-Tag", "ok"), ("Subject", "hi")]


def test_header_strings_and_call_ids_cannot_carry_line_breaks() -> None:
    with pytest.raises(SipPluginError, match="display_name"):
        params.header_safe({"display_name": "Eve\r\nRoute: <sip:10.0.0.5;lr>"},
                           "display_name")
    params.header_safe({"display_name": "Zoë \"the\" Great"}, "display_name")
    for bad in ("a b", "x\r\nRoute: <sip:10.0.0.5>", "", "c" * 129, "ñ"):
        with pytest.raises(SipPluginError, match="call_id") as info:
            params.call_id(bad)
        assert info.value.code == 444
    assert params.call_id("kT9x-3@host.example") == "kT9x-3@host.example"
