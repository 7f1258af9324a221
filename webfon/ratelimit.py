"""Limits on what one key (an address, an account, a phone) may do: token buckets for request
rates, and failure counters that lock a key out with a growing back-off.

Both keep their state in the process, per key, in plain dicts: a check is a dict lookup and a
little arithmetic, cheap enough for every datagram a server receives. Memory is bounded
(``max_keys``): when full, keys that carry no state worth keeping (a full bucket, a key
neither locked nor failing) are forgotten first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


class TokenBuckets:
    """One token bucket per key: ``burst`` tokens, refilled at ``rate`` per second; each
    :meth:`allow` takes one."""

    __slots__ = ("_buckets", "burst", "clock", "max_keys", "rate")

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000,
                 clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: str) -> bool:
        """Whether ``key`` may go on now (a token is taken when it may)."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return True
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _prune(self, now: float) -> None:
        """Forget the buckets that have refilled (idle keys); all of them if none has."""
        full = self.burst / self.rate
        idle = [k for k, (_, last) in self._buckets.items() if now - last >= full]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


@dataclass(slots=True)
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0
    locks: int = 0


class FailureLimiter:
    """Counts failures per key; ``max_failures`` within ``window_s`` of each other lock the
    key for ``lock_s``, and every further lock of the same key doubles (up to
    ``max_lock_s``). A key with no failure for ``max_lock_s`` starts afresh; a success
    (:meth:`succeed`) forgets the key at once."""

    __slots__ = ("_records", "clock", "lock_s", "max_failures", "max_keys", "max_lock_s",
                 "window_s")

    def __init__(self, max_failures: int, window_s: float, lock_s: float, *,
                 max_lock_s: float | None = None, max_keys: int = 100_000,
                 clock: Clock = time.monotonic) -> None:
        if max_failures < 1 or window_s <= 0 or lock_s <= 0:
            raise ValueError("max_failures >= 1, window_s > 0 and lock_s > 0 are required")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lock_s = lock_s
        self.max_lock_s = max(lock_s, max_lock_s if max_lock_s is not None else lock_s)
        self.max_keys = max_keys
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def __len__(self) -> int:
        return len(self._records)

    def locked_for(self, key: str) -> float:
        """Seconds ``key`` stays locked (0 when it is not)."""
        record = self._records.get(key)
        if record is None:
            return 0.0
        left = record.locked_until - self.clock()
        return left if left > 0 else 0.0

    def fail(self, key: str) -> float:
        """Count a failure of ``key``: the length of the lock it starts (0 when none)."""
        now = self.clock()
        record = self._records.get(key)
        if record is None:
            if len(self._records) >= self.max_keys:
                self._prune(now)
            record = self._records[key] = _Record()
        else:
            quiet = now - max(record.last_failure, record.locked_until)
            if quiet > self.max_lock_s:
                record.locks = 0
            if now - record.last_failure > self.window_s:
                record.failures = 0
        record.failures += 1
        record.last_failure = now
        if record.failures < self.max_failures:
            return 0.0
        lock = min(self.max_lock_s, self.lock_s * (2 ** min(record.locks, 32)))
        record.failures = 0
        record.locks += 1
        record.locked_until = now + lock
        return lock

    def succeed(self, key: str) -> None:
        self._records.pop(key, None)

    def _prune(self, now: float) -> None:
        """Forget keys neither locked nor with a recent failure; all if that frees none."""
        stale = [k for k, r in self._records.items()
                 if r.locked_until <= now and now - r.last_failure > self.window_s]
        for key in stale:
            del self._records[key]
        if len(self._records) >= self.max_keys:
            self._records.clear()
