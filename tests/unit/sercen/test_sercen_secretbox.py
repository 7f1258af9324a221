"""TOTP secrets encrypted at rest: AES-GCM bound to the owner, key file created once."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from sercen.secretbox import SecretBox, SecretBoxError, decode_key, ensure_key_file


def test_round_trip_and_binding(tmp_path: Path) -> None:
    box = SecretBox(ensure_key_file(tmp_path / "k"))
    sealed = box.encrypt("JBSWY3DPEHPK3PXP", "totp:7")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert sealed != box.encrypt("JBSWY3DPEHPK3PXP", "totp:7")  # fresh nonce each time
    assert box.decrypt(sealed, "totp:7") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(SecretBoxError):
        box.decrypt(sealed, "totp:8")                           # moved to another user
    other = SecretBox(ensure_key_file(tmp_path / "other"))
    with pytest.raises(SecretBoxError):
        other.decrypt(sealed, "totp:7")                         # another key
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretBoxError):
        box.decrypt(tampered, "totp:7")
    with pytest.raises(SecretBoxError):
        box.decrypt("plain-text", "totp:7")


def test_key_file_created_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "sercen_secrets.key"
    first = ensure_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key_file(path) == first
    assert len(first) == 32


def test_macs_differ_per_key_and_input(tmp_path: Path) -> None:
    a = SecretBox(ensure_key_file(tmp_path / "a"))
    b = SecretBox(ensure_key_file(tmp_path / "b"))
    assert a.mac("email", "x", "123456") == a.mac("email", "x", "123456")
    assert a.mac("email", "x", "123456") != a.mac("email", "x", "123457")
    assert a.mac("email", "x", "123456") != b.mac("email", "x", "123456")


@pytest.mark.parametrize("text", ["not base64!!", base64.urlsafe_b64encode(b"short").decode()])
def test_bad_keys(text: str) -> None:
    with pytest.raises(SecretBoxError):
        decode_key(text)
