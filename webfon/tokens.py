"""Signed access tokens: issued by sercen, verified by the gateway and FONBO with a public key.

Tokens are JWTs signed with Ed25519 (``EdDSA``); verifiers pin that algorithm, so ``alg: none``
and HS256-signed-with-the-public-key tokens are refused. Required claims: ``iss``, ``aud``,
``sub``, ``exp``, ``iat``, ``jti``; ``roles`` lists the user's roles (``user``, ``admin``,
``test``).
The key pair lives under ``<data_dir>/keys`` unless settings name other files.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
DEFAULT_ISSUER = "webfon-sercen"
PRIVATE_KEY_NAME = "sercen_ed25519.pem"
PUBLIC_KEY_NAME = "sercen_ed25519.pub.pem"


class TokenError(Exception):
    """The token is missing, malformed, badly signed, expired, revoked or for someone else."""


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    roles: tuple[str, ...]
    audience: tuple[str, ...]
    issuer: str
    issued_at: float
    expires_at: float
    jti: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int:
        return int(self.sub)

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


def key_paths(data_dir: Path) -> tuple[Path, Path]:
    keys = data_dir / "keys"
    return keys / PRIVATE_KEY_NAME, keys / PUBLIC_KEY_NAME


def ensure_keypair(data_dir: Path) -> tuple[Path, Path]:
    """Create the signing key pair once (private key readable by the owner only)."""
    private_path, public_path = key_paths(data_dir)
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = private_path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, private_path)
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TokenError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise TokenError(f"{path} is not an Ed25519 public key")
    return key


class TokenIssuer:
    def __init__(self, private_key: Ed25519PrivateKey, issuer: str = DEFAULT_ISSUER) -> None:
        self._key = private_key
        self.issuer = issuer

    def issue(self, sub: str | int, audience: Iterable[str], roles: Iterable[str], ttl: float,
              **extra: Any) -> tuple[str, Claims]:
        now = time.time()
        claims = Claims(sub=str(sub), roles=tuple(roles), audience=tuple(audience),
                        issuer=self.issuer, issued_at=now, expires_at=now + ttl,
                        jti=secrets.token_urlsafe(16), extra=dict(extra))
        payload = {**extra, "iss": claims.issuer, "sub": claims.sub, "aud": list(claims.audience),
                   "iat": int(now), "exp": int(now + ttl), "jti": claims.jti,
                   "roles": list(claims.roles)}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims


RevocationCheck = Callable[[str], Awaitable[bool]]
RefusalCheck = Callable[[Claims], Awaitable[str | None]]
"""A further check after the signature: a reason to refuse the token (an ended session, a
disabled account; see :mod:`webfon.session_end`), or None."""


class TokenVerifier:
    """Checks signature (EdDSA only), issuer, audience, expiry and, optionally, revocation."""

    def __init__(self, public_key: Ed25519PublicKey, audience: str,
                 issuer: str = DEFAULT_ISSUER, leeway: float = 5.0,
                 is_revoked: RevocationCheck | None = None,
                 refuse: RefusalCheck | None = None) -> None:
        self._key = public_key
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        self.is_revoked = is_revoked
        self.refuse = refuse

    def decode(self, token: str) -> Claims:
        if not token or not isinstance(token, str):
            raise TokenError("missing token")
        try:
            payload = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token not valid for this service") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        roles = payload.get("roles") or []
        aud = payload["aud"]
        standard = {"iss", "sub", "aud", "iat", "exp", "jti", "roles"}
        return Claims(sub=str(payload["sub"]),
                      roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
                      audience=tuple(aud) if isinstance(aud, list) else (aud,),
                      issuer=payload["iss"], issued_at=float(payload["iat"]),
                      expires_at=float(payload["exp"]), jti=str(payload["jti"]),
                      extra={k: v for k, v in payload.items() if k not in standard})

    async def verify(self, token: str) -> Claims:
        claims = self.decode(token)
        if self.is_revoked is not None and await self.is_revoked(claims.jti):
            raise TokenError("token revoked")
        if self.refuse is not None:
            reason = await self.refuse(claims)
            if reason is not None:
                raise TokenError(f"token refused: {reason}")
        return claims


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value, or TokenError."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("missing bearer token")
    return token.strip()


def store_revocation_check(store: Any) -> RevocationCheck:
    """A revocation check backed by the shared store's ``token_revocations`` table."""

    async def is_revoked(jti: str) -> bool:
        return bool(await store.fetchval(
            "SELECT COUNT(*) AS n FROM token_revocations WHERE jti = ?", (jti,)))

    return is_revoked
