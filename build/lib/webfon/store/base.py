"""The storage interface: statements, queries, transactions and upserts, backend-neutral."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

Row = dict[str, Any]
Params = Sequence[Any]


class StoreError(RuntimeError):
    """The database is unreachable, corrupt or refused an operation; the message says which."""


class IntegrityError(StoreError):
    """A constraint of the schema refused the change (unique number, foreign key, check …)."""


class Executor(abc.ABC):
    """Something that runs SQL: the store itself (autocommit) or an open transaction."""

    dialect: str

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; return the new row's id."""

    @abc.abstractmethod
    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        """Run one statement for every parameter tuple."""

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a query, each as a column → value mapping."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else next(iter(row.values()))

    async def upsert(self, table: str, row: Row, keys: Sequence[str]) -> None:
        """Insert ``row`` or, when a row with the same ``keys`` exists, update its other columns."""
        cols = list(row)
        placeholders = ", ".join("?" for _ in cols)
        updates = [c for c in cols if c not in keys]
        if self.dialect == "mysql":
            tail = ", ".join(f"{c} = VALUES({c})" for c in updates) or f"{keys[0]} = {keys[0]}"
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders}) "
                   f"ON DUPLICATE KEY UPDATE {tail}")
        else:
            action = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
                      if updates else "DO NOTHING")
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders}) "
                   f"ON CONFLICT ({', '.join(keys)}) {action}")
        await self.execute(sql, list(row.values()))


class Store(Executor):
    """A connection (pool) to one database. Use ``async with store.transaction() as tx``."""

    url: str

    @abc.abstractmethod
    def transaction(self) -> Any:
        """Async context manager yielding an :class:`Executor`; commits on success."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def advisory_lock(self, name: str) -> Any:
        """Async context manager holding a database-wide lock (used around migrations)."""

    async def table_columns(self, table: str) -> list[str]:
        rows = await self.fetchall(f"SELECT * FROM {table} WHERE 1 = 0")
        return list(rows[0]) if rows else await self._columns(table)

    @abc.abstractmethod
    async def _columns(self, table: str) -> list[str]: ...

    @abc.abstractmethod
    async def tables(self) -> list[str]: ...


@asynccontextmanager
async def nullcontext_async() -> AsyncIterator[None]:
    yield
