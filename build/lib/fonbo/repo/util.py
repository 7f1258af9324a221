"""Small helpers shared by the query modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from webfon.store.base import Executor, Row


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ? ESCAPE '!'`` with the wildcard characters escaped."""
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def digits_of(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch in "+*#")


def placeholders(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def bools(row: Row, *names: str) -> Row:
    for name in names:
        if name in row and row[name] is not None:
            row[name] = bool(row[name])
    return row


async def update_row(db: Executor, table: str, key: dict[str, Any], changes: dict[str, Any]
                     ) -> int:
    """UPDATE ``table`` SET changes WHERE key.

    The count returned is not a reliable "found" signal (MySQL counts only rows whose values
    changed): callers check that the row exists first.
    """
    if not changes:
        where = " AND ".join(f"{k} = ?" for k in key)
        return int(await db.fetchval(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}",
                                     list(key.values())) or 0)
    sets = ", ".join(f"{c} = ?" for c in changes)
    where = " AND ".join(f"{k} = ?" for k in key)
    return await db.execute(f"UPDATE {table} SET {sets} WHERE {where}",
                            [*changes.values(), *key.values()])


async def insert_row(db: Executor, table: str, row: dict[str, Any]) -> int:
    cols = ", ".join(row)
    return await db.insert(f"INSERT INTO {table} ({cols}) VALUES ({placeholders(list(row))})",
                           list(row.values()))


def chunks(values: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for v in values:
        batch.append(v)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
