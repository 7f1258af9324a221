"""Tokens from sercen: verified by gateway/FONBO with the public key; refresh rotation; logout."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration.sercen.support import PASSWORD, Sercen, StartSercen, add_user
from webfon.tokens import TokenError, TokenVerifier, store_revocation_check


async def public_verifier(s: Sercen, audience: str) -> TokenVerifier:
    resp = await s.client.get("/sercen/public-key")
    assert resp.status == 200
    key = serialization.load_pem_public_key(await resp.read())
    return TokenVerifier(key, audience=audience, issuer=s.settings.token_issuer,  # type: ignore[arg-type]
                         is_revoked=store_revocation_check(s.store))


async def test_tokens_for_gateway_and_fonbo(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    uid = await add_user(s.store, "1001", email_addr="ana@example.com", role="admin")
    tokens = await s.full_login("1001")
    assert tokens["user"] == {"id": uid, "display_name": "User 1001", "login_number": "1001",
                              "roles": ["user", "admin"]}
    assert tokens["expires_in"] == 900 and tokens["refresh_expires_in"] == 43_200
    for audience in ("gateway", "fonbo", "sercen"):
        claims = await (await public_verifier(s, audience)).verify(tokens["access_token"])
        assert claims.user_id == uid and claims.roles == ("user", "admin")
        assert claims.extra["login_number"] == "1001" and claims.extra["amr"] == ["pwd", "email"]
        assert claims.expires_at - claims.issued_at == 900
    # the public key is the one verifiers find on disk by default
    assert s.settings.public_key_path.read_bytes() == await (
        await s.client.get("/sercen/public-key")).read()


async def test_test_users_get_the_test_role(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1009", email_addr="t@example.com", user_type="test")
    tokens = await s.full_login("1009")
    assert tokens["user"]["roles"] == ["user", "test"]


async def test_refresh_rotation_and_reuse_detection(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    first = await s.full_login("1001")
    status, second = await s.post("/sercen/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 200 and second["status"] == "ok"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    gateway = await public_verifier(s, "gateway")
    c1 = await gateway.verify(first["access_token"])
    c2 = await gateway.verify(second["access_token"])
    assert c1.extra["sid"] == c2.extra["sid"] and c2.extra["amr"] == ["pwd", "email"]
    # presented again at once: two tabs racing; nothing issued, nothing revoked
    status, err = await s.post("/sercen/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 409 and err["error"]["reason"] == "refresh_race"
    assert (await gateway.verify(second["access_token"])).jti == c2.jti
    # presented again later: it was copied, the whole session is revoked
    await s.store.execute("UPDATE sercen_refresh_tokens SET issued_at = issued_at - 60")
    status, err = await s.post("/sercen/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 401 and err["error"]["reason"] == "reused_refresh"
    status, err = await s.post("/sercen/refresh", {"refresh_token": second["refresh_token"]})
    assert status == 401 and err["error"]["reason"] == "revoked_refresh"
    for token in (first["access_token"], second["access_token"]):
        with pytest.raises(TokenError, match="revoked"):
            await gateway.verify(token)
    status, _ = await s.get("/sercen/me", token=second["access_token"])
    assert status == 401


async def test_concurrent_refresh_with_one_token(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    tokens = await s.full_login("1001")
    results = await asyncio.gather(*[
        s.post("/sercen/refresh", {"refresh_token": tokens["refresh_token"]}) for _ in range(4)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409, 409, 409]
    (winner,) = [body for status, body in results if status == 200]
    status, _ = await s.get("/sercen/me", token=winner["access_token"])
    assert status == 200
    status, _ = await s.post("/sercen/refresh", {"refresh_token": winner["refresh_token"]})
    assert status == 200


async def test_refresh_errors(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    tokens = await s.full_login("1001")
    status, err = await s.post("/sercen/refresh", {"refresh_token": "wfr1.nope"})
    assert status == 401 and err["error"]["reason"] == "unknown_refresh"
    await s.store.execute("UPDATE sercen_refresh_tokens SET expires_at = ?", (time.time() - 1,))
    status, err = await s.post("/sercen/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 401 and err["error"]["reason"] == "expired_refresh"


async def test_refresh_refused_for_disabled_user(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    uid = await add_user(s.store, "1001", email_addr="ana@example.com")
    tokens = await s.full_login("1001")
    await s.store.execute("UPDATE users SET enabled = 0 WHERE id = ?", (uid,))
    status, err = await s.post("/sercen/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 401 and err["error"]["reason"] == "disabled"


async def test_logout_revokes_access_and_refresh(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    tokens = await s.full_login("1001")
    other = await s.full_login("1001")          # a second session stays alive
    status, me = await s.get("/sercen/me", token=tokens["access_token"])
    assert status == 200 and me["user"]["login_number"] == "1001"
    status, done = await s.post("/sercen/logout", {}, token=tokens["access_token"])
    assert status == 200 and done == {"status": "ok", "sessions_ended": 1}
    status, err = await s.get("/sercen/me", token=tokens["access_token"])
    assert status == 401 and err["error"]["reason"] == "bad_token"
    status, err = await s.post("/sercen/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 401 and err["error"]["reason"] == "revoked_refresh"
    with pytest.raises(TokenError):
        await (await public_verifier(s, "fonbo")).verify(tokens["access_token"])
    status, _ = await s.get("/sercen/me", token=other["access_token"])
    assert status == 200
    # with only the refresh token (access token lost or expired)
    status, done = await s.post("/sercen/logout", {"refresh_token": other["refresh_token"]})
    assert status == 200 and done["sessions_ended"] == 1
    status, _ = await s.get("/sercen/me", token=other["access_token"])
    assert status == 401
    status, err = await s.post("/sercen/logout", {})
    assert status == 401 and err["error"]["reason"] == "no_token"


async def test_same_answer_for_unknown_user_wrong_password_disabled(
        start_sercen: StartSercen) -> None:
    s = await start_sercen(response_delay=0.2, response_jitter=0.0)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    await add_user(s.store, "1002", email_addr="bea@example.com", enabled=0)
    answers = []
    for login, password in (("1001", "wrong"), ("9999", "wrong"), ("1002", PASSWORD)):
        started = time.monotonic()
        status, body = await s.login(login, password, xff=f"198.51.100.{len(answers) + 1}")
        assert time.monotonic() - started >= 0.2
        answers.append((status, body))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0] == (401, {"error": {"status": 401, "message": "invalid login or password",
                                          "reason": "invalid_credentials"}})
    assert s.smtp.pending() == 0


async def test_unknown_login_is_banned_like_a_real_one(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    for login in ("1001", "ghost"):
        got = [(await s.login(login, "wrong", xff=f"203.0.113.{i}"))[0] for i in range(4)]
        assert got == [401, 401, 429, 429], login


async def test_bans_shared_between_nodes(start_sercen: StartSercen) -> None:
    a = await start_sercen()
    b = await start_sercen(store=a.store)       # a second node on the same store
    await add_user(a.store, "1001", email_addr="ana@example.com")
    for i in range(3):
        await a.login("1001", "wrong", xff=f"203.0.113.{i}")
    status, err = await b.login("1001", xff="198.51.100.1")
    assert status == 429 and err["error"]["reason"] == "banned"
    assert int(err["error"]["retry_after"]) > 200


async def test_bad_requests_get_clear_errors(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    for body in ({}, {"login": "1001"}, {"login": 5, "password": "x"}, [1, 2],
                 {"login": "x" * 200, "password": "p"}, {"login": "1", "password": "p" * 2000}):
        status, err = await s.post("/sercen/login", body)
        assert status == 400 and err["error"]["reason"] == "bad_request", body
    resp = await s.client.post("/sercen/login", data=b"{not json",
                               headers={"Content-Type": "application/json"})
    assert resp.status == 400 and "invalid JSON" in (await resp.json())["error"]["message"]
    status, err = await s.post("/sercen/second-factor", {"challenge": "x"})
    assert status == 400
    status, err = await s.post("/sercen/second-factor", {"challenge": "nope", "code": "123456"})
    assert status == 401 and err["error"]["reason"] == "unknown_challenge"
    status, err = await s.get("/sercen/me", token="not-a-token")
    assert status == 401 and err["error"]["reason"] == "bad_token"
    resp = await s.client.get("/sercen/me", headers={"Authorization": "Basic abc"})
    assert resp.status == 401


async def test_no_secret_in_logs(start_sercen: StartSercen,
                                 caplog: pytest.LogCaptureFixture) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    with caplog.at_level(logging.DEBUG):
        await s.login("1001", "wrong-password-xyz")
        _, body = await s.login("1001")
        code = await s.smtp.next_code()
        await s.post("/sercen/second-factor", {"challenge": body["challenge"], "code": "999999"})
        _, tokens = await s.post("/sercen/second-factor",
                                 {"challenge": body["challenge"], "code": code})
        await s.post("/sercen/refresh", {"refresh_token": tokens["refresh_token"]})
    # everything logged on sercen's side (the test's own SMTP server logs what it receives)
    text = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records
                     if r.name != "mail.log")
    assert "sercen-auth-failure" in text and "sercen-auth-success" in text
    for secret in ("wrong-password-xyz", PASSWORD, code, body["challenge"],
                   tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text


async def test_token_answers_are_not_cacheable(start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=["127.0.0.0/8"])
    await add_user(s.store, "1001", email_addr="ana@example.com")
    resp = await s.client.post("/sercen/login", json={"login": "1001", "password": PASSWORD})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    resp = await s.client.post("/sercen/login", json={"login": "1001", "password": "x"})
    assert resp.status == 401 and resp.headers["Cache-Control"] == "no-store"
    resp = await s.client.get("/sercen/public-key")
    assert resp.headers["Cache-Control"].startswith("public")
    assert (await resp.text()).startswith("-----BEGIN PUBLIC KEY-----")
