"""One web phone login or logout of a user at a time on this node, in the order they were
asked for.

A logout runs in the background after the browser has gone (SIP un-REGISTER, then the PBX's
control API); a new login of the same user (a reloaded page, the next sign-in) can reach the
PBX before it. The PBX then renews the session the login found, and the late logout ends it:
the new web phone believes it is registered and is never rung. Holding the user's turn from
"does anyone here still use this web phone?" to the PBX's answer, and from the PBX's login to
the account being listed, makes the two happen one after the other, whichever comes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WebphoneOrder:
    """A lock per user id, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # holders and waiters per user

    @asynccontextmanager
    async def turn(self, user_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._users[user_id] = self._users.get(user_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            left = self._users[user_id] - 1
            if left:
                self._users[user_id] = left
            else:
                del self._users[user_id]
                del self._locks[user_id]

    def __len__(self) -> int:
        """Users with a login or logout under way (or waiting for one)."""
        return len(self._locks)
