"""The store on both backends: migrations, schema constraints, transactions, upserts."""

from __future__ import annotations

import asyncio
import time

import pytest

from webfon.directory import add_phone, create_extension, create_queue, create_user
from webfon.store import Store, StoreError, open_store
from webfon.store.base import IntegrityError
from webfon.store.migrate import applied_versions, apply_migrations, load_migrations


async def test_migrations_apply_once_and_are_idempotent(store: Store) -> None:
    versions = await applied_versions(store)
    assert versions == {m.version for m in load_migrations()}
    assert await apply_migrations(store) == []
    for table in ("users", "extensions", "phones", "numbering", "cdr", "queue_stats",
                  "twofa_secrets", "token_revocations", "audit_log", "smart_buttons"):
        assert table in await store.tables()


async def test_reopening_does_not_reapply(store_url: str) -> None:
    first = await open_store(store_url)
    second = await open_store(store_url)
    try:
        assert await applied_versions(first) == await applied_versions(second)
    finally:
        await first.close()
        await second.close()


async def test_concurrent_first_start_migrates_once(store_url: str) -> None:
    stores = await asyncio.gather(*(open_store(store_url) for _ in range(3)))
    try:
        count = await stores[0].fetchval("SELECT COUNT(*) AS n FROM schema_migrations")
        assert count == len(load_migrations())
    finally:
        for s in stores:
            await s.close()


async def _user(store: Store, number: str) -> int:
    async with store.transaction() as tx:
        return await create_user(tx, display_name=f"User {number}", login_number=number,
                                 password="pw")


async def test_numbers_are_unique_across_users_and_extensions(store: Store) -> None:
    await _user(store, "1001")
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await create_extension(tx, number="1001")
    with pytest.raises(IntegrityError):
        await _user(store, "1001")
    # the failed transactions left nothing behind
    assert await store.fetchval("SELECT COUNT(*) AS n FROM numbering") == 1
    assert await store.fetchval("SELECT COUNT(*) AS n FROM extensions") == 0


async def test_users_and_extensions_need_a_numbering_row(store: Store) -> None:
    with pytest.raises(IntegrityError):
        await store.execute("INSERT INTO extensions (number) VALUES ('5555')")


async def test_phone_positions(store: Store) -> None:
    async with store.transaction() as tx:
        ext = await create_extension(tx, number="2001")
        for pos in range(8):
            await add_phone(tx, extension_id=ext, position=pos, sip_username=f"2001-{pos}",
                            sip_password="x")
    with pytest.raises(IntegrityError):  # position taken
        async with store.transaction() as tx:
            await add_phone(tx, extension_id=ext, position=3, sip_username="2001-dup",
                            sip_password="x")
    with pytest.raises(IntegrityError):  # only positions 0..7: a 9th phone has nowhere to go
        async with store.transaction() as tx:
            await add_phone(tx, extension_id=ext, position=8, sip_username="2001-8",
                            sip_password="x")
    assert await store.fetchval("SELECT COUNT(*) AS n FROM phones") == 8


@pytest.mark.parametrize("columns", [
    {"publishable": 1, "secure": 0},
    {"is_webcall": 1, "secure": 1},
    {"ring_order": -1},
    {"enabled": 2},
])
async def test_phone_rules_live_in_the_schema(store: Store, columns: dict[str, int]) -> None:
    async with store.transaction() as tx:
        ext = await create_extension(tx, number="2002")
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await add_phone(tx, extension_id=ext, position=0, sip_username="p", sip_password="x",
                            **columns)


async def test_pool_web_extension_cannot_be_multiterminal(store: Store) -> None:
    pool = await store.insert("INSERT INTO webphone_pools (name, ranges) VALUES ('p', '7000')")
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await create_user(tx, display_name="X", login_number="1009", password="pw",
                              webphone_pool_id=pool, webphone_mode="multiterminal")


async def test_forwarding_rule_kinds_are_checked(store: Store) -> None:
    uid = await _user(store, "1005")
    await store.execute("INSERT INTO forwarding_rules (user_id, kind, enabled, target_type) "
                        "VALUES (?, 'busy', 1, 'voicemail')", (uid,))
    with pytest.raises(IntegrityError):
        await store.execute("INSERT INTO forwarding_rules (user_id, kind) VALUES (?, 'sometimes')",
                            (uid,))
    with pytest.raises(IntegrityError):  # one rule of each kind per user
        await store.execute("INSERT INTO forwarding_rules (user_id, kind) VALUES (?, 'busy')",
                            (uid,))


async def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO sites (name) VALUES ('Sede Madrid')")
            raise RuntimeError("boom")
    assert await store.fetchval("SELECT COUNT(*) AS n FROM sites") == 0


async def test_upsert_inserts_then_updates(store: Store) -> None:
    row = {"queue_id": 0, "period_start": 900.0, "offered": 1}
    async with store.transaction() as tx:
        qid = await create_queue(tx, number="3000", name="Q", kind="acd")
    row["queue_id"] = qid
    await store.upsert("queue_stats", row, keys=["queue_id", "period_start"])
    await store.upsert("queue_stats", {**row, "offered": 5}, keys=["queue_id", "period_start"])
    stats = await store.fetchall("SELECT offered FROM queue_stats")
    assert stats == [{"offered": 5}]


async def test_placeholders_and_literal_question_marks(store: Store) -> None:
    await store.execute("INSERT INTO sites (name, address) VALUES (?, 'why? 100%')", ("A?",))
    row = await store.fetchone("SELECT name, address FROM sites WHERE name = ?", ("A?",))
    assert row == {"name": "A?", "address": "why? 100%"}


async def test_cdr_times_and_checks(store: Store) -> None:
    now = time.time()
    await store.execute(
        "INSERT INTO cdr (call_id, caller, callee, direction, started_at, ended_at, disposition) "
        "VALUES ('c1', '1001', '1002', 'internal', ?, ?, 'answered')", (now, now + 5))
    with pytest.raises(IntegrityError):
        await store.execute(
            "INSERT INTO cdr (call_id, caller, callee, direction, started_at, ended_at, "
            "disposition) VALUES ('c2', 'a', 'b', 'internal', ?, ?, 'answered')", (now, now - 5))
    with pytest.raises(IntegrityError):
        await store.execute(
            "INSERT INTO cdr (call_id, caller, callee, direction, started_at, ended_at, "
            "disposition) VALUES ('c3', 'a', 'b', 'sideways', ?, ?, 'answered')", (now, now))


async def test_same_schema_on_both_backends(sqlite_url: str, mysql_url: str) -> None:
    lite = await open_store(sqlite_url)
    maria = await open_store(mysql_url)
    try:
        tables = await lite.tables()
        assert tables == sorted(await maria.tables())
        for table in tables:
            assert await lite.table_columns(table) == await maria.table_columns(table), table
    finally:
        await lite.close()
        await maria.close()


async def test_bad_urls_give_clear_errors(tmp_path) -> None:
    with pytest.raises(StoreError, match="unsupported database URL"):
        await open_store("postgres://x/y")
    with pytest.raises(StoreError, match="cannot connect"):
        await open_store("mysql://nobody:pw@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="names no database"):
        await open_store("mysql://u:p@127.0.0.1:3306/")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreError, match="sqlite"):
        await open_store(f"sqlite:///{corrupt}")


async def test_binary_values_round_trip(store: Store) -> None:
    kind = "LONGBLOB" if store.dialect == "mysql" else "BLOB"
    await store.execute(f"CREATE TABLE blob_probe (id INTEGER PRIMARY KEY, data {kind})")
    payload = bytes(range(256)) * 4
    await store.execute("INSERT INTO blob_probe (id, data) VALUES (?, ?)", (1, payload))
    assert await store.fetchval("SELECT data FROM blob_probe WHERE id = 1") == payload


async def test_ivr_numbering_migration_keeps_every_number_and_reference(store_url: str) -> None:
    """The numbering learns the kind 'ivr' on a store that already holds users, extensions
    and queues: nothing is lost, the references still hold, a dangling one is still refused."""
    from webfon.store.migrate import Migration

    store = await open_store(store_url, migrate=False)
    try:
        await store.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                            "PRIMARY KEY, name VARCHAR(128) NOT NULL, applied_at DOUBLE NOT NULL)")
        before: list[Migration] = [m for m in load_migrations(store.dialect) if m.version < 130]
        for migration in before:
            async with store.transaction() as tx:
                for statement in migration.statements(store.dialect):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                                 "VALUES (?, ?, ?)", (migration.version, migration.name, 0.0))
        await _user(store, "1001")
        async with store.transaction() as tx:
            await create_extension(tx, number="2001")
            await create_queue(tx, number="3000", name="Soporte", kind="hunt")
        with pytest.raises(IntegrityError):
            await store.execute("INSERT INTO numbering (number, kind) VALUES ('4000', 'ivr')")
        assert 130 in await apply_migrations(store)
        rows = await store.fetchall("SELECT number, kind FROM numbering ORDER BY number")
        assert [(r["number"], r["kind"]) for r in rows] == [
            ("1001", "user"), ("2001", "extension"), ("3000", "queue")]
        await store.execute("INSERT INTO numbering (number, kind) VALUES ('4000', 'ivr')")
        with pytest.raises(IntegrityError):
            await store.execute("INSERT INTO numbering (number, kind) VALUES ('5000', 'room')")
        with pytest.raises(IntegrityError):  # still referenced by the user
            await store.execute("DELETE FROM numbering WHERE number = '1001'")
        with pytest.raises(IntegrityError):  # a number must exist before a queue takes it
            await store.execute("INSERT INTO queues (number, name, kind) "
                                "VALUES ('3999', 'Sin número', 'hunt')")
    finally:
        await store.close()
