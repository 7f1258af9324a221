"""Creating the numbered things of the data model: users, extensions, queues and phones.

A number must be registered in ``numbering`` with its kind before a user, extension or queue
can take it; these helpers do both in the caller's transaction so the schema's uniqueness
rules (a number belongs to one thing) hold whoever writes.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from webfon.passwords import hash_password
from webfon.store.base import Executor

DEFAULT_REALM = "webfon"


def digest_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """HA1 = H(username:realm:password) for SIP digest (MD5 or SHA-256)."""
    data = f"{username}:{realm}:{password}".encode()
    if algorithm.upper() in ("SHA-256", "SHA256"):
        return hashlib.sha256(data).hexdigest()
    return hashlib.md5(data).hexdigest()  # RFC 2617 digest mandates MD5


async def reserve_number(tx: Executor, number: str, kind: str) -> None:
    await tx.execute("INSERT INTO numbering (number, kind) VALUES (?, ?)", (number, kind))


async def create_user(tx: Executor, *, display_name: str, login_number: str, password: str,
                      **columns: Any) -> int:
    await reserve_number(tx, login_number, "user")
    row: dict[str, Any] = {"display_name": display_name, "login_number": login_number,
                           "password_hash": hash_password(password), "created_at": time.time()}
    if "pin" in columns:
        pin = columns.pop("pin")
        row["pin_hash"] = hash_password(str(pin)) if pin else None
    row.update(columns)
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return await tx.insert(f"INSERT INTO users ({cols}) VALUES ({marks})", list(row.values()))


async def create_extension(tx: Executor, *, number: str, **columns: Any) -> int:
    await reserve_number(tx, number, "extension")
    row = {"number": number, **columns}
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return await tx.insert(f"INSERT INTO extensions ({cols}) VALUES ({marks})",
                           list(row.values()))


async def create_queue(tx: Executor, *, number: str, name: str, kind: str,
                       **columns: Any) -> int:
    await reserve_number(tx, number, "queue")
    row = {"number": number, "name": name, "kind": kind, **columns}
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return await tx.insert(f"INSERT INTO queues ({cols}) VALUES ({marks})", list(row.values()))


async def add_phone(tx: Executor, *, extension_id: int, position: int, sip_username: str,
                    sip_password: str | None, realm: str = DEFAULT_REALM,
                    **columns: Any) -> int:
    row: dict[str, Any] = {"extension_id": extension_id, "position": position,
                           "sip_username": sip_username}
    if sip_password:
        row["sip_ha1_md5"] = digest_ha1(sip_username, realm, sip_password, "MD5")
        row["sip_ha1_sha256"] = digest_ha1(sip_username, realm, sip_password, "SHA-256")
    row.update(columns)
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return await tx.insert(f"INSERT INTO phones ({cols}) VALUES ({marks})", list(row.values()))
