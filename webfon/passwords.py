"""Password and PIN hashing with argon2id (argon2-cffi); verification in constant time."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY = _hasher.hash("webfon-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no stored hash still spends the same time."""
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


class ChecksBusy(RuntimeError):
    """Too many password checks are already waiting: try again later."""


class PasswordChecks:
    """Password verifications for request handlers: each in a worker thread (argon2id takes
    tens of milliseconds and ~64 MiB), at most ``limit`` at once (default: the CPU count,
    at least 2) so a burst of attempts queues instead of exhausting memory and threads; with
    ``max_waiting`` already queued, :meth:`verify` refuses at once (:class:`ChecksBusy`)."""

    def __init__(self, limit: int | None = None, max_waiting: int = 64) -> None:
        self.limit = limit or max(2, os.cpu_count() or 2)
        self.max_waiting = max_waiting
        self._semaphore = asyncio.Semaphore(self.limit)
        self._waiting = 0

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        if self._semaphore.locked() and self._waiting >= self.max_waiting:
            raise ChecksBusy("too many password checks in progress")
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.to_thread(verify_password, stored_hash, password)
        finally:
            self._semaphore.release()
