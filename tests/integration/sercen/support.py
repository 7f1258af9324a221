"""Helpers for sercen flow tests: an SMTP sink (aiosmtpd handler), users, a client wrapper."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session

from sercen.settings import SercenSettings
from webfon.passwords import hash_password
from webfon.store import Store

PASSWORD = "correct horse battery staple"
_HASH = hash_password(PASSWORD)


class MailSink:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[email.message.EmailMessage] = asyncio.Queue()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        msg = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(),
                                       policy=email.policy.default)
        del msg["X-RcptTo"]
        msg["X-RcptTo"] = ", ".join(envelope.rcpt_tos)
        await self.messages.put(msg)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    sink: MailSink

    async def next_message(self, timeout: float = 10.0) -> email.message.EmailMessage:
        return await asyncio.wait_for(self.sink.messages.get(), timeout)

    async def next_code(self, timeout: float = 10.0) -> str:
        msg = await self.next_message(timeout)
        body = msg.get_body(("plain",))
        assert body is not None
        match = re.search(r"code is: (\d{6})", body.get_content())
        assert match, body.get_content()
        return match.group(1)

    def pending(self) -> int:
        return self.sink.messages.qsize()


async def add_user(store: Store, number: str, *, email_addr: str = "", role: str = "user",
                   user_type: str = "normal", username: str | None = None,
                   second_factor: str = "email", enabled: int = 1,
                   password_hash: str = _HASH) -> int:
    await store.execute("INSERT INTO numbering (number, kind) VALUES (?, 'user')", (number,))
    return await store.insert(
        "INSERT INTO users (display_name, login_number, username, email, password_hash, role, "
        "user_type, enabled, second_factor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (f"User {number}", number, username, email_addr, password_hash, role, user_type,
         enabled, second_factor, 0.0))


@dataclass
class Sercen:
    client: TestClient
    store: Store
    settings: SercenSettings
    smtp: SmtpServer
    headers: dict[str, str] = field(default_factory=dict)

    async def post(self, path: str, body: Any = None, *, token: str | None = None,
                   xff: str | None = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if xff:
            headers["X-Forwarded-For"] = xff
        resp = await self.client.post(path, json=body, headers=headers)
        return resp.status, await resp.json()

    async def get(self, path: str, *, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await self.client.get(path, headers=headers)
        return resp.status, await resp.json()

    async def login(self, login: str, password: str = PASSWORD,
                    xff: str | None = None) -> tuple[int, Any]:
        return await self.post("/sercen/login", {"login": login, "password": password}, xff=xff)

    async def full_login(self, login: str, xff: str | None = None) -> dict[str, Any]:
        """Password plus the e-mailed code; returns the token answer."""
        status, body = await self.login(login, xff=xff)
        assert status == 200, body
        if body["status"] == "ok":
            return body
        assert body["method"] == "email", body
        code = await self.smtp.next_code()
        status, body = await self.post("/sercen/second-factor",
                                       {"challenge": body["challenge"], "code": code}, xff=xff)
        assert status == 200, body
        return body


StartSercen = Callable[..., Awaitable[Sercen]]


