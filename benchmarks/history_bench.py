"""Call-history query latency with a large CDR table, on SQLite and on MariaDB.

Loads N CDR rows (default 1,000,000) with bulk inserts, then times FONBO's own query code
(``fonbo.repo.history``: the same functions the HTTP handlers call) for:

* first page (50 rows, newest first) of a heavy user (10 % of all rows) and of typical users;
* a deep cursor page (the page after row 90 % into the heavy user's history);
* the first page of missed calls;
* recents (one row per peer, 20 peers).

Prints p50/p95/p99/max in milliseconds per backend.

    .venv/bin/python benchmarks/history_bench.py --backend both
    .venv/bin/python benchmarks/history_bench.py --backend sqlite --rows 200000 --iterations 100

MariaDB: ``--mysql-url`` (default: the server ``scripts/start-mariadb`` starts, database
``webfon_bench``, dropped and recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fonbo.repo import history  # noqa: E402
from fonbo.repo.history import HistoryFilter  # noqa: E402
from webfon.store import Store, open_store  # noqa: E402

HEAVY_SHARE = 0.10
DAY = 86400.0
DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$YmVuY2hiZW5jaA$bench"
CDR_SQL = ("INSERT INTO cdr (call_id, caller, caller_name, callee, user_id, extension, "
           "direction, started_at, answered_at, ended_at, duration_s, billsec, disposition, "
           "trunk) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def user_number(i: int) -> str:
    return str(100000 + i)


def ext_number(i: int) -> str:
    return str(200000 + i)


def generate(rows: int, users: int, seed: int = 11) -> Any:
    """Yield CDR tuples; user 1 is heavy (10 % of rows), the rest share the remainder."""
    rng = random.Random(seed)
    now = 1_760_000_000.0
    outside = [f"6{rng.randrange(10**7, 10**8)}" for _ in range(3000)]
    dispositions = ("no_answer", "busy", "cancelled", "voicemail")
    for n in range(rows):
        uid = 1 if rng.random() < HEAVY_SHARE else rng.randrange(2, users + 1)
        started = now - rng.random() * 365 * DAY
        r = rng.random()
        if r < 0.3:
            peer_uid = rng.randrange(1, users + 1)
            direction = "internal"
            if rng.random() < 0.5:
                caller, callee = ext_number(uid), ext_number(peer_uid)
            else:
                caller, callee = ext_number(peer_uid), ext_number(uid)
        else:
            direction = "inbound" if r < 0.65 else "outbound"
            peer = outside[rng.randrange(len(outside))] if uid != 1 else outside[
                rng.randrange(200)]
            caller, callee = (peer, ext_number(uid)) if direction == "inbound" else (
                ext_number(uid), peer)
        answered = rng.random() < 0.75
        ring = rng.uniform(1, 20)
        talk = rng.uniform(5, 600) if answered else 0.0
        ended = started + ring + talk
        yield (f"bench-{n}", caller, "", callee, uid, ext_number(uid), direction, started,
               started + ring if answered else None, ended, ended - started, talk,
               "answered" if answered else dispositions[n % 4], "")


async def seed_users(store: Store, users: int) -> None:
    numbering = [(user_number(i), "user") for i in range(1, users + 1)]
    numbering += [(ext_number(i), "extension") for i in range(1, users + 1)]
    await store.executemany("INSERT INTO numbering (number, kind) VALUES (?, ?)", numbering)
    await store.executemany(
        "INSERT INTO users (id, display_name, login_number, password_hash, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(i, f"User {i}", user_number(i), DUMMY_HASH, 0.0) for i in range(1, users + 1)])
    await store.executemany(
        "INSERT INTO extensions (number, kind, owner_user_id) VALUES (?, 'hard', ?)",
        [(ext_number(i), i) for i in range(1, users + 1)])
    await store.executemany(
        "INSERT INTO contacts (owner_user_id, name, number, created_at, updated_at) "
        "VALUES (?, ?, ?, 0, 0)",
        [(1, f"Contact {k}", f"6{10**7 + k}") for k in range(200)])


def load_sqlite(path: Path, rows: int, users: int) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    batch: list[Any] = []
    for row in generate(rows, users):
        batch.append(row)
        if len(batch) >= 50_000:
            conn.executemany(CDR_SQL, batch)
            batch.clear()
    if batch:
        conn.executemany(CDR_SQL, batch)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def load_mysql(url: str, rows: int, users: int) -> float:
    import pymysql

    parts = urlparse(url)
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "",
                           database=parts.path.lstrip("/"), autocommit=False)
    started = time.perf_counter()
    sql = CDR_SQL.replace("?", "%s")
    with conn.cursor() as cur:
        cur.execute("SET unique_checks = 0")
        cur.execute("SET foreign_key_checks = 0")
        batch: list[Any] = []
        batches = 0
        for row in generate(rows, users):
            batch.append(row)
            if len(batch) >= 5_000:
                cur.executemany(sql, batch)
                batch.clear()
                batches += 1
                if batches % 40 == 0:
                    conn.commit()
        if batch:
            cur.executemany(sql, batch)
        conn.commit()
        cur.execute("ANALYZE TABLE cdr")
        cur.fetchall()
    conn.close()
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


CPU: dict[str, float] = {}


async def timed(fn: Callable[[], Awaitable[Any]], iterations: int) -> list[float]:
    """Wall-clock samples in ms; the mean CPU time this process spent per call goes to CPU
    (a figure that does not depend on how busy the rest of the machine is)."""
    for _ in range(3):
        await fn()
    samples = []
    cpu = time.process_time()
    for _ in range(iterations):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    CPU[fn.__name__] = (time.process_time() - cpu) * 1000 / iterations
    return samples


async def measure(store: Store, users: int, iterations: int) -> dict[str, list[float]]:
    rng = random.Random(5)
    heavy_rows = int(await store.fetchval("SELECT COUNT(*) AS n FROM cdr WHERE user_id = 1"))
    deep = int(heavy_rows * 0.9)
    key = await store.fetchone("SELECT started_at, id FROM cdr WHERE user_id = 1 "
                               "ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?", (deep,))
    assert key is not None
    deep_cursor = history.encode_cursor(key["started_at"], int(key["id"]))
    results: dict[str, list[float]] = {}

    async def first_heavy() -> None:
        items, _ = await history.page(store, 1, HistoryFilter(), 50)
        assert len(items) == 50

    async def first_typical() -> None:
        await history.page(store, rng.randrange(2, users + 1), HistoryFilter(), 50)

    async def deep_heavy() -> None:
        items, _ = await history.page(store, 1, HistoryFilter(), 50, deep_cursor)
        assert len(items) == 50

    async def missed_heavy() -> None:
        await history.page(store, 1, HistoryFilter(missed=True), 50)

    async def recents_heavy() -> None:
        items = await history.recents(store, 1, 20, 5000)
        assert len(items) == 20

    async def recents_typical() -> None:
        await history.recents(store, rng.randrange(2, users + 1), 20, 5000)

    for name, fn in (("first page, heavy user", first_heavy),
                     ("first page, typical user", first_typical),
                     (f"deep cursor page (row {deep:,}), heavy user", deep_heavy),
                     ("missed calls first page, heavy user", missed_heavy),
                     ("recents (20 peers), heavy user", recents_heavy),
                     ("recents (20 peers), typical user", recents_typical)):
        results[name] = await timed(fn, iterations)
        results[f"cpu:{name}"] = [CPU[fn.__name__]]
    results["_heavy_rows"] = [float(heavy_rows)]
    return results


def report(backend: str, rows: int, load_s: float, results: dict[str, list[float]]) -> None:
    heavy = int(results.pop("_heavy_rows")[0])
    loaded = f"loaded in {load_s:.1f} s" if load_s else "reused"
    load1, load5, _ = os.getloadavg()
    loaded += f"; load average during the run {load1:.1f} (1 min) {load5:.1f} (5 min)"
    print(f"\n{backend}: {rows:,} CDR rows (heavy user {heavy:,}), {loaded}")
    print(f"{'query':48} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'cpu ms':>8}")
    for name, samples in results.items():
        if name.startswith("cpu:"):
            continue
        cpu = results[f"cpu:{name}"][0]
        print(f"{name:48} {statistics.median(samples):8.2f} {pct(samples, 95):8.2f} "
              f"{pct(samples, 99):8.2f} {max(samples):8.2f} {cpu:8.2f}")
    print("(cpu ms: mean CPU time of this process per call: query building, driver, result "
          "decoding; MariaDB's own work is not included)")


def fresh_path(path: Path) -> Path:
    path.unlink(missing_ok=True)
    return path


def sqlite_rows(path: Path) -> int:
    if not path.exists():
        return -1
    conn = sqlite3.connect(str(path))
    try:
        return int(conn.execute("SELECT COUNT(*) FROM cdr").fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


async def run_sqlite(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="history_bench_") as tmp:
        path = Path(args.sqlite_path or Path(tmp) / "bench.db")
        load_s = 0.0
        if not (args.reuse and sqlite_rows(path) == args.rows):
            fresh_path(path)
            store = await open_store(f"sqlite:///{path}")
            await seed_users(store, args.users)
            await store.close()
            load_s = load_sqlite(path, args.rows, args.users)
        store = await open_store(f"sqlite:///{path}")
        try:
            report("SQLite", args.rows, load_s, await measure(store, args.users,
                                                              args.iterations))
        finally:
            await store.close()


def default_mysql_url() -> str:
    url = os.environ.get("WEBFON_TEST_MYSQL_URL")
    if not url:
        out = subprocess.run([str(ROOT / "scripts" / "start-mariadb")], capture_output=True,
                             text=True, check=True, timeout=120)
        url = out.stdout.strip().splitlines()[-1]
    return urlunparse(urlparse(url)._replace(path="/webfon_bench"))


async def run_mysql(args: argparse.Namespace) -> None:
    import pymysql

    url = args.mysql_url or default_mysql_url()
    parts = urlparse(url)
    admin = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                            user=parts.username or "root", password=parts.password or "",
                            autocommit=True)
    name = parts.path.lstrip("/")
    with admin.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_name = 'cdr'", (name,))
        exists = cur.fetchone()[0]
        if exists and args.reuse:
            cur.execute(f"SELECT COUNT(*) FROM `{name}`.cdr")
            reuse = cur.fetchone()[0] == args.rows
        else:
            reuse = False
        if not reuse:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    original_pool = None
    if args.mysql_buffer_pool_mb:
        with admin.cursor() as cur:
            cur.execute("SELECT @@innodb_buffer_pool_size")
            original_pool = int(cur.fetchone()[0])
            cur.execute("SET GLOBAL innodb_buffer_pool_size = %s",
                        (args.mysql_buffer_pool_mb * 1048576,))
    load_s = 0.0
    if not reuse:
        store = await open_store(url)
        await seed_users(store, args.users)
        await store.close()
        load_s = load_mysql(url, args.rows, args.users)
    store = await open_store(url)
    try:
        pool_mb = int(await store.fetchval("SELECT @@innodb_buffer_pool_size AS b")) >> 20
        # one pass over the table so the measurement starts from a warm buffer pool
        await store.fetchval("SELECT COUNT(*) AS n FROM cdr FORCE INDEX (cdr_user_started) "
                             "WHERE user_id > 0")
        await store.fetchval("SELECT SUM(duration_s) AS n FROM cdr")
        report(f"MariaDB (innodb_buffer_pool_size {pool_mb} MB)", args.rows, load_s,
               await measure(store, args.users, args.iterations))
    finally:
        await store.close()
        if original_pool is not None:
            with admin.cursor() as cur:
                cur.execute("SET GLOBAL innodb_buffer_pool_size = %s", (original_pool,))
        if not args.keep:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "mysql", "both"), default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--sqlite-path", help="keep the SQLite file here")
    parser.add_argument("--mysql-url", help="mysql://user:pass@host:port/db (db is recreated)")
    parser.add_argument("--keep", action="store_true", help="keep the MariaDB database")
    parser.add_argument("--mysql-buffer-pool-mb", type=int, default=0,
                        help="size the server's InnoDB buffer pool for the run (restored after)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure a kept database (--sqlite-path file, or MariaDB with "
                             "--keep) that already holds --rows rows, without reloading")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    if args.backend in ("sqlite", "both"):
        asyncio.run(run_sqlite(args))
    if args.backend in ("mysql", "both"):
        asyncio.run(run_mysql(args))


if __name__ == "__main__":
    main()
