"""CDR writer: one row per call leg outcome in ``cdr``, ``call.ended`` on the event bus.

The bus is optional (anything with ``async publish(topic, payload)``); a failing bus never
loses the row, and a failing store never breaks the call (both are logged). Rows queued while
the store is unreachable (a database restart) stay queued and are written, in order, when it
answers again; only a row the store refuses as invalid is dropped (and logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from webfon.store import Store, StoreError
from webfon.store.base import Executor, IntegrityError

from .batching import DelayedFlush
from .events import Publisher

log = logging.getLogger("pbx.cdr")


class Disposition(StrEnum):
    """How a call, or one attempt of it, ended (the ``cdr.disposition`` column)."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELLED = "cancelled"
    VOICEMAIL = "voicemail"
    FORWARDED = "forwarded"
    REJECTED = "rejected"


class Direction(StrEnum):
    """The ``cdr.direction`` column, seen from the row's user."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


DISPOSITIONS = tuple(Disposition)
DIRECTIONS = tuple(Direction)


@dataclass
class CdrRecord:
    call_id: str
    caller: str
    callee: str
    direction: str
    started_at: float
    disposition: str = "failed"
    leg: int = 0
    caller_name: str = ""
    user_id: int | None = None
    peer_user_id: int | None = None
    extension: str = ""
    answered_at: float | None = None
    ended_at: float = 0.0
    trunk: str = ""
    hangup_cause: str = ""
    mos: float | None = None
    """The call's E-model MOS (None: no media measured), with its worst loss and jitter and
    end-to-end round trip; ``quality`` holds every leg's figures as JSON
    (:mod:`webfon.rtp.quality`)."""
    loss_pct: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None
    quality: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ValueError for a value the store would refuse."""
        if self.disposition not in DISPOSITIONS:
            raise ValueError(f"unknown disposition {self.disposition!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}")

    def row(self) -> dict[str, Any]:
        self.check()
        ended = max(self.ended_at or time.time(), self.started_at)
        d = {name: getattr(self, name) for name in _ROW_FIELDS}  # all scalars: no deep copy
        d["ended_at"] = ended
        d["duration_s"] = round(ended - self.started_at, 3)
        d["billsec"] = round(ended - self.answered_at, 3) if self.answered_at else 0.0
        # plain strings for the store's drivers and the bus (not the enums' subclasses)
        d["disposition"] = str(self.disposition)
        d["direction"] = str(self.direction)
        d["caller"] = d["caller"][:64]
        d["callee"] = d["callee"][:64]
        return d


_ROW_FIELDS = tuple(f.name for f in fields(CdrRecord) if f.name != "extra")


async def _insert_sqlite(tx: Executor, sql: str, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` with one executemany and return their ids in order.

    The cdr id is AUTOINCREMENT (every new id is larger than any before) and the write
    transaction excludes other writers, so the ids above the largest one before the insert
    are exactly these rows', ascending in insertion order.
    """
    before = int(await tx.fetchval("SELECT COALESCE(MAX(id), 0) FROM cdr") or 0)
    await tx.executemany(sql, [list(row.values()) for row in rows])
    ids = [int(r["id"]) for r in
           await tx.fetchall("SELECT id FROM cdr WHERE id > ? ORDER BY id", (before,))]
    if len(ids) != len(rows):
        raise StoreError(f"cdr batch: {len(rows)} rows inserted, {len(ids)} new ids")
    return ids


class CdrWriter:
    """``write`` stores one row now; ``submit`` queues rows written in batches (one
    transaction every ``flush_s``), which keeps call teardown off the store's write path."""

    RETRY_MAX_S = 10.0
    MAX_QUEUED = 200_000  # rows kept while the store is down; the oldest go beyond this

    def __init__(self, store: Store, bus: Publisher | None = None,
                 flush_s: float = 0.2) -> None:
        self.store = store
        self.bus = bus
        self.written = 0
        self.retry_s = 0.0  # > 0 while the store is unreachable: the next attempt's delay
        self._retry: asyncio.Task[None] | None = None
        self._closed = False
        self._queue: list[tuple[CdrRecord, bool]] = []
        self._flusher = DelayedFlush(self.flush, flush_s)
        self._lock = asyncio.Lock()

    def submit(self, record: CdrRecord, *, publish: bool = True) -> None:
        record.check()  # reject bad values now, not in the flusher
        self._queue.append((record, publish))
        if len(self._queue) > self.MAX_QUEUED:
            del self._queue[:len(self._queue) - self.MAX_QUEUED]
            log.error("cdr queue full while the store is unreachable; oldest rows dropped")
        if not self.retry_s:  # while the store is down, the retry is already planned
            self._flusher.request()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _retry_later(self) -> None:
        if self._retry is None and not self._closed:
            self._retry = asyncio.ensure_future(self._retry_after(self.retry_s))

    async def _retry_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._retry = None
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            while self._queue:
                batch, self._queue = self._queue[:500], self._queue[500:]
                ids: list[int | None] = []
                try:
                    rows = [record.row() for record, _ in batch]
                    sql = (f"INSERT INTO cdr ({', '.join(rows[0])}) VALUES "
                           f"({', '.join('?' * len(rows[0]))})")
                    wanted = [publish and self.bus is not None for _, publish in batch]
                    async with self.store.transaction() as tx:
                        if tx.dialect == "sqlite":
                            ids.extend(await _insert_sqlite(tx, sql, rows))
                        else:
                            # rows published on the bus carry their id, so they are inserted
                            # one by one; the others (technical leg rows) in one executemany
                            for row, want_id in zip(rows, wanted, strict=True):
                                ids.append(await tx.insert(sql, list(row.values()))
                                           if want_id else None)
                            quiet = [list(row.values())
                                     for row, want_id in zip(rows, wanted, strict=True)
                                     if not want_id]
                            if quiet:
                                await tx.executemany(sql, quiet)
                except StoreError as exc:
                    if isinstance(exc, IntegrityError):
                        log.exception("cdr batch refused by the store; dropped",
                                      extra={"rows": len(batch)})
                        continue
                    self._queue[:0] = batch  # kept, in order, for the next attempt
                    if not self.retry_s:
                        log.error("cdr rows not written: store unavailable; kept and retried",
                                  extra={"rows": len(self._queue), "error": str(exc)})
                    self.retry_s = min(self.RETRY_MAX_S, max(0.5, self.retry_s * 2))
                    self._retry_later()
                    return
                except Exception:
                    log.exception("cdr batch write failed", extra={"rows": len(batch)})
                    continue
                if self.retry_s:
                    log.info("cdr rows written again after the store came back",
                             extra={"rows": len(batch)})
                    self.retry_s = 0.0
                self.written += len(batch)
                for (record, publish), row, row_id in zip(batch, rows, ids, strict=True):
                    if publish and self.bus is not None:
                        try:
                            await self.bus.publish("call.ended",
                                                   {"id": row_id, **row, **record.extra})
                        except Exception:
                            log.exception("call.ended publish failed",
                                          extra={"call_id": record.call_id})

    async def close(self) -> None:
        self._closed = True
        self._flusher.cancel()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        await self.flush()
        if self._queue:
            log.error("cdr rows not written at shutdown: store unavailable",
                      extra={"rows": len(self._queue)})

    async def write(self, record: CdrRecord, *, publish: bool = True) -> int | None:
        row = record.row()
        cols = ", ".join(row)
        try:
            row_id = await self.store.insert(
                f"INSERT INTO cdr ({cols}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))
        except Exception:
            log.exception("cdr write failed", extra={"call_id": record.call_id})
            return None
        self.written += 1
        if publish and self.bus is not None:
            try:
                await self.bus.publish("call.ended", {"id": row_id, **row, **record.extra})
            except Exception:
                log.exception("call.ended publish failed", extra={"call_id": record.call_id})
        return row_id
