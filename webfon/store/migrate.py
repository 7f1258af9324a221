"""Versioned schema migrations, the same on SQLite and MySQL/MariaDB.

Migrations are ``migrations/NNNN_name.sql`` files applied in version order and recorded in
``schema_migrations``. Version ranges belong to components so they never collide:
0001-0099 shared core, 0100-0199 pbx, 0200-0299 sercen, 0300-0399 fonbo, 0400-0499 gateway.

The SQL is portable apart from a few tokens expanded per dialect:

=============  ===================================  ======================================
token          sqlite                               mysql
=============  ===================================  ======================================
``{pk}``       INTEGER PRIMARY KEY AUTOINCREMENT    BIGINT PRIMARY KEY AUTO_INCREMENT
``{bigint}``   INTEGER                              BIGINT
``{blob}``     BLOB                                 LONGBLOB
``{text}``     TEXT                                 LONGTEXT
``{table}``    (nothing)                            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
``{add_column}`` ADD COLUMN                         ADD COLUMN IF NOT EXISTS
=============  ===================================  ======================================

Statements end with ``;`` at the end of a line. Write them idempotently (``IF NOT EXISTS``):
MySQL commits DDL as it goes, so a migration interrupted halfway must be safe to run again.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from importlib import resources

from webfon.store.base import Store, StoreError

log = logging.getLogger("webfon.store")

_TOKENS = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "bigint": "INTEGER", "blob": "BLOB",
               "text": "TEXT", "table": "", "add_column": "ADD COLUMN"},
    "mysql": {"pk": "BIGINT PRIMARY KEY AUTO_INCREMENT", "bigint": "BIGINT", "blob": "LONGBLOB",
              "text": "LONGTEXT", "table": "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
              "add_column": "ADD COLUMN IF NOT EXISTS"},
}
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, dialect: str) -> list[str]:
        tokens = _TOKENS[dialect]
        text = re.sub(r"\{(\w+)\}", lambda m: tokens.get(m.group(1), m.group(0)), self.sql)
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
        return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


def load_migrations() -> list[Migration]:
    found: list[Migration] = []
    for item in resources.files("webfon.store.migrations").iterdir():
        m = _NAME.match(item.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), item.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(versions) != len(set(versions)):
        raise StoreError(f"two migrations share a version: {versions}")
    return found


async def applied_versions(store: Store) -> set[int]:
    rows = await store.fetchall("SELECT version FROM schema_migrations")
    return {int(r["version"]) for r in rows}


async def apply_migrations(store: Store) -> list[int]:
    """Apply every pending migration; return the versions applied now."""
    bootstrap = (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name VARCHAR(128) NOT NULL, applied_at DOUBLE NOT NULL)"
    )
    await store.execute(bootstrap + (" " + _TOKENS["mysql"]["table"]
                                     if store.dialect == "mysql" else ""))
    done: list[int] = []
    async with store.advisory_lock("webfon_migrations"):
        for migration in load_migrations():
            async with store.transaction() as tx:
                exists = await tx.fetchval(
                    "SELECT COUNT(*) AS n FROM schema_migrations WHERE version = ?",
                    (migration.version,))
                if exists:
                    continue
                for statement in migration.statements(store.dialect):
                    try:
                        await tx.execute(statement)
                    except StoreError as exc:
                        raise StoreError(
                            f"migration {migration.version:04d}_{migration.name} failed: {exc}\n"
                            f"statement: {statement[:200]}") from exc
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()))
            done.append(migration.version)
            log.info("migration applied", extra={"version": migration.version,
                                                 "migration": migration.name})
    return done
