"""SIP over TLS: its own port, certificates checked by name (SNI), connections reused for
the address a peer gives in its Via, clear errors for unusable certificate files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.support.certs import CertAuthority
from webfon.sip import SipEndpoint, Timers
from webfon.sip.tls import TlsConfig, TlsConfigError


@pytest.fixture
def endpoint(make_endpoint: Callable[..., Awaitable[SipEndpoint]]
             ) -> Callable[..., Awaitable[SipEndpoint]]:
    """Endpoints with the RFC's timers. These tests open connections and make TLS handshakes
    within a transaction's time: with the fast test timers (64*T1 = 0.64 s) a handshake on a
    busy machine outlasts the transaction, and the request ends in 408 instead of the
    handshake's own outcome. Over TLS nothing is retransmitted: RFC timers cost no time."""

    async def factory(**kwargs: object) -> SipEndpoint:
        return await make_endpoint(timers=Timers(), **kwargs)

    return factory


@pytest.fixture
def ca(tmp_path: Path) -> CertAuthority:
    return CertAuthority(tmp_path / "pki")


def _tls(ca: CertAuthority, label: str, **kw: object) -> TlsConfig:
    files = ca.issue(label, names=(f"{label}.example.test",), addresses=("127.0.0.1",))
    return TlsConfig(cert_file=files.cert, key_file=files.key, ca_file=ca.ca_file, **kw)  # type: ignore[arg-type]


def _options(ep: SipEndpoint, uri: str) -> object:
    return ep.create_request("OPTIONS", uri, from_="<sip:c@example.test>",
                             to="<sip:s@example.test>")


async def test_tls_on_its_own_port_with_the_certificate_checked_by_name(
        endpoint, ca: CertAuthority) -> None:
    server = await endpoint(transports=("udp", "tcp", "tls"), tls=_tls(ca, "pbx"))
    client = await endpoint(transports=("udp", "tls"), tls=_tls(ca, "phone"))
    server.handler = lambda req, tx: tx and tx.respond(200)
    assert server.port_of("tls") not in (0, server.port)
    assert server.contact_uri("u", "tls").port == server.port_of("tls")
    uri = f"sip:s@127.0.0.1:{server.port_of('tls')};transport=tls"
    response = await client.request(_options(client, uri))
    assert response.status == 200 and response.via.transport == "TLS"
    assert response.via.port == client.port_of("tls")
    # the name the certificate bears, given for its address: checked and accepted
    other = await endpoint(transports=("udp", "tls"), tls=_tls(ca, "trunk"))
    other.tls_names[("127.0.0.1", server.port_of("tls"))] = "pbx.example.test"
    assert (await other.request(_options(other, uri))).status == 200


async def test_a_certificate_for_another_name_or_from_another_ca_is_refused(
        endpoint, ca: CertAuthority, tmp_path: Path) -> None:
    server = await endpoint(transports=("udp", "tls"), tls=_tls(ca, "pbx"))
    server.handler = lambda req, tx: tx and tx.respond(200)
    uri = f"sip:s@127.0.0.1:{server.port_of('tls')};transport=tls"
    client = await endpoint(transports=("udp", "tls"), tls=_tls(ca, "phone"))
    client.tls_names[("127.0.0.1", server.port_of("tls"))] = "someone-else.example.test"
    response = await client.request(_options(client, uri))
    assert response.status == 503 and response.local
    stranger = CertAuthority(tmp_path / "other", "another CA")
    files = stranger.issue("x", names=("x.example.test",))
    untrusting = await endpoint(transports=("udp", "tls"), tls=TlsConfig(
        cert_file=files.cert, key_file=files.key, ca_file=stranger.ca_file))
    response = await untrusting.request(_options(untrusting, uri))
    assert response.status == 503 and response.local


async def test_requests_to_a_peers_listening_address_reuse_its_connection(
        endpoint, ca: CertAuthority, tmp_path: Path) -> None:
    server = await endpoint(transports=("udp", "tls"), tls=_tls(ca, "pbx"))
    # the phone's own listener has a certificate the server does not trust: a connection
    # the server opened to it would fail, so an answer proves the phone's connection was used
    stranger = CertAuthority(tmp_path / "other", "another CA")
    files = stranger.issue("phone", names=("phone.example.test",))
    phone = await endpoint(transports=("udp", "tls"), tls=TlsConfig(
        cert_file=files.cert, key_file=files.key, ca_file=ca.ca_file))
    got: list[str] = []
    server.handler = lambda req, tx: tx and tx.respond(200)
    phone.handler = lambda req, tx: (got.append(req.method), tx and tx.respond(200))
    uri = f"sip:s@127.0.0.1:{server.port_of('tls')};transport=tls"
    assert (await phone.request(_options(phone, uri))).status == 200
    back = f"sip:p@127.0.0.1:{phone.port_of('tls')};transport=tls"
    assert (await server.request(_options(server, back))).status == 200
    assert got == ["OPTIONS"]
    tls = server.transports["tls"]
    assert ("127.0.0.1", phone.port_of("tls")) in tls.aliases  # type: ignore[attr-defined]


def test_unusable_certificate_files_say_which(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(TlsConfigError, match="needs a certificate"):
        TlsConfig().server_context()
    with pytest.raises(TlsConfigError, match=r"missing\.pem"):
        TlsConfig(cert_file=missing, key_file=missing).server_context()
    with pytest.raises(TlsConfigError, match="CA file"):
        TlsConfig(ca_file=missing).client_context()
