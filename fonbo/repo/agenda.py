"""Agenda queries: personal contacts, the corporate directory and search across both."""

from __future__ import annotations

import time
from typing import Any

from fonbo.repo.util import bools, digits_of, insert_row, like_pattern, update_row
from webfon.store.base import Executor, Row

CONTACT_FIELDS = ("name", "number", "email", "company", "notes", "favourite")
_COLS = "id, name, number, email, company, notes, favourite, created_at, updated_at"


def contact_out(row: Row) -> Row:
    return bools(dict(row), "favourite")


def _search_clause(q: str, prefix: str = "") -> tuple[str, list[Any]]:
    pattern = like_pattern(q.strip())
    parts = [f"{prefix}name LIKE ? ESCAPE '!'", f"{prefix}email LIKE ? ESCAPE '!'",
             f"{prefix}company LIKE ? ESCAPE '!'"]
    params: list[Any] = [pattern, pattern, pattern]
    digits = digits_of(q)
    parts.append(f"{prefix}number LIKE ? ESCAPE '!'")
    params.append(like_pattern(digits) if digits else pattern)
    return "(" + " OR ".join(parts) + ")", params


async def list_contacts(db: Executor, owner: int, *, q: str = "", favourite: bool | None = None,
                        limit: int = 50, offset: int = 0) -> tuple[list[Row], int]:
    where = ["owner_user_id = ?"]
    params: list[Any] = [owner]
    if q.strip():
        clause, extra = _search_clause(q)
        where.append(clause)
        params += extra
    if favourite is not None:
        where.append("favourite = ?")
        params.append(int(favourite))
    cond = " AND ".join(where)
    total = int(await db.fetchval(f"SELECT COUNT(*) AS n FROM contacts WHERE {cond}", params)
                or 0)
    rows = await db.fetchall(
        f"SELECT {_COLS} FROM contacts WHERE {cond} ORDER BY favourite DESC, name, id "
        f"LIMIT ? OFFSET ?", [*params, limit, offset])
    return [contact_out(r) for r in rows], total


async def get_contact(db: Executor, owner: int, contact_id: int) -> Row | None:
    row = await db.fetchone(f"SELECT {_COLS} FROM contacts WHERE id = ? AND owner_user_id = ?",
                            (contact_id, owner))
    return contact_out(row) if row else None


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k in CONTACT_FIELDS}
    if "favourite" in out:
        out["favourite"] = int(bool(out["favourite"]))
    for key in ("name", "email", "company"):
        if isinstance(out.get(key), str):
            out[key] = out[key].strip()
    return out


class ContactInvalid(ValueError):
    """A contact without a name, or with neither a number nor an email."""


def check_contact(row: dict[str, Any]) -> None:
    if not str(row.get("name", "")).strip():
        raise ContactInvalid("name: must not be empty")
    if not row.get("number") and not row.get("email"):
        raise ContactInvalid("a contact needs a number or an email")


async def create_contact(db: Executor, owner: int, fields: dict[str, Any]) -> Row:
    now = time.time()
    row = {"name": "", "number": "", "email": "", "company": "", "notes": "", "favourite": 0,
           **_normalise(fields)}
    check_contact(row)
    new_id = await insert_row(db, "contacts", {"owner_user_id": owner, **row,
                                               "created_at": now, "updated_at": now})
    created = await get_contact(db, owner, new_id)
    assert created is not None
    return created


async def update_contact(db: Executor, owner: int, contact_id: int, fields: dict[str, Any]
                         ) -> Row | None:
    current = await get_contact(db, owner, contact_id)
    if current is None:
        return None
    changes = _normalise(fields)
    check_contact({**current, **changes})
    changes["updated_at"] = time.time()
    await update_row(db, "contacts", {"id": contact_id, "owner_user_id": owner}, changes)
    return await get_contact(db, owner, contact_id)


async def delete_contact(db: Executor, owner: int, contact_id: int) -> bool:
    if await get_contact(db, owner, contact_id) is None:
        return False
    await db.execute("DELETE FROM contacts WHERE id = ? AND owner_user_id = ?",
                     (contact_id, owner))
    return True


async def all_contacts(db: Executor, owner: int) -> list[Row]:
    rows = await db.fetchall(f"SELECT {_COLS} FROM contacts WHERE owner_user_id = ? "
                             f"ORDER BY name, id", (owner,))
    return [contact_out(r) for r in rows]


async def import_contacts(db: Executor, owner: int, contacts: list[dict[str, Any]]
                          ) -> tuple[int, int]:
    """Insert ``contacts`` (already checked); exact duplicates of existing ones are skipped.

    Returns (imported, duplicates). Run it inside a transaction for all-or-nothing.
    """
    existing = {(r["name"], r["number"], r["email"]) for r in await db.fetchall(
        "SELECT name, number, email FROM contacts WHERE owner_user_id = ?", (owner,))}
    now = time.time()
    rows = []
    duplicates = 0
    for c in contacts:
        row = {"name": "", "number": "", "email": "", "company": "", "notes": "", "favourite": 0,
               **_normalise(c)}
        key = (row["name"], row["number"], row["email"])
        if key in existing:
            duplicates += 1
            continue
        existing.add(key)
        rows.append((owner, row["name"], row["number"], row["email"], row["company"],
                     row["notes"], row["favourite"], now, now))
    if rows:
        await db.executemany(
            "INSERT INTO contacts (owner_user_id, name, number, email, company, notes, "
            "favourite, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows), duplicates


# --- corporate directory -------------------------------------------------------------------
async def directory(db: Executor, *, q: str = "", limit: int = 50, offset: int = 0
                    ) -> tuple[list[Row], int]:
    """Users (with their extensions), unowned desk extensions and corporate contacts."""
    params: list[Any] = []
    user_cond = "u.enabled = 1 AND u.user_type <> 'test'"
    ext_rows = await db.fetchall(
        "SELECT number, owner_user_id FROM extensions WHERE kind = 'hard' ORDER BY number")
    by_owner: dict[int, list[str]] = {}
    for e in ext_rows:
        if e["owner_user_id"] is not None:
            by_owner.setdefault(int(e["owner_user_id"]), []).append(str(e["number"]))
    text = q.strip()
    digits = digits_of(text)
    if text:
        pattern = like_pattern(text)
        num_pattern = like_pattern(digits) if digits else pattern
        user_cond += (" AND (u.display_name LIKE ? ESCAPE '!' OR u.email LIKE ? ESCAPE '!' "
                      "OR u.login_number LIKE ? ESCAPE '!' OR EXISTS (SELECT 1 FROM extensions x "
                      "WHERE x.owner_user_id = u.id AND x.kind = 'hard' "
                      "AND x.number LIKE ? ESCAPE '!'))")
        params = [pattern, pattern, num_pattern, num_pattern]
    users = await db.fetchall(
        f"SELECT u.id, u.display_name AS name, u.login_number AS number, u.email "
        f"FROM users u WHERE {user_cond}", params)
    items: list[Row] = [{"source": "user", "id": u["id"], "name": u["name"],
                         "number": u["number"], "email": u["email"], "company": "",
                         "extensions": by_owner.get(int(u["id"]), [])} for u in users]
    for e in await db.fetchall("SELECT id, number FROM extensions WHERE kind = 'hard' "
                               "AND owner_user_id IS NULL"):
        if not text or (digits and digits in str(e["number"])):
            items.append({"source": "extension", "id": e["id"], "name": str(e["number"]),
                          "number": str(e["number"]), "email": "", "company": "",
                          "extensions": [str(e["number"])]})
    corp_cond, corp_params = ("owner_user_id IS NULL", [])
    if text:
        clause, corp_params = _search_clause(text)
        corp_cond += " AND " + clause
    for c in await db.fetchall(f"SELECT id, name, number, email, company FROM contacts "
                               f"WHERE {corp_cond}", corp_params):
        items.append({"source": "corporate", "id": c["id"], "name": c["name"],
                      "number": c["number"], "email": c["email"], "company": c["company"],
                      "extensions": []})
    items.sort(key=lambda r: (str(r["name"]).casefold(), r["source"], r["id"]))
    return items[offset:offset + limit], len(items)


async def search(db: Executor, owner: int, q: str, limit: int = 20) -> list[Row]:
    """Personal contacts first, then the directory; both matched by name, number or email."""
    personal, _ = await list_contacts(db, owner, q=q, limit=limit)
    found: list[Row] = [{"source": "personal", "id": c["id"], "name": c["name"],
                         "number": c["number"], "email": c["email"], "company": c["company"],
                         "extensions": [], "favourite": c["favourite"]} for c in personal]
    corporate, _ = await directory(db, q=q, limit=limit)
    found += [{**c, "favourite": False} for c in corporate]
    return found[:limit]


async def owners_of_numbers(db: Executor, numbers: list[str]) -> list[int]:
    """Users whose personal agenda holds any of ``numbers`` (for presence fan-out)."""
    if not numbers:
        return []
    marks = ", ".join("?" for _ in numbers)
    rows = await db.fetchall(
        f"SELECT DISTINCT owner_user_id FROM contacts WHERE number IN ({marks}) "
        f"AND owner_user_id IS NOT NULL", numbers)
    return [int(r["owner_user_id"]) for r in rows]


async def presence_numbers(db: Executor, user_id: int) -> list[str]:
    """The numbers under which a user's presence may be watched: what the corporate directory
    shows of them (login number, then their desk extensions). Nothing for a user the directory
    hides (disabled, or a test account): adding a number to one's agenda does not make its
    owner watchable. A web extension from a pool is never one of them (who holds it changes)."""
    rows = await db.fetchall(
        "SELECT 0 AS k, u.login_number AS number FROM users u "
        "WHERE u.id = ? AND u.enabled = 1 AND u.user_type <> 'test' "
        "UNION ALL SELECT 1 AS k, x.number FROM extensions x JOIN users u "
        "ON u.id = x.owner_user_id WHERE x.owner_user_id = ? AND x.kind = 'hard' "
        "AND u.enabled = 1 AND u.user_type <> 'test'", (user_id, user_id))
    rows.sort(key=lambda r: (r["k"], str(r["number"])))
    return list(dict.fromkeys(str(r["number"]) for r in rows))


async def numbers_of_user(db: Executor, user_id: int) -> list[str]:
    """The login number, the web extension and the numbers of the extensions a user owns."""
    rows = await db.fetchall(
        "SELECT 0 AS k, login_number AS number FROM users WHERE id = ? "
        "UNION ALL SELECT 1 AS k, webphone_extension AS number FROM users "
        "WHERE id = ? AND webphone_extension IS NOT NULL AND webphone_extension <> '' "
        "UNION ALL SELECT 2 AS k, number FROM extensions WHERE owner_user_id = ?",
        (user_id, user_id, user_id))
    rows.sort(key=lambda r: (r["k"], str(r["number"])))
    return list(dict.fromkeys(str(r["number"]) for r in rows))
