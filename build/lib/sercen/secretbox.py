"""Encryption of TOTP secrets at rest (AES-256-GCM) and keyed hashes of short codes.

The 32-byte key comes from ``secrets_key`` (urlsafe base64) or from a key file generated once
under ``<data_dir>/keys/sercen_secrets.key`` (mode 600). Each ciphertext is bound to its purpose
and owner through the associated data (``totp:<user_id>``), so a secret copied to another user's
row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"


class SecretBoxError(Exception):
    """The key is unusable or a ciphertext does not decrypt with it."""


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise SecretBoxError("secrets key is not urlsafe base64") from None
    if len(key) != 32:
        raise SecretBoxError(f"secrets key must be 32 bytes, got {len(key)}")
    return key


def ensure_key_file(path: Path) -> bytes:
    """Read the key file, creating it (owner-only) with a fresh random key the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
        try:
            os.link(tmp, path)  # never replace a key another process created meanwhile
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return decode_key(path.read_text().strip())


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretBoxError("secrets key must be 32 bytes")
        self._aead = AESGCM(key)
        self._mac_key = hashlib.sha256(b"webfon-sercen-mac\x00" + key).digest()

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str) -> str:
        if not token.startswith(_PREFIX):
            raise SecretBoxError("unknown ciphertext format")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX):])
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretBoxError("ciphertext does not decrypt with this key") from None

    def mac(self, *parts: str) -> str:
        """Keyed hash (HMAC-SHA256, hex) of ``parts``; compare results with hmac.compare_digest."""
        return hmac.new(self._mac_key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def opaque_hash(value: str) -> str:
    """Lookup key for a high-entropy opaque value (challenge id, refresh token)."""
    return hashlib.sha256(value.encode()).hexdigest()
