"""Forwarding rules: the four kinds of a user, each to a number or to voicemail."""

from __future__ import annotations

from typing import Any

from webfon.store.base import Executor, Row

KINDS = ("not_logged_in", "no_answer", "busy", "unconditional")
_COLS = "id, kind, enabled, target_type, target_number, timeout_s"


def _default(kind: str) -> Row:
    return {"id": None, "kind": kind, "enabled": False, "target_type": "number",
            "target_number": "", "timeout_s": 20}


def _out(row: Row) -> Row:
    row = dict(row)
    row["enabled"] = bool(row["enabled"])
    return row


async def rules(db: Executor, user_id: int) -> list[Row]:
    stored = {r["kind"]: _out(r) for r in await db.fetchall(
        f"SELECT {_COLS} FROM forwarding_rules WHERE user_id = ?", (user_id,))}
    return [stored.get(kind, _default(kind)) for kind in KINDS]


async def save_rule(db: Executor, user_id: int, kind: str, values: dict[str, Any]) -> Row:
    row = {"user_id": user_id, "kind": kind, "enabled": int(values["enabled"]),
           "target_type": values["target_type"], "target_number": values["target_number"],
           "timeout_s": values["timeout_s"]}
    await db.upsert("forwarding_rules", row, ("user_id", "kind"))
    saved = await db.fetchone(f"SELECT {_COLS} FROM forwarding_rules WHERE user_id = ? "
                              f"AND kind = ?", (user_id, kind))
    assert saved is not None
    return _out(saved)
