"""Open the store a URL names and bring its schema up to date."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from webfon.store.base import Store, StoreError


async def connect(url: str) -> Store:
    """Open a backend without touching the schema."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from webfon.store.sqlite import SqliteStore

        path = url.removeprefix("sqlite://")
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise StoreError("sqlite: the URL names no file (sqlite:///path/to/webfon.db)")
        return await SqliteStore.open(url, Path(path))
    if scheme in ("mysql", "mariadb", "mysql+aiomysql"):
        from webfon.store.mysql import MysqlStore

        return await MysqlStore.open(url)
    raise StoreError(f"unsupported database URL scheme {scheme!r} (use sqlite:// or mysql://)")


async def open_store(url: str, migrate: bool = True) -> Store:
    """Open the store and apply pending migrations (idempotent, safe from several processes)."""
    store = await connect(url)
    if migrate:
        from webfon.store.migrate import apply_migrations

        try:
            await apply_migrations(store)
        except BaseException:
            await store.close()
            raise
    return store
