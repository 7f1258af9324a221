"""Login with an e-mailed code through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from tests.integration.sercen.support import StartSercen, add_user


async def test_email_code_login(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    await add_user(s.store, "1001", email_addr="ana@example.com")
    status, body = await s.login("1001")
    assert status == 200, body
    assert body["status"] == "second_factor"
    assert body["method"] == "email"
    assert body["destination"] == "a***@example.com"
    msg = await s.smtp.next_message()
    assert msg["To"] == "ana@example.com"
    code = msg.get_body(("plain",)).get_content().split("code is: ")[1][:6]
    status, tokens = await s.post("/sercen/second-factor",
                                  {"challenge": body["challenge"], "code": code})
    assert status == 200, tokens
    assert tokens["status"] == "ok"
    assert tokens["user"]["login_number"] == "1001"
