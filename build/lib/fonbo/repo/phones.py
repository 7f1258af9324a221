"""The phones of a user's extensions (multiterminal) and secure-phone provisioning secrets."""

from __future__ import annotations

import json
import secrets
import time
from io import BytesIO
from typing import Any

import qrcode
import qrcode.image.pure

from fonbo.repo.util import bools
from webfon.directory import digest_ha1
from webfon.store.base import Executor, Row

MAX_PHONES = 8
_COLS = ("p.id, p.extension_id, e.number AS extension, p.model, p.position, p.ring_order, "
         "p.enabled, p.secure, p.publishable, p.is_webcall, p.category_id, p.sip_username, "
         "p.secret_expires_at, p.sip_ha1_md5")


def phone_out(row: Row) -> Row:
    row = dict(row)
    row["provisioned"] = bool(row.pop("sip_ha1_md5", ""))
    return bools(row, "enabled", "secure", "publishable", "is_webcall")


async def my_phones(db: Executor, user_id: int) -> list[Row]:
    rows = await db.fetchall(
        f"SELECT {_COLS} FROM phones p JOIN extensions e ON e.id = p.extension_id "
        f"WHERE e.owner_user_id = ? ORDER BY e.number, p.ring_order, p.position", (user_id,))
    return [phone_out(r) for r in rows]


async def my_phone(db: Executor, user_id: int, phone_id: int) -> Row | None:
    row = await db.fetchone(
        f"SELECT {_COLS} FROM phones p JOIN extensions e ON e.id = p.extension_id "
        f"WHERE p.id = ? AND e.owner_user_id = ?", (phone_id, user_id))
    return phone_out(row) if row else None


async def get_phone(db: Executor, phone_id: int) -> Row | None:
    row = await db.fetchone(f"SELECT {_COLS} FROM phones p JOIN extensions e "
                            f"ON e.id = p.extension_id WHERE p.id = ?", (phone_id,))
    return phone_out(row) if row else None


async def set_phone(db: Executor, phone_id: int, changes: dict[str, Any]) -> None:
    allowed = {k: (int(v) if isinstance(v, bool) else v) for k, v in changes.items()
               if k in ("enabled", "ring_order")}
    if allowed:
        sets = ", ".join(f"{k} = ?" for k in allowed)
        await db.execute(f"UPDATE phones SET {sets} WHERE id = ?", [*allowed.values(), phone_id])


def new_secret() -> str:
    return secrets.token_urlsafe(18)


def provisioning_payload(*, username: str, secret: str, realm: str, registrar: str,
                         extension: str, expires_at: float) -> str:
    return json.dumps({"type": "webfon-provisioning", "v": 1, "username": username,
                       "password": secret, "realm": realm, "registrar": registrar,
                       "extension": extension, "expires_at": int(expires_at)},
                      separators=(",", ":"), sort_keys=True)


def qr_png(payload: str) -> bytes:
    image = qrcode.make(payload, image_factory=qrcode.image.pure.PyPNGImage,
                        error_correction=qrcode.constants.ERROR_CORRECT_M)
    out = BytesIO()
    image.save(out)
    return out.getvalue()


async def store_new_secret(db: Executor, phone: Row, secret: str, realm: str,
                           expires_at: float) -> None:
    """Keep only the digest HA1s of the secret (MD5 and SHA-256), never the secret."""
    user = str(phone["sip_username"])
    await db.execute(
        "UPDATE phones SET sip_ha1_md5 = ?, sip_ha1_sha256 = ?, secret_expires_at = ? "
        "WHERE id = ?", (digest_ha1(user, realm, secret, "MD5"),
                         digest_ha1(user, realm, secret, "SHA-256"), expires_at, phone["id"]))


def expiry(days: float) -> float:
    return time.time() + days * 86400
