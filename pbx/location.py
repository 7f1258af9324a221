"""Location service: the contacts registered for each address of record (AOR).

:class:`Location` is the interface; :class:`MemoryLocation` keeps bindings in the process and
:class:`StoreLocation` keeps them in the shared store's ``registrations`` table so that several
nodes (and ``webfon pbx show registrations``) see the same data.
"""

from __future__ import annotations

import abc
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from webfon.store import Store


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
