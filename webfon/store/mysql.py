"""MySQL/MariaDB backend (aiomysql): a connection pool, autocommit outside transactions.

Statements use ``?`` placeholders like the SQLite backend; they are rewritten to the driver's
``%s`` style here (question marks inside quoted literals are left alone).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlparse

import aiomysql
import pymysql

from webfon.store.base import Executor, IntegrityError, Params, Row, Store, StoreError

# "table already exists" notes from idempotent DDL are expected, not worth a warning.
warnings.filterwarnings("ignore", category=pymysql.Warning)


@lru_cache(maxsize=4096)
def to_format_style(sql: str) -> str:
    """Rewrite ``?`` placeholders to ``%s`` and escape literal ``%``."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


_CHECK_FAILED = {4025, 3819}  # MariaDB / MySQL "CONSTRAINT … failed"
# the server cannot be reached or went away (restart): the pool reconnects on the next use
_CONNECTION_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)


def _wrap(exc: Exception) -> StoreError:
    code = exc.args[0] if exc.args else None
    if isinstance(exc, pymysql.err.IntegrityError) or code in _CHECK_FAILED:
        return IntegrityError(str(exc))
    return StoreError(f"mysql: {exc}")


class _Conn(Executor):
    dialect = "mysql"

    def __init__(self, conn: aiomysql.Connection) -> None:
        self.conn = conn

    async def _run(self, sql: str, params: Params) -> aiomysql.Cursor:
        cur = await self.conn.cursor(aiomysql.DictCursor)
        try:
            await cur.execute(to_format_style(sql), tuple(params) or None)
        except pymysql.err.Error as exc:
            await cur.close()
            raise _wrap(exc) from exc
        return cur

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._run(sql, params)
        count = cur.rowcount
        await cur.close()
        return int(count)

    async def insert(self, sql: str, params: Params = ()) -> int:
        cur = await self._run(sql, params)
        rowid = cur.lastrowid
        await cur.close()
        return int(rowid or 0)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        cur = await self.conn.cursor()
        try:
            await cur.executemany(to_format_style(sql), [tuple(p) for p in seq])
        except pymysql.err.Error as exc:
            raise _wrap(exc) from exc
        finally:
            await cur.close()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self._run(sql, params)
        rows = await cur.fetchall()
        await cur.close()
        return [dict(r) for r in rows]


class MysqlStore(Store):
    dialect = "mysql"

    def __init__(self, url: str, pool: aiomysql.Pool, database: str) -> None:
        self.url = url
        self.pool = pool
        self.database = database

    @classmethod
    async def open(cls, url: str, minsize: int = 1, maxsize: int = 10) -> MysqlStore:
        parts = urlparse(url)
        database = parts.path.lstrip("/")
        if not database:
            raise StoreError("mysql: the URL names no database (mysql://user:pass@host/db)")
        kwargs: dict[str, Any] = dict(
            user=unquote(parts.username or "root"), password=unquote(parts.password or ""),
            db=database, autocommit=True, charset="utf8mb4", minsize=minsize, maxsize=maxsize,
            connect_timeout=10, pool_recycle=3600,
        )
        if parts.hostname in (None, "", "localhost") and "unix_socket=" in (parts.query or ""):
            kwargs["unix_socket"] = parts.query.split("unix_socket=", 1)[1].split("&")[0]
        else:
            kwargs["host"] = parts.hostname or "127.0.0.1"
            kwargs["port"] = parts.port or 3306
        try:
            pool = await aiomysql.create_pool(**kwargs)
        except (pymysql.err.Error, OSError) as exc:
            where = kwargs.get("unix_socket") or f"{kwargs.get('host')}:{kwargs.get('port')}"
            raise StoreError(f"mysql: cannot connect to {where}/{database}: {exc}") from exc
        return cls(url, pool, database)

    async def _with(self, method: str, *args: Any) -> Any:
        try:
            async with self.pool.acquire() as conn:
                return await getattr(_Conn(conn), method)(*args)
        except _CONNECTION_ERRORS as exc:
            raise StoreError(f"mysql: {exc}") from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._with("execute", sql, params)

    async def insert(self, sql: str, params: Params = ()) -> int:
        return await self._with("insert", sql, params)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, seq)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._with("fetchall", sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """A transaction on one pooled connection. A server that went away (restart, network)
        is a :class:`StoreError`, whether found when connecting, beginning or committing."""
        try:
            ctx = self.pool.acquire()
            conn = await ctx.__aenter__()
        except _CONNECTION_ERRORS as exc:
            raise StoreError(f"mysql: {exc}") from exc
        try:
            try:
                await conn.begin()
            except _CONNECTION_ERRORS as exc:
                raise StoreError(f"mysql: {exc}") from exc
            try:
                yield _Conn(conn)
            except BaseException:
                with contextlib.suppress(*_CONNECTION_ERRORS):
                    await conn.rollback()
                raise
            try:
                await conn.commit()
            except _CONNECTION_ERRORS as exc:
                raise StoreError(f"mysql: commit failed: {exc}") from exc
        finally:
            await ctx.__aexit__(None, None, None)

    @asynccontextmanager
    async def advisory_lock(self, name: str) -> AsyncIterator[None]:
        async with self.pool.acquire() as conn:
            ex = _Conn(conn)
            got = await ex.fetchval("SELECT GET_LOCK(?, 60) AS got", (name,))
            if not got:
                raise StoreError(f"mysql: could not take lock {name!r} within 60 s")
            try:
                yield
            finally:
                await ex.fetchval("SELECT RELEASE_LOCK(?) AS released", (name,))

    async def _columns(self, table: str) -> list[str]:
        rows = await self.fetchall(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            (self.database, table))
        return [r["name"] for r in rows]

    async def tables(self) -> list[str]:
        rows = await self.fetchall(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? "
            "ORDER BY table_name", (self.database,))
        return [r["name"] for r in rows]

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()

    def __repr__(self) -> str:
        return f"<MysqlStore {self.database}>"
