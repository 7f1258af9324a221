"""Voicemail messages (``voicemail_messages``): storing a new one and counting a mailbox."""

from __future__ import annotations

from dataclasses import dataclass

from webfon.store import Store


@dataclass(frozen=True, slots=True)
class NewMessage:
    user_id: int
    caller: str
    caller_name: str
    call_id: str
    created_at: float
    duration_s: float
    path: str


class VoicemailRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, message: NewMessage) -> int:
        """Store ``message`` (text columns cut to their sizes); its id."""
        return await self.store.insert(
            "INSERT INTO voicemail_messages (user_id, caller, caller_name, call_id, created_at, "
            "duration_s, path) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (message.user_id, message.caller[:64], message.caller_name[:128],
             message.call_id[:255], message.created_at, round(message.duration_s, 3),
             message.path))

    async def unread(self, user_id: int) -> int:
        return int(await self.store.fetchval(
            "SELECT COUNT(*) FROM voicemail_messages WHERE user_id = ? AND heard = 0",
            (user_id,)) or 0)

    async def heard(self, user_id: int) -> int:
        return int(await self.store.fetchval(
            "SELECT COUNT(*) FROM voicemail_messages WHERE user_id = ? AND heard = 1",
            (user_id,)) or 0)
