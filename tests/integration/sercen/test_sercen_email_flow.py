"""Second factor by e-mail through a real SMTP server (aiosmtpd): codes, expiry, resend, bans."""

from __future__ import annotations

import asyncio
import time

from tests.integration.sercen.support import StartSercen, add_user


async def test_email_code_login(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    status, body = await s.login("1001")
    assert status == 200, body
    assert body["status"] == "second_factor"
    assert body["method"] == "email"
    assert body["destination"] == "a***@example.com"
    assert body["code_length"] == 6 and body["code_expires_in"] == 300
    assert len(body["challenge"]) >= 40
    msg = await s.smtp.next_message()
    assert msg["To"] == "ana@example.com" and msg["From"] == "sercen@webfon.test"
    code = msg.get_body(("plain",)).get_content().split("code is: ")[1][:6]
    assert body["challenge"] not in msg.as_string()
    status, tokens = await s.post("/sercen/second-factor",
                                  {"challenge": body["challenge"], "code": code})
    assert status == 200, tokens
    assert tokens["status"] == "ok" and tokens["token_type"] == "Bearer"
    assert tokens["user"]["login_number"] == "1001"
    # single use: the same challenge and code never work twice
    status, again = await s.post("/sercen/second-factor",
                                 {"challenge": body["challenge"], "code": code})
    assert status == 401 and again["error"]["reason"] == "unknown_challenge"


async def test_username_login_and_wrong_then_right_code(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1002", email_addr="bea@example.com", username="bea")
    status, body = await s.login("bea")
    assert status == 200 and body["method"] == "email"
    code = await s.smtp.next_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    status, err = await s.post("/sercen/second-factor",
                               {"challenge": body["challenge"], "code": wrong})
    assert status == 401 and err["error"]["reason"] == "bad_code"
    status, tokens = await s.post("/sercen/second-factor",
                                  {"challenge": body["challenge"], "code": code})
    assert status == 200 and tokens["user"]["login_number"] == "1002"


async def test_expired_code_rejected(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    _, body = await s.login("1001")
    code = await s.smtp.next_code()
    await s.store.execute("UPDATE sercen_challenges SET code_expires_at = ?",
                          (time.time() - 1,))
    status, err = await s.post("/sercen/second-factor",
                               {"challenge": body["challenge"], "code": code})
    assert status == 401 and err["error"]["reason"] == "code_expired"


async def test_expired_challenge_rejected(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    _, body = await s.login("1001")
    code = await s.smtp.next_code()
    await s.store.execute("UPDATE sercen_challenges SET expires_at = ?", (time.time() - 1,))
    status, err = await s.post("/sercen/second-factor",
                               {"challenge": body["challenge"], "code": code})
    assert status == 401 and err["error"]["reason"] == "unknown_challenge"


async def test_resend_cooldown_and_new_code(start_sercen: StartSercen) -> None:
    s = await start_sercen(email_resend_cooldown=30.0)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    _, body = await s.login("1001")
    first = await s.smtp.next_code()
    status, err = await s.post("/sercen/second-factor/resend", {"challenge": body["challenge"]})
    assert status == 429 and err["error"]["reason"] == "cooldown"
    assert 1 <= err["error"]["retry_after"] <= 30
    assert s.smtp.pending() == 0
    # the cooldown has passed
    await s.store.execute("UPDATE sercen_challenges SET sent_at = sent_at - 31")
    status, sent = await s.post("/sercen/second-factor/resend", {"challenge": body["challenge"]})
    assert status == 200 and sent == {"status": "sent", "destination": "a***@example.com",
                                      "code_expires_in": 300, "resend_after": 30}
    second = await s.smtp.next_code()
    if second != first:   # a resend replaces the code (1 in a million they coincide)
        status, err = await s.post("/sercen/second-factor",
                                   {"challenge": body["challenge"], "code": first})
        assert status == 401 and err["error"]["reason"] == "bad_code"
    status, tokens = await s.post("/sercen/second-factor",
                                  {"challenge": body["challenge"], "code": second})
    assert status == 200 and tokens["status"] == "ok"


async def test_resend_limit(start_sercen: StartSercen) -> None:
    s = await start_sercen(email_resend_cooldown=0.0, email_max_sends=2)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    _, body = await s.login("1001")
    await s.smtp.next_code()
    status, _ = await s.post("/sercen/second-factor/resend", {"challenge": body["challenge"]})
    assert status == 200
    await s.smtp.next_code()
    status, err = await s.post("/sercen/second-factor/resend", {"challenge": body["challenge"]})
    assert status == 429 and err["error"]["reason"] == "too_many_sends"


async def test_lockout_on_email_factor(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    _, body = await s.login("1001")
    code = await s.smtp.next_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(2):
        status, err = await s.post("/sercen/second-factor",
                                   {"challenge": body["challenge"], "code": wrong})
        assert status == 401 and err["error"]["reason"] == "bad_code"
    status, err = await s.post("/sercen/second-factor",
                               {"challenge": body["challenge"], "code": wrong})
    assert status == 429 and err["error"]["reason"] == "banned"
    assert 250 <= err["error"]["retry_after"] <= 300
    # the right code no longer helps: the challenge is gone and the user is banned
    status, err = await s.post("/sercen/second-factor",
                               {"challenge": body["challenge"], "code": code})
    assert status == 401 and err["error"]["reason"] == "unknown_challenge"
    status, err = await s.login("1001", xff="203.0.113.50")   # from another address too
    assert status == 429 and err["error"]["reason"] == "banned"
    assert s.smtp.pending() == 0
    # after the ban: works again
    await s.store.execute("UPDATE sercen_bans SET banned_until = ?", (time.time() - 1,))
    tokens = await s.full_login("1001")
    assert tokens["status"] == "ok"


async def test_mail_failure_is_a_clear_503(start_sercen: StartSercen) -> None:
    s = await start_sercen(smtp_puerto=1, smtp_timeout=5.0)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    status, err = await s.login("1001")
    assert status == 503 and err["error"]["reason"] == "mail_failed"
    assert await s.store.fetchval("SELECT COUNT(*) AS n FROM sercen_challenges") == 0


async def test_no_second_factor_available(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="")
    status, err = await s.login("1001")
    assert status == 403 and err["error"]["reason"] == "no_second_factor"


async def test_housekeeping_removes_expired_challenges(start_sercen: StartSercen) -> None:
    s = await start_sercen(cleanup_interval=0.05)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    _, body = await s.login("1001")
    await s.smtp.next_code()
    await s.store.execute("UPDATE sercen_challenges SET expires_at = ?", (time.time() - 1,))
    deadline = time.monotonic() + 10
    while await s.store.fetchval("SELECT COUNT(*) AS n FROM sercen_challenges"):
        assert time.monotonic() < deadline, "expired challenge never cleaned up"
        await asyncio.sleep(0.05)
    status, err = await s.post("/sercen/second-factor/resend", {"challenge": body["challenge"]})
    assert status == 401 and err["error"]["reason"] == "unknown_challenge"
