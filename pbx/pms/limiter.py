"""Failed logins on the PMS interface: ``max_failures`` within ``window_s`` lock the address
(and, separately, the user name) out for ``lock_s``. Kept in the process: CHAR talks to one
PBX node's listener; memory is bounded (``max_keys``, least useful keys dropped first)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginLimiter:
    def __init__(self, max_failures: int, window_s: float, lock_s: float, *,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lock_s = lock_s
        self.max_keys = max_keys
        self.clock = clock
        self._keys: dict[str, _Record] = {}

    def locked_for(self, *keys: str) -> float:
        """Seconds left on the longest lock of ``keys``; 0 when none is locked."""
        now = self.clock()
        left = 0.0
        for key in keys:
            record = self._keys.get(key)
            if record is not None and record.locked_until > now:
                left = max(left, record.locked_until - now)
        return left

    def fail(self, *keys: str) -> bool:
        """Count a failure against each key; True when that locked one of them."""
        now = self.clock()
        locked = False
        for key in keys:
            record = self._keys.get(key)
            if record is None:
                if len(self._keys) >= self.max_keys:
                    self._prune(now)
                record = self._keys[key] = _Record()
            record.failures = [t for t in record.failures if now - t < self.window_s]
            record.failures.append(now)
            if len(record.failures) >= self.max_failures:
                record.locked_until = now + self.lock_s
                record.failures.clear()
                locked = True
        return locked

    def succeed(self, key: str) -> None:
        self._keys.pop(key, None)

    def _prune(self, now: float) -> None:
        stale = [k for k, r in self._keys.items() if r.locked_until <= now
                 and all(now - t >= self.window_s for t in r.failures)]
        for key in stale:
            del self._keys[key]
        if len(self._keys) >= self.max_keys:  # all busy: forget the unlocked ones
            for key in [k for k, r in self._keys.items() if r.locked_until <= now]:
                del self._keys[key]
