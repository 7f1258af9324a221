"""The shared secret that authorises service calls to the PBX control API."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

KEY_NAME = "pbx_control.key"


def control_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / KEY_NAME


def ensure_control_key(data_dir: Path) -> str:
    """Create the key once (mode 600) and return it."""
    path = control_key_path(data_dir)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    try:
        os.link(tmp, path)  # first writer wins when several processes race
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def check_bearer(header: str | None, key: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer <key>`` header."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), key.encode())
