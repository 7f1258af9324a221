"""SQLite backend (aiosqlite): WAL journal, foreign keys on, one writer connection at a time.

Writes and transactions go through one connection guarded by an asyncio lock; reads outside a
transaction use a second connection, so they see committed data without waiting for writers.
Several processes may share the file (WAL + busy timeout). The file holds SIP HA1s and password
hashes: it is created with mode 0600 (SQLite gives its ``-wal``/``-shm`` files the same mode),
and an existing one readable by others is narrowed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from webfon.private_files import private_file
from webfon.store.base import Executor, IntegrityError, Params, Row, Store, StoreError

_PRAGMAS = (
    "PRAGMA busy_timeout = 10000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)
_OPEN_ATTEMPTS = 5


def _wrap(exc: Exception) -> StoreError:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(str(exc))
    return StoreError(f"sqlite: {exc}")


class _Conn(Executor):
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            cur = await self.conn.execute(sql, tuple(params))
            return cur.rowcount
        except sqlite3.Error as exc:
            raise _wrap(exc) from exc

    async def insert(self, sql: str, params: Params = ()) -> int:
        try:
            cur = await self.conn.execute(sql, tuple(params))
            return int(cur.lastrowid or 0)
        except sqlite3.Error as exc:
            raise _wrap(exc) from exc

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        try:
            await self.conn.executemany(sql, [tuple(p) for p in seq])
        except sqlite3.Error as exc:
            raise _wrap(exc) from exc

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            async with self.conn.execute(sql, tuple(params)) as cur:
                rows = await cur.fetchall()
                names = [d[0] for d in cur.description or ()]
        except sqlite3.Error as exc:
            raise _wrap(exc) from exc
        return [dict(zip(names, row, strict=True)) for row in rows]


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, url: str, path: Path, writer: aiosqlite.Connection,
                 reader: aiosqlite.Connection) -> None:
        self.url = url
        self.path = path
        self._writer = _Conn(writer)
        self._reader = _Conn(reader)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, path: Path) -> SqliteStore:
        """Open the file; a lock held by another process while it creates the file is waited
        out (switching a new file to WAL can fail with "locked" without calling the busy
        handler), anything else is reported at once."""
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                return await cls._open_once(url, path)
            except StoreError as exc:
                if "locked" not in str(exc) or attempt == _OPEN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    @classmethod
    async def _open_once(cls, url: str, path: Path) -> SqliteStore:
        try:
            private_file(path)
            for suffix in ("-wal", "-shm", "-journal"):
                extra = path.with_name(path.name + suffix)
                if extra.exists():
                    private_file(extra)
        except OSError as exc:
            raise StoreError(f"sqlite: cannot create {path}: {exc}") from exc
        conns: list[aiosqlite.Connection] = []
        try:
            for _ in range(2):
                conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=10)
                conns.append(conn)
                for pragma in _PRAGMAS:
                    await conn.execute(pragma)
            async with conns[0].execute("PRAGMA quick_check") as cur:
                verdict = await cur.fetchone()
            if verdict is None or verdict[0] != "ok":
                raise StoreError(f"sqlite: {path} failed its integrity check: {verdict}")
        except (sqlite3.Error, OSError) as exc:
            for conn in conns:
                await conn.close()
            raise StoreError(f"sqlite: cannot open {path}: {exc}") from exc
        except StoreError:
            for conn in conns:
                await conn.close()
            raise
        return cls(url, path, conns[0], conns[1])

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            return await self._writer.execute(sql, params)

    async def insert(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            return await self._writer.insert(sql, params)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, seq)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._reader.fetchall(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.conn.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

    @asynccontextmanager
    async def advisory_lock(self, name: str) -> AsyncIterator[None]:
        # BEGIN IMMEDIATE inside transaction() already serializes writers across processes.
        yield

    async def _columns(self, table: str) -> list[str]:
        return [r["name"] for r in await self.fetchall(f"PRAGMA table_info({table})")]

    async def tables(self) -> list[str]:
        rows = await self.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")
        return [r["name"] for r in rows]

    async def close(self) -> None:
        for conn in (self._writer.conn, self._reader.conn):
            try:
                await conn.close()
            except (sqlite3.Error, ValueError):
                pass

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"


