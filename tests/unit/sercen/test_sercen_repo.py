"""sercen's storage on both backends: single-use steps, bans, refresh families, cleanup."""

from __future__ import annotations

import time

from sercen.regulation import Regulator, user_subject
from sercen.repo import SercenRepo
from webfon.store import Store


async def add_user(store: Store, number: str) -> int:
    await store.execute("INSERT INTO numbering (number, kind) VALUES (?, 'user')", (number,))
    return await store.insert(
        "INSERT INTO users (display_name, login_number, email, password_hash, created_at) "
        "VALUES (?, ?, ?, ?, ?)", (f"User {number}", number, "u@example.com", "x", 0.0))


async def test_challenge_consumed_once(store: Store) -> None:
    repo = SercenRepo(store)
    uid = await add_user(store, "1001")
    now = time.time()
    await repo.create_challenge({"id_hash": "h1", "user_id": uid, "method": "email",
                                 "code_hash": "c", "code_expires_at": now + 300,
                                 "sent_at": now, "send_count": 1, "ip": "198.51.100.7",
                                 "created_at": now, "expires_at": now + 900})
    row = await repo.challenge("h1")
    assert row is not None and row["method"] == "email" and row["send_count"] == 1
    assert await repo.consume_challenge("h1") is True
    assert await repo.consume_challenge("h1") is False
    assert await repo.challenge("h1") is None


async def test_new_code_only_once_per_previous_send(store: Store) -> None:
    repo = SercenRepo(store)
    uid = await add_user(store, "1001")
    await repo.create_challenge({"id_hash": "h", "user_id": uid, "method": "email",
                                 "code_hash": "c0", "code_expires_at": 10.0, "sent_at": 5.0,
                                 "send_count": 1, "created_at": 5.0, "expires_at": 1e12})
    assert await repo.set_challenge_code("h", "c1", 20.0, 15.0, 5.0) is True
    assert await repo.set_challenge_code("h", "c2", 20.0, 15.0, 5.0) is False  # lost the race
    row = await repo.challenge("h")
    assert row is not None and row["code_hash"] == "c1" and row["send_count"] == 2


async def test_totp_step_only_moves_forward(store: Store) -> None:
    repo = SercenRepo(store)
    uid = await add_user(store, "1001")
    await repo.set_pending_totp(uid, "enc")
    assert await repo.confirm_totp(uid, "enc", 100) is True
    assert await repo.confirm_totp(uid, "enc", 100) is False          # pending consumed
    assert (await store.fetchval("SELECT second_factor FROM users WHERE id = ?", (uid,))
            == "totp")
    assert await repo.claim_totp_step(uid, 100) is False             # the confirming code
    assert await repo.claim_totp_step(uid, 99) is False
    assert await repo.claim_totp_step(uid, 101) is True
    assert await repo.claim_totp_step(uid, 101) is False             # replay
    row = await repo.totp_secret(uid)
    assert row is not None and row["last_totp_step"] == 101
    await repo.remove_totp(uid)
    assert await repo.totp_secret(uid) is None
    assert (await store.fetchval("SELECT second_factor FROM users WHERE id = ?", (uid,))
            == "email")


async def test_regulation_bans_user_and_ip(store: Store) -> None:
    repo = SercenRepo(store)
    reg = Regulator(repo, max_retries=3, find_time=120, ban_time=300)
    user = user_subject(1, "1001")
    assert await reg.banned_for(user, "198.51.100.7") == 0
    assert await reg.fail(user, "198.51.100.7", "password") is False
    assert await reg.fail(user, "198.51.100.7", "email") is False
    assert await reg.fail(user, "198.51.100.7", "totp") is True
    left = await reg.banned_for(user, "203.0.113.1")                 # user ban, other IP
    assert 290 < left <= 300
    assert await reg.banned_for(user_subject(2, "x"), "198.51.100.7") > 290  # IP ban
    assert await reg.banned_for(user_subject(2, "x"), "203.0.113.1") == 0


async def test_regulation_window(store: Store) -> None:
    repo = SercenRepo(store)
    reg = Regulator(repo, max_retries=3, find_time=120, ban_time=300)
    old = time.time() - 200
    for _ in range(5):
        await repo.add_failure("user", "n:ghost", "password", old)
    assert await reg.fail("n:ghost", "198.51.100.8", "password") is False
    assert await reg.fail("n:ghost", "198.51.100.9", "password") is False
    await reg.succeeded("n:ghost")                                    # clears the user count
    assert await reg.fail("n:ghost", "198.51.100.10", "password") is False
    assert await reg.banned_for("n:ghost", "198.51.100.11") == 0


async def test_expired_ban_is_not_a_ban(store: Store) -> None:
    repo = SercenRepo(store)
    now = time.time()
    await repo.ban("ip", "198.51.100.7", now - 400, now - 100)
    assert await repo.banned_until([("ip", "198.51.100.7")], now) == 0
    await repo.ban("ip", "198.51.100.7", now, now + 50)                # re-ban updates the row
    assert await repo.banned_until([("ip", "198.51.100.7")], now) == now + 50


async def test_refresh_family_revocation(store: Store) -> None:
    repo = SercenRepo(store)
    uid = await add_user(store, "1001")
    now = time.time()
    for i, access_exp in enumerate((now + 600, now - 10)):
        await repo.add_refresh({"token_hash": f"t{i}", "family": "fam", "user_id": uid,
                                "access_jti": f"j{i}", "access_expires_at": access_exp,
                                "amr": "pwd", "issued_at": now, "expires_at": now + 3600,
                                "family_expires_at": now + 7200, "used": 0, "revoked": 0})
    assert await repo.mark_refresh_used("t0") is True
    assert await repo.mark_refresh_used("t0") is False
    assert (await repo.refresh_by_access("j1"))["token_hash"] == "t1"  # type: ignore[index]
    assert await repo.revoke_family("fam", now) == 2
    assert await repo.mark_refresh_used("t1") is False
    jtis = {r["jti"] for r in await store.fetchall("SELECT jti FROM token_revocations")}
    assert jtis == {"j0"}          # only access tokens still valid need a revocation row


async def test_cleanup_removes_only_stale_rows(store: Store) -> None:
    repo = SercenRepo(store)
    uid = await add_user(store, "1001")
    now = time.time()
    for name, expires in (("old", now - 1), ("live", now + 100)):
        await repo.create_challenge({"id_hash": name, "user_id": uid, "method": "totp",
                                     "created_at": now - 10, "expires_at": expires})
    await repo.add_failure("ip", "a", "password", now - 500)
    await repo.add_failure("ip", "b", "password", now)
    await repo.ban("ip", "a", now - 400, now - 100)
    await repo.ban("ip", "b", now, now + 100)
    await repo.cleanup(now, find_time=120)
    assert await repo.challenge("old") is None and await repo.challenge("live") is not None
    rows = await store.fetchall("SELECT subject FROM sercen_failures")
    assert [r["subject"] for r in rows] == ["b"]
    rows = await store.fetchall("SELECT subject FROM sercen_bans")
    assert [r["subject"] for r in rows] == ["b"]
