"""TOTP: enrolment with URI and QR, confirmation, login, replay refused, lockout, removal."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

from sercen import totp
from sercen.app import secrets_key
from sercen.secretbox import SecretBox
from tests.integration.sercen.support import Sercen, StartSercen, add_user

TRUSTED = ["172.25.0.0/16"]


async def enrol(s: Sercen, login: str) -> tuple[str, str, int]:
    """Log in from the office, enrol and confirm; returns (secret, access token, used step)."""
    status, tokens = await s.login(login, xff="172.25.1.9")
    assert status == 200 and tokens["status"] == "ok", tokens
    access = tokens["access_token"]
    status, enrolment = await s.post("/sercen/totp/enroll", {}, token=access)
    assert status == 200, enrolment
    secret = parse_qs(urlparse(enrolment["otpauth_uri"]).query)["secret"][0]
    assert secret == enrolment["secret"]
    assert base64.b64decode(enrolment["qr_png_base64"]).startswith(b"\x89PNG")
    step = totp.current_step() - 1
    status, done = await s.post("/sercen/totp/confirm", {"code": totp.code_at(secret, step)},
                                token=access)
    assert status == 200 and done == {"status": "ok", "method": "totp"}
    return secret, access, step


async def totp_challenge(s: Sercen, login: str) -> str:
    status, body = await s.login(login, xff="198.51.100.7")
    assert status == 200 and body["status"] == "second_factor" and body["method"] == "totp"
    return body["challenge"]


async def test_enrol_login_and_replay(start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=TRUSTED, totp_window=2)
    uid = await add_user(s.store, "1001", email_addr="ana@example.com")
    secret, access, used = await enrol(s, "1001")
    # the secret is stored encrypted, bound to its user
    row = await s.store.fetchone("SELECT secret_enc, confirmed FROM twofa_secrets "
                                 "WHERE user_id = ?", (uid,))
    assert row is not None and row["confirmed"] == 1 and secret not in row["secret_enc"]
    assert SecretBox(secrets_key(s.settings)).decrypt(row["secret_enc"], f"totp:{uid}") == secret
    status, me = await s.get("/sercen/me", token=access)
    assert me["second_factor"] == {"method": "totp", "totp_enrolled": True,
                                   "totp_pending": False}
    # the code that confirmed the enrolment cannot log in
    challenge = await totp_challenge(s, "1001")
    status, err = await s.post("/sercen/second-factor",
                               {"challenge": challenge, "code": totp.code_at(secret, used)},
                               xff="198.51.100.7")
    assert status == 401 and err["error"]["reason"] == "reused_code"
    # a fresh code does, once
    fresh = totp.code_at(secret, used + 1)
    status, tokens = await s.post("/sercen/second-factor", {"challenge": challenge,
                                                            "code": fresh},
                                  xff="198.51.100.7")
    assert status == 200 and tokens["status"] == "ok", tokens
    status, me = await s.get("/sercen/me", token=tokens["access_token"])
    assert me["session"]["amr"] == ["pwd", "otp"]
    challenge = await totp_challenge(s, "1001")
    status, err = await s.post("/sercen/second-factor", {"challenge": challenge, "code": fresh},
                               xff="198.51.100.7")
    assert status == 401 and err["error"]["reason"] == "reused_code"
    assert s.smtp.pending() == 0


async def test_lockout_on_totp_factor(start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=TRUSTED, totp_window=2)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    secret, _, used = await enrol(s, "1001")
    challenge = await totp_challenge(s, "1001")
    good = totp.code_at(secret, used + 1)
    bad = "000000" if good != "000000" else "111111"
    results = []
    for _ in range(3):
        status, err = await s.post("/sercen/second-factor", {"challenge": challenge,
                                                             "code": bad},
                                   xff="198.51.100.7")
        results.append((status, err["error"]["reason"]))
    assert results == [(401, "bad_code"), (401, "bad_code"), (429, "banned")]
    status, err = await s.login("1001", xff="198.51.100.99")
    assert status == 429 and err["error"]["reason"] == "banned"
    # another user from the banned address is refused too
    await add_user(s.store, "1002", email_addr="bea@example.com")
    status, err = await s.login("1002", xff="198.51.100.7")
    assert status == 429


async def test_confirm_needs_a_valid_code_and_pending_enrolment(
        start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=TRUSTED)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    _, tokens = await s.login("1001", xff="172.25.1.9")
    access = tokens["access_token"]
    status, err = await s.post("/sercen/totp/confirm", {"code": "123456"}, token=access)
    assert status == 404 and err["error"]["reason"] == "no_enrolment"
    status, _ = await s.post("/sercen/totp/enroll", {}, token=access)
    status, err = await s.post("/sercen/totp/confirm", {"code": "12345x"}, token=access)
    assert status == 401 and err["error"]["reason"] == "bad_code"
    status, me = await s.get("/sercen/me", token=access)
    assert me["second_factor"] == {"method": "email", "totp_enrolled": False,
                                   "totp_pending": True}
    # an unconfirmed enrolment does not change how the user logs in
    status, body = await s.login("1001", xff="198.51.100.7")
    assert body["method"] == "email"
    status, err = await s.post("/sercen/totp/enroll", {})
    assert status == 401 and err["error"]["reason"] == "no_token"


async def test_remove_totp_back_to_email(start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=TRUSTED, totp_window=2)
    await add_user(s.store, "1001", email_addr="ana@example.com")
    secret, access, used = await enrol(s, "1001")
    status, err = await s.post("/sercen/totp/remove", {"code": totp.code_at(secret, used)},
                               token=access)
    assert status == 401 and err["error"]["reason"] == "bad_code"
    status, done = await s.post("/sercen/totp/remove",
                                {"code": totp.code_at(secret, used + 1)}, token=access)
    assert status == 200 and done == {"status": "ok", "method": "email"}
    status, body = await s.login("1001", xff="198.51.100.7")
    assert body["method"] == "email"


async def test_secret_unreadable_with_another_key(start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=TRUSTED, totp_window=2)
    uid = await add_user(s.store, "1001", email_addr="ana@example.com")
    await enrol(s, "1001")
    other = SecretBox(b"\x01" * 32).encrypt("JBSWY3DPEHPK3PXP", f"totp:{uid}")
    await s.store.execute("UPDATE twofa_secrets SET secret_enc = ?", (other,))
    challenge = await totp_challenge(s, "1001")
    status, err = await s.post("/sercen/second-factor", {"challenge": challenge,
                                                         "code": "123456"},
                               xff="198.51.100.7")
    assert status == 500 and err["error"]["reason"] == "secret_unreadable"
    # the service keeps answering
    status, _ = await s.get("/sercen/network")
    assert status == 200


async def test_replacing_an_authenticator_needs_it(start_sercen: StartSercen) -> None:
    s = await start_sercen(trusted_networks=TRUSTED, totp_window=2)
    uid = await add_user(s.store, "1001", email_addr="ana@example.com")
    secret, office_access, used = await enrol(s, "1001")
    # an e-mail-authenticated session (preference switched back by an administrator)
    await s.store.execute("UPDATE users SET second_factor = 'email' WHERE id = ?", (uid,))
    tokens = await s.full_login("1001", xff="198.51.100.7")
    status, err = await s.post("/sercen/totp/enroll", {}, token=tokens["access_token"])
    assert status == 403 and err["error"]["reason"] == "reauth_required"
    # from the office, or after logging in with the app, it is allowed
    status, _ = await s.post("/sercen/totp/enroll", {}, token=office_access)
    assert status == 200
    await s.store.execute("UPDATE users SET second_factor = 'totp' WHERE id = ?", (uid,))
    challenge = await totp_challenge(s, "1001")
    _, with_app = await s.post("/sercen/second-factor",
                               {"challenge": challenge, "code": totp.code_at(secret, used + 1)},
                               xff="198.51.100.7")
    status, _ = await s.post("/sercen/totp/enroll", {}, token=with_app["access_token"])
    assert status == 200
