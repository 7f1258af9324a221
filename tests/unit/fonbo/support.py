"""Helpers for FONBO tests: tokens, users with extensions, CDR and voicemail rows, a client."""

from __future__ import annotations

import struct
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from fonbo.app import build_app
from fonbo.settings import FonboSettings
from webfon.bus import Bus, LocalBus
from webfon.directory import add_phone, create_extension, reserve_number
from webfon.passwords import hash_password
from webfon.store import Store, open_store
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key

PASSWORD = "password-for-tests"
PASSWORD_HASH = hash_password(PASSWORD)  # hashed once: argon2id is slow on purpose


@dataclass
class World:
    store: Store
    data_dir: Path
    issuer: TokenIssuer
    settings: FonboSettings
    bus: Bus
    users: dict[str, int] = field(default_factory=dict)

    def token(self, user_id: int, roles: tuple[str, ...] = ("user",), ttl: float = 600,
              audience: tuple[str, ...] = ("fonbo",)) -> str:
        return self.issuer.issue(user_id, audience=audience, roles=roles, ttl=ttl)[0]

    def auth(self, user_id: int, admin: bool = False) -> dict[str, str]:
        roles = ("user", "admin") if admin else ("user",)
        return {"Authorization": f"Bearer {self.token(user_id, roles)}"}


def make_world(store: Store, data_dir: Path, bus: Bus | None = None, **overrides: Any) -> World:
    private, public = ensure_keypair(data_dir)
    settings = FonboSettings(data_dir=data_dir, token_public_key=public, **overrides)
    return World(store=store, data_dir=data_dir, issuer=TokenIssuer(load_private_key(private)),
                 settings=settings, bus=bus or LocalBus())


async def make_user(store: Store, login: str, name: str, *, extension: str | None = None,
                    role: str = "user", phones: int = 0) -> int:
    """A user (password ``PASSWORD``) with, optionally, a desk extension and phones."""
    async with store.transaction() as tx:
        await reserve_number(tx, login, "user")
        uid = await tx.insert(
            "INSERT INTO users (display_name, login_number, password_hash, role, username, "
            "email, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, login, PASSWORD_HASH, role, f"u{login}", f"u{login}@example.test",
             time.time()))
        if extension:
            eid = await create_extension(tx, number=extension, kind="hard", owner_user_id=uid)
            for pos in range(phones):
                await add_phone(tx, extension_id=eid, position=pos,
                                sip_username=f"{extension}-{pos}", sip_password="sip-secret-1",
                                model="Desk", ring_order=pos + 1, secure=int(pos == 1))
    return uid


async def add_cdr(store: Store, user_id: int, *, started_at: float, caller: str, callee: str,
                  direction: str = "inbound", answered: bool = True, caller_name: str = "",
                  call_id: str | None = None) -> int:
    answered_at = started_at + 2 if answered else None
    ended = started_at + (30 if answered else 10)
    return await store.insert(
        "INSERT INTO cdr (call_id, caller, caller_name, callee, user_id, direction, started_at, "
        "answered_at, ended_at, duration_s, billsec, disposition) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (call_id or f"c{started_at}-{user_id}@t", caller, caller_name, callee, user_id,
         direction, started_at, answered_at, ended, ended - started_at,
         (ended - answered_at) if answered_at else 0,
         "answered" if answered else "no_answer"))


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(struct.pack("<h", (i * 37) % 2000 - 1000)
                          for i in range(int(seconds * rate)))
        w.writeframes(frames)
    return path


async def add_voicemail(store: Store, user_id: int, path: Path, *, heard: bool = False,
                        caller: str = "600111222") -> int:
    return await store.insert(
        "INSERT INTO voicemail_messages (user_id, caller, caller_name, call_id, created_at, "
        "duration_s, path, heard) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, caller, "Someone", f"vm-{time.time()}", time.time(), 1.0, str(path),
         int(heard)))


async def start_client(world: World) -> TestClient:
    app = await build_app(world.settings, store=world.store, bus=world.bus)
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite:///{tmp_path / 'fonbo.db'}")
    yield s
    await s.close()


@pytest.fixture
async def world(sqlite_store: Store, data_dir: Path) -> World:
    w = make_world(sqlite_store, data_dir)
    w.users["alice"] = await make_user(sqlite_store, "1001", "Alice Admin", extension="2001",
                                       role="admin", phones=2)
    w.users["bob"] = await make_user(sqlite_store, "1002", "Bob Builder", extension="2002",
                                     phones=1)
    return w


@pytest.fixture
async def client(world: World) -> AsyncIterator[TestClient]:
    c = await start_client(world)
    yield c
    await c.close()
