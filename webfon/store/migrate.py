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
MySQL commits DDL as it goes, so a migration interrupted halfway must be safe to run again
(SQLite runs each migration in one transaction, so ``{add_column}`` needs no guard there).

A change the two dialects cannot share (changing a CHECK constraint: SQLite rebuilds the
table, MariaDB modifies the column) is a pair of files of one version,
``NNNN_name.sqlite.sql`` and ``NNNN_name.mysql.sql``; each store applies its own.
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
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(sqlite|mysql))?\.sql$")


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


def load_migrations(dialect: str = "sqlite") -> list[Migration]:
    """The migrations for ``dialect``: shared files and that dialect's own."""
    found: list[Migration] = []
    own: dict[int, set[str]] = {}
    for item in resources.files("webfon.store.migrations").iterdir():
        m = _NAME.match(item.name)
        if not m:
            continue
        version, only = int(m.group(1)), m.group(3)
        own.setdefault(version, set()).add(only or "both")
        if only is None or only == dialect:
            found.append(Migration(version, m.group(2), item.read_text("utf-8")))
    for version, kinds in own.items():
        shared, own_files = "both" in kinds, kinds - {"both"}
        if (shared and own_files) or own_files not in (set(), {"sqlite", "mysql"}):
            raise StoreError(f"migration {version:04d} must be one shared file or one file "
                             f"per dialect (sqlite and mysql)")
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
        for migration in load_migrations(store.dialect):
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
