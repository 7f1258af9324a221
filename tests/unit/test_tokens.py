"""webfon.tokens: what the gateway and FONBO accept from sercen, and everything they refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from webfon.store import Store
from webfon.tokens import (
    TokenError,
    TokenIssuer,
    TokenVerifier,
    bearer_token,
    ensure_keypair,
    load_private_key,
    load_public_key,
    store_revocation_check,
)

ISSUER = "webfon-sercen"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[TokenIssuer, Path]:
    private_path, public_path = ensure_keypair(tmp_path)
    return TokenIssuer(load_private_key(private_path), ISSUER), public_path


def verifier(public_path: Path, audience: str = "gateway", **kw: Any) -> TokenVerifier:
    return TokenVerifier(load_public_key(public_path), audience=audience, issuer=ISSUER, **kw)


def valid_payload() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "7", "aud": ["gateway", "fonbo"], "iat": now,
            "exp": now + 600, "jti": "abc", "roles": ["user"]}


async def test_valid_token_round_trip(keys: tuple[TokenIssuer, Path]) -> None:
    issuer, public_path = keys
    token, claims = issuer.issue(7, audience=["gateway", "fonbo", "sercen"],
                                 roles=["user", "admin"], ttl=600, sid="s1")
    for audience in ("gateway", "fonbo", "sercen"):
        got = await verifier(public_path, audience).verify(token)
        assert got.user_id == 7 and got.jti == claims.jti
        assert got.has_role("admin") and got.extra["sid"] == "s1"
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"


def test_keypair_created_once_private_owner_only(tmp_path: Path) -> None:
    first = ensure_keypair(tmp_path)
    pem = first[0].read_bytes()
    assert ensure_keypair(tmp_path) == first and first[0].read_bytes() == pem
    assert first[0].stat().st_mode & 0o077 == 0


async def test_tampered_payload_rejected(keys: tuple[TokenIssuer, Path]) -> None:
    issuer, public_path = keys
    token, _ = issuer.issue(7, audience=["gateway"], roles=["user"], ttl=600)
    header, payload, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["roles"] = ["user", "admin"]
    tampered = f"{header}.{b64(json.dumps(data).encode())}.{sig}"
    with pytest.raises(TokenError):
        await verifier(public_path).verify(tampered)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(TokenError):
        await verifier(public_path).verify(flipped)


async def test_expired_rejected(keys: tuple[TokenIssuer, Path]) -> None:
    issuer, public_path = keys
    token, _ = issuer.issue(7, audience=["gateway"], roles=["user"], ttl=-60)
    with pytest.raises(TokenError, match="expired"):
        await verifier(public_path).verify(token)


async def test_wrong_audience_and_issuer_rejected(keys: tuple[TokenIssuer, Path]) -> None:
    issuer, public_path = keys
    token, _ = issuer.issue(7, audience=["fonbo"], roles=["user"], ttl=600)
    with pytest.raises(TokenError, match="not valid for this service"):
        await verifier(public_path, "gateway").verify(token)
    other = TokenIssuer(issuer._key, "someone-else")
    token, _ = other.issue(7, audience=["gateway"], roles=["user"], ttl=600)
    with pytest.raises(TokenError):
        await verifier(public_path).verify(token)


async def test_alg_none_rejected(keys: tuple[TokenIssuer, Path]) -> None:
    _, public_path = keys
    for alg in ("none", "None", "NONE"):
        token = forge({"alg": alg, "typ": "JWT"}, valid_payload(), None)
        with pytest.raises(TokenError):
            await verifier(public_path).verify(token)


async def test_hs256_signed_with_public_key_rejected(keys: tuple[TokenIssuer, Path]) -> None:
    _, public_path = keys
    pem = public_path.read_bytes()
    raw = load_public_key(public_path).public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)
    for secret in (pem, pem.strip(), raw):
        token = forge({"alg": "HS256", "typ": "JWT"}, valid_payload(), secret)
        with pytest.raises(TokenError):
            await verifier(public_path).verify(token)


async def test_other_key_rejected(keys: tuple[TokenIssuer, Path]) -> None:
    _, public_path = keys
    stranger = TokenIssuer(Ed25519PrivateKey.generate(), ISSUER)
    token, _ = stranger.issue(7, audience=["gateway"], roles=["user"], ttl=600)
    with pytest.raises(TokenError):
        await verifier(public_path).verify(token)


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "jti"])
async def test_missing_claims_rejected(keys: tuple[TokenIssuer, Path], missing: str) -> None:
    issuer, public_path = keys
    payload = valid_payload()
    del payload[missing]
    token = jwt.encode(payload, issuer._key, algorithm="EdDSA")
    with pytest.raises(TokenError):
        await verifier(public_path).verify(token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "." * 3, "x" * 5000])
async def test_garbage_rejected(keys: tuple[TokenIssuer, Path], garbage: str) -> None:
    _, public_path = keys
    with pytest.raises(TokenError):
        await verifier(public_path).verify(garbage)


async def test_revoked_rejected(keys: tuple[TokenIssuer, Path], store: Store) -> None:
    issuer, public_path = keys
    token, claims = issuer.issue(7, audience=["gateway"], roles=["user"], ttl=600)
    check = verifier(public_path, is_revoked=store_revocation_check(store))
    assert (await check.verify(token)).jti == claims.jti
    await store.execute("INSERT INTO token_revocations (jti, revoked_at, expires_at) "
                        "VALUES (?, ?, ?)", (claims.jti, time.time(), claims.expires_at))
    with pytest.raises(TokenError, match="revoked"):
        await check.verify(token)
    assert check.decode(token).jti == claims.jti   # decode alone does not look at the store


@pytest.mark.parametrize(("header", "expected"), [
    ("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc ", "abc"), ("BEARER x", "x")])
def test_bearer_token(header: str, expected: str) -> None:
    assert bearer_token(header) == expected


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   ", "abc"])
def test_bearer_token_missing(header: str | None) -> None:
    with pytest.raises(TokenError):
        bearer_token(header)
