"""Digest authentication: RFC test vectors, server verification, client answers."""

from __future__ import annotations

import pytest

from webfon.sip import (
    DigestClient,
    DigestServer,
    ParseError,
    Request,
    compute_ha1,
    compute_response,
)
from webfon.sip.digest import Challenge, Credentials


def test_rfc2617_vector() -> None:
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert compute_response(algorithm="MD5", ha1=ha1,
                            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET",
                            uri="/dir/index.html", qop="auth", nc="00000001",
                            cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize("algorithm, expected", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_vectors(algorithm: str, expected: str) -> None:
    ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    assert compute_response(
        algorithm=algorithm, ha1=ha1, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        method="GET", uri="/dir/index.html", qop="auth", nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ") == expected


def _register() -> Request:
    req = Request("REGISTER", "sip:pbx.test")
    for name, value in [("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1"),
                        ("From", "<sip:alice@pbx.test>;tag=1"), ("To", "<sip:alice@pbx.test>"),
                        ("Call-ID", "reg1"), ("CSeq", "1 REGISTER")]:
        req.headers.add(name, value)
    return req


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_challenge_answer_verify(algorithm: str) -> None:
    clock = Clock()
    server = DigestServer("pbx.test", b"secret-key", algorithms=[algorithm], clock=clock)
    req = _register()
    assert server.credentials(req) is None
    challenge = server.challenge(req)
    assert challenge.status == 401
    value = challenge.headers.get("WWW-Authenticate") or ""
    assert f"algorithm={algorithm}" in value and 'qop="auth"' in value
    client = DigestClient("alice", "pw")
    authed = client.authorize(req, challenge)
    assert authed is not None and authed.cseq.seq == 2 and "Via" not in authed.headers
    creds = server.credentials(authed)
    assert creds is not None and creds.algorithm == algorithm
    ha1 = compute_ha1("alice", "pbx.test", "pw", algorithm)
    assert server.verify(authed, creds, ha1).ok
    # the same nc again is a replay
    assert server.verify(authed, creds, ha1).status == "invalid"
    # wrong password
    assert server.verify(authed, creds, compute_ha1("alice", "pbx.test", "x", algorithm)
                         ).status == "failed"
    # unknown user
    assert server.verify(authed, creds, None).status == "failed"
    # expired nonce: stale (only when the password is right)
    fresh = client.authorize(req, server.challenge(req))
    assert fresh is not None
    clock.now += 301
    fresh_creds = server.credentials(fresh)
    assert fresh_creds is not None
    assert server.verify(fresh, fresh_creds, ha1).status == "stale"
    stale = server.challenge(req, stale=True)
    assert "stale=true" in (stale.headers.get("WWW-Authenticate") or "")
    # client answers a stale challenge even for a nonce it already tried
    assert client.authorize(req, stale) is not None


def test_forged_nonce_and_mismatches() -> None:
    server = DigestServer("pbx.test", b"k1")
    other = DigestServer("pbx.test", b"k2")
    req = _register()
    client = DigestClient("alice", "pw")
    authed = client.authorize(req, other.challenge(req))  # nonce from another key
    assert authed is not None
    creds = server.credentials(authed)
    assert creds is not None
    ha1 = compute_ha1("alice", "pbx.test", "pw", creds.algorithm)
    assert server.verify(authed, creds, ha1).reason == "unknown nonce"
    good = client.authorize(req, server.challenge(req))
    assert good is not None
    good.uri = good.uri.copy(host="elsewhere.test")
    creds = server.credentials(good)
    assert creds is not None
    assert server.verify(good, creds, ha1).reason == "uri mismatch"


def test_client_prefers_sha256_and_uses_ha1() -> None:
    server = DigestServer("pbx.test")
    req = _register()
    challenge = server.challenge(req, proxy=True)
    assert challenge.status == 407
    assert len(challenge.headers.get_all("Proxy-Authenticate")) == 2
    client = DigestClient("alice", "pw")
    authed = client.authorize(req, challenge)
    assert authed is not None
    creds = Credentials.parse(authed.headers.get("Proxy-Authorization") or "")
    assert creds.algorithm == "SHA-256"
    md5_only = DigestClient("alice", ha1_md5=compute_ha1("alice", "pbx.test", "pw"))
    authed = md5_only.authorize(req, challenge)
    assert authed is not None
    creds = Credentials.parse(authed.headers.get("Proxy-Authorization") or "")
    assert creds.algorithm == "MD5"
    assert server.credentials(authed) is None  # Authorization by default
    found = server.credentials(authed, proxy=True)
    assert found is not None and server.verify(authed, found,
                                               compute_ha1("alice", "pbx.test", "pw")).ok
    # a second answer to the same (non-stale) nonce is refused: wrong password loop guard
    assert md5_only.authorize(req, challenge) is None


async def test_authenticate_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    server = DigestServer("pbx.test")
    req = _register()
    req.source = ("192.0.2.7", 5060)
    bad = DigestClient("alice", "wrong").authorize(req, server.challenge(req))
    assert bad is not None
    bad.source = req.source

    async def lookup(user: str, algorithm: str) -> str | None:
        return compute_ha1(user, "pbx.test", "pw", algorithm)

    result = await server.authenticate(bad, lookup)
    assert result.status == "failed" and result.username == "alice"
    line = [r.getMessage() for r in caplog.records if "digest auth failed" in r.getMessage()]
    assert line == ["digest auth failed user=alice ip=192.0.2.7 reason=wrong credentials"]
    assert "pw" not in caplog.text.replace("pbx", "")
    assert (await server.authenticate(req, lookup)).status == "missing"


def test_parse_errors() -> None:
    for bad in ["Digest", "Basic abc", 'Digest username="a"', 'Digest realm="a", x',
                'Digest username="a, realm="r"', "Digest username=a b"]:
        with pytest.raises(ParseError):
            Credentials.parse(bad)
    ch = Challenge.parse('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth,auth-int"')
    assert ch.qop == ["auth", "auth-int"] and ch.algorithm == "SHA-256"
    assert Challenge.parse(str(ch)).nonce == "n"


def test_auth_header_parsers_agree() -> None:
    """The parser for plain parameter lists and the general one give the same answers."""
    from webfon.sip import digest

    cases = ['Digest username="2001", realm="pbx", nonce="n-_1", uri="sip:2002@h:5060", '
             'response="0f", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"',
             "Digest a=b,,c=d", "Digest ,a=b", "Digest a=b,", 'Digest a="", b=c',
             'Digest a="x\\"y"', "Digest a=b c=d", 'Digest a = "b" , c= d ', 'Digest a="b',
             "Digest a=<x>", 'Digest a="1,2", B=x', "Digest a=b;c", 'Digest a="é"']

    def outcome(value: str) -> object:
        try:
            return digest.parse_auth_header(value)
        except ParseError:
            return "error"

    fast = [outcome(v) for v in cases]
    original = digest._parse_simple_params
    digest._parse_simple_params = lambda rest: None  # type: ignore[assignment]
    try:
        general = [outcome(v) for v in cases]
    finally:
        digest._parse_simple_params = original
    assert fast == general
    assert fast[0] == ("Digest", {"username": "2001", "realm": "pbx", "nonce": "n-_1",
                                  "uri": "sip:2002@h:5060", "response": "0f",
                                  "algorithm": "MD5", "qop": "auth", "nc": "00000001",
                                  "cnonce": "c"})
    assert fast[1] == ("Digest", {"a": "b", "c": "d"}) and fast[6] == "error"
