"""Location service: the contacts registered for each address of record (AOR).

:class:`Location` is the interface; :class:`MemoryLocation` keeps bindings in the process and
:class:`StoreLocation` keeps them in the shared store's ``registrations`` table so that several
nodes (and ``webfon pbx show registrations``) see the same data.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from webfon.store import Store
from webfon.store.base import IntegrityError

from .batching import DelayedFlush

log = logging.getLogger("pbx.location")


@dataclass(frozen=True)
class Binding:
    aor: str
    contact: str
    username: str
    phone_id: int | None
    source: str
    transport: str
    call_id: str
    cseq: int
    user_agent: str
    registered_at: float
    expires_at: float
    reachable: bool = True

    def expires_in(self, now: float | None = None) -> int:
        return max(0, round(self.expires_at - (now if now is not None else time.time())))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["expires_in"] = self.expires_in()
        return d


class Location(abc.ABC):
    @abc.abstractmethod
    async def save(self, binding: Binding) -> None:
        """Add or refresh a binding (same AOR and contact)."""

    @abc.abstractmethod
    async def remove(self, aor: str, contact: str | None = None) -> int:
        """Remove one contact, or all of an AOR when ``contact`` is None."""

    @abc.abstractmethod
    async def lookup(self, aor: str, now: float | None = None) -> list[Binding]:
        """Live bindings of an AOR, newest first."""

    @abc.abstractmethod
    async def all(self, now: float | None = None) -> list[Binding]: ...

    @abc.abstractmethod
    async def sweep(self, now: float | None = None) -> list[Binding]:
        """Delete expired bindings and return them."""

    @abc.abstractmethod
    async def set_reachable(self, aor: str, contact: str, reachable: bool) -> None: ...

    async def count(self, aor: str) -> int:
        return len(await self.lookup(aor))


class MemoryLocation(Location):
    def __init__(self) -> None:
        self._b: dict[tuple[str, str], Binding] = {}

    async def save(self, binding: Binding) -> None:
        self._b[(binding.aor, binding.contact)] = binding

    async def remove(self, aor: str, contact: str | None = None) -> int:
        keys = [k for k in self._b if k[0] == aor and (contact is None or k[1] == contact)]
        for k in keys:
            del self._b[k]
        return len(keys)

    async def lookup(self, aor: str, now: float | None = None) -> list[Binding]:
        now = time.time() if now is None else now
        found = [b for (a, _), b in self._b.items() if a == aor and b.expires_at > now]
        return sorted(found, key=lambda b: -b.registered_at)

    async def all(self, now: float | None = None) -> list[Binding]:
        now = time.time() if now is None else now
        return sorted((b for b in self._b.values() if b.expires_at > now),
                      key=lambda b: (b.aor, b.contact))

    async def sweep(self, now: float | None = None) -> list[Binding]:
        now = time.time() if now is None else now
        gone = [b for b in self._b.values() if b.expires_at <= now]
        for b in gone:
            del self._b[(b.aor, b.contact)]
        return gone

    async def set_reachable(self, aor: str, contact: str, reachable: bool) -> None:
        b = self._b.get((aor, contact))
        if b is not None:
            self._b[(aor, contact)] = replace(b, reachable=reachable)


def _from_row(r: dict[str, Any]) -> Binding:
    return Binding(r["aor"], r["contact"], r["username"], r["phone_id"], r["source"],
                   r["transport"], r["call_id"], int(r["cseq"]), r["user_agent"],
                   float(r["registered_at"]), float(r["expires_at"]), bool(r["reachable"]))


class StoreLocation(Location):
    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, binding: Binding) -> None:
        row = asdict(binding)
        row["reachable"] = int(binding.reachable)
        await self.store.upsert("registrations", row, ["aor", "contact"])

    async def remove(self, aor: str, contact: str | None = None) -> int:
        if contact is None:
            return await self.store.execute("DELETE FROM registrations WHERE aor = ?", (aor,))
        return await self.store.execute(
            "DELETE FROM registrations WHERE aor = ? AND contact = ?", (aor, contact))

    async def lookup(self, aor: str, now: float | None = None) -> list[Binding]:
        now = time.time() if now is None else now
        rows = await self.store.fetchall(
            "SELECT * FROM registrations WHERE aor = ? AND expires_at > ? "
            "ORDER BY registered_at DESC, id DESC", (aor, now))
        return [_from_row(r) for r in rows]

    async def all(self, now: float | None = None) -> list[Binding]:
        now = time.time() if now is None else now
        rows = await self.store.fetchall(
            "SELECT * FROM registrations WHERE expires_at > ? ORDER BY aor, contact", (now,))
        return [_from_row(r) for r in rows]

    async def sweep(self, now: float | None = None) -> list[Binding]:
        now = time.time() if now is None else now
        async with self.store.transaction() as tx:
            rows = await tx.fetchall("SELECT * FROM registrations WHERE expires_at <= ?", (now,))
            if rows:
                await tx.execute("DELETE FROM registrations WHERE expires_at <= ?", (now,))
        return [_from_row(r) for r in rows]

    async def set_reachable(self, aor: str, contact: str, reachable: bool) -> None:
        await self.store.execute(
            "UPDATE registrations SET reachable = ? WHERE aor = ? AND contact = ?",
            (int(reachable), aor, contact))


class CachedLocation(Location):
    """A store-backed location with this node's reads served from memory and writes batched.

    ``save`` and single-contact ``remove`` update the cache at once and queue the store write;
    a flusher writes the queue in one transaction every ``flush_s`` seconds (and on
    :meth:`close`), so a burst of REGISTERs costs a few transactions instead of one each. An
    AOR is loaded from the store the first time it is looked up; ``all()`` reads the store
    (after flushing), so other nodes' bindings show too.
    """

    def __init__(self, inner: StoreLocation, flush_s: float = 0.1) -> None:
        self.inner = inner
        self._cache: dict[str, dict[str, Binding]] = {}
        self._pending: dict[tuple[str, str], Binding | None] = {}
        self._flusher = DelayedFlush(self.flush, flush_s)
        self._lock = asyncio.Lock()
        self._forgotten = 0  # how many times forget() ran (a load older than that is stale)

    async def _aor(self, aor: str) -> dict[str, Binding]:
        """The AOR's cached bindings, loaded from the store on first use. Two loads of one
        AOR may overlap (a REGISTER's save and a call's lookup): the first to finish is
        kept, and the other returns it — replacing it would lose what was saved into it
        meanwhile. A load that a forget() overtook is returned but not kept."""
        found = self._cache.get(aor)
        if found is not None:
            return found
        forgotten = self._forgotten
        await self.flush()
        loaded = {b.contact: b for b in await self.inner.lookup(aor, now=0.0)}
        found = self._cache.get(aor)
        if found is not None:
            return found
        if forgotten == self._forgotten:
            self._cache[aor] = loaded
        return loaded

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            try:
                try:
                    await self._write(batch)
                except IntegrityError:
                    # one binding the schema refuses (its phone deleted while its REGISTER
                    # waited here) must not keep every other one out of the store
                    await self._write_each(batch)
            except Exception:
                log.exception("registrations not saved; will retry")
                for key, value in batch.items():
                    self._pending.setdefault(key, value)
                self._flusher.request()

    async def _write(self, batch: dict[tuple[str, str], Binding | None]) -> None:
        async with self.inner.store.transaction() as tx:
            for (aor, contact), b in batch.items():
                if b is None:
                    await tx.execute("DELETE FROM registrations WHERE aor = ? AND "
                                     "contact = ?", (aor, contact))
                else:
                    row = asdict(b)
                    row["reachable"] = int(b.reachable)
                    await tx.upsert("registrations", row, ["aor", "contact"])

    async def _write_each(self, batch: dict[tuple[str, str], Binding | None]) -> None:
        """Write the batch binding by binding, dropping those the schema refuses (from the
        cache too: they name a phone that no longer exists)."""
        for key, binding in list(batch.items()):
            try:
                await self._write({key: binding})
            except IntegrityError as exc:
                aor, contact = key
                log.warning("registration dropped: the store refuses it",
                            extra={"aor": aor, "contact": contact, "error": str(exc)})
                cached = self._cache.get(aor)
                if cached is not None and cached.get(contact) is binding:
                    del cached[contact]
            del batch[key]  # written or dropped: what is left is retried on failure

    async def close(self) -> None:
        self._flusher.cancel()
        await self.flush()

    async def save(self, binding: Binding) -> None:
        (await self._aor(binding.aor))[binding.contact] = binding
        self._pending[(binding.aor, binding.contact)] = binding
        self._flusher.request()

    async def remove(self, aor: str, contact: str | None = None) -> int:
        if contact is None:
            await self.flush()
            n = await self.inner.remove(aor)
            self._cache.pop(aor, None)
            return n
        cached = await self._aor(aor)
        existed = cached.pop(contact, None) is not None
        self._pending[(aor, contact)] = None
        self._flusher.request()
        return int(existed)

    async def lookup(self, aor: str, now: float | None = None) -> list[Binding]:
        now = time.time() if now is None else now
        found = [b for b in (await self._aor(aor)).values() if b.expires_at > now]
        return sorted(found, key=lambda b: -b.registered_at)

    async def all(self, now: float | None = None) -> list[Binding]:
        await self.flush()
        return await self.inner.all(now)

    async def sweep(self, now: float | None = None) -> list[Binding]:
        await self.flush()
        gone = await self.inner.sweep(now)
        now = time.time() if now is None else now
        for aor, bindings in list(self._cache.items()):
            for contact, b in list(bindings.items()):
                if b.expires_at <= now:
                    del bindings[contact]
            if not bindings:
                del self._cache[aor]
        return gone

    async def set_reachable(self, aor: str, contact: str, reachable: bool) -> None:
        cached = await self._aor(aor)
        if contact in cached:
            cached[contact] = replace(cached[contact], reachable=reachable)
            self._pending[(aor, contact)] = cached[contact]
            self._flusher.request()

    def forget(self, aor: str | None = None, username: str | None = None) -> None:
        """Drop cached bindings (all, or one AOR) so they are read from the store again.
        With ``username``, the AOR's queued writes of that phone go too: its rows were just
        deleted from the store (a web phone's logout), and writing them now would bring a
        phone that left back to life, or name a phone row that no longer exists."""
        self._forgotten += 1
        if aor is None:
            self._cache.clear()
            return
        self._cache.pop(aor, None)
        if username is not None:
            for key, binding in list(self._pending.items()):
                if key[0] == aor and binding is not None and binding.username == username:
                    del self._pending[key]
