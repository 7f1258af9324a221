"""Location (memory and store-backed) and the CDR writer."""

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from pbx.cdr import CdrRecord, CdrWriter
from pbx.location import Binding, CachedLocation, Location, MemoryLocation, StoreLocation
from webfon.store import Store


def _b(aor: str, contact: str, expires_at: float, registered_at: float = 1.0) -> Binding:
    return Binding(aor, contact, aor, None, "127.0.0.1:5062", "udp", "cid", 1, "ua",
                   registered_at, expires_at)


async def _exercise(loc: Location) -> None:
    now = time.time()
    await loc.save(_b("2001", "sip:a@1", now + 60, 1))
    await loc.save(_b("2001", "sip:b@1", now + 60, 2))
    await loc.save(_b("2002", "sip:c@1", now - 1))
    assert [b.contact for b in await loc.lookup("2001")] == ["sip:b@1", "sip:a@1"]
    await loc.save(_b("2001", "sip:a@1", now + 120, 3))  # refresh keeps one binding
    found = await loc.lookup("2001")
    assert [b.contact for b in found] == ["sip:a@1", "sip:b@1"]
    assert found[0].expires_in(now) == 120
    assert await loc.lookup("2002") == []
    gone = await loc.sweep()
    assert [b.contact for b in gone] == ["sip:c@1"]
    await loc.set_reachable("2001", "sip:b@1", False)
    assert [b.reachable for b in await loc.lookup("2001")] == [True, False]
    assert await loc.remove("2001", "sip:a@1") == 1
    assert len(await loc.all()) == 1
    assert await loc.remove("2001") == 1
    assert await loc.all() == []


async def test_memory_location() -> None:
    await _exercise(MemoryLocation())


async def test_store_location(store: Store) -> None:
    await _exercise(StoreLocation(store))


async def test_cached_location_writes_through_in_batches(store: Store) -> None:
    cached = CachedLocation(StoreLocation(store), flush_s=0.01)
    await _exercise(cached)
    now = time.time()
    await cached.save(_b("2005", "sip:e@1", now + 60))
    assert [b.contact for b in await cached.lookup("2005")] == ["sip:e@1"]
    await cached.close()  # flushes
    assert [b.contact for b in await StoreLocation(store).lookup("2005")] == ["sip:e@1"]
    # another node's cache loads the AOR from the store
    other = CachedLocation(StoreLocation(store))
    assert [b.contact for b in await other.lookup("2005")] == ["sip:e@1"]
    await other.remove("2005", "sip:e@1")
    await other.close()
    assert await StoreLocation(store).lookup("2005") == []


class FakeBus:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("bus down")
        self.events.append((topic, payload))


async def test_cdr_row_and_event(store: Store, org: Any) -> None:
    bus = FakeBus()
    writer = CdrWriter(store, bus)
    rec = CdrRecord("c1@x", "2001", "1002", "internal", started_at=100.0,
                    disposition="answered", user_id=org.users["1001"],
                    peer_user_id=org.users["1002"], answered_at=103.0, ended_at=163.5,
                    extra={"caller_user_id": org.users["1001"]})
    row_id = await writer.write(rec)
    row = await store.fetchone("SELECT * FROM cdr WHERE id = ?", (row_id,))
    assert row is not None
    assert (row["duration_s"], row["billsec"], row["disposition"]) == (63.5, 60.5, "answered")
    topic, payload = bus.events[0]
    assert topic == "call.ended" and payload["call_id"] == "c1@x" and payload["id"] == row_id
    assert payload["user_id"] == org.users["1001"]


async def test_cdr_bus_failure_keeps_row(store: Store) -> None:
    writer = CdrWriter(store, FakeBus(fail=True))
    await writer.write(CdrRecord("c2", "a", "b", "outbound", 1.0, "busy", ended_at=2.0,
                                 trunk="Trunk_vivait_gw01"))
    assert await store.fetchval("SELECT trunk FROM cdr WHERE call_id = 'c2'") == \
        "Trunk_vivait_gw01"


def test_cdr_rejects_unknown_values() -> None:
    with pytest.raises(ValueError):
        CdrRecord("c", "a", "b", "internal", 1.0, "exploded").row()
    with pytest.raises(ValueError):
        CdrRecord("c", "a", "b", "sideways", 1.0, "busy").row()


async def test_cdr_batched_submit(store: Store) -> None:
    bus = FakeBus()
    writer = CdrWriter(store, bus, flush_s=0.01)
    for i in range(5):
        writer.submit(CdrRecord(f"c{i}", "a", "b", "internal", 1.0, "answered", ended_at=2.0))
    writer.submit(CdrRecord("c-leg", "a", "b", "internal", 1.0, "busy", leg=1, ended_at=2.0),
                  publish=False)
    writer.submit(CdrRecord("c-leg2", "a", "d", "internal", 1.0, "failed", leg=2,
                            ended_at=3.0, hangup_cause="503"), publish=False)
    with pytest.raises(ValueError):
        writer.submit(CdrRecord("bad", "a", "b", "internal", 1.0, "exploded"))
    await writer.close()
    assert await store.fetchval("SELECT COUNT(*) FROM cdr") == 7
    assert writer.written == 7
    assert [p["call_id"] for t, p in bus.events] == [f"c{i}" for i in range(5)]
    for _, payload in bus.events:  # each event carries the id of its own row
        row = await store.fetchone("SELECT call_id FROM cdr WHERE id = ?", (payload["id"],))
        assert row is not None and row["call_id"] == payload["call_id"]
    legs = await store.fetchall("SELECT call_id, leg, callee, disposition, hangup_cause, "
                                "duration_s FROM cdr WHERE leg > 0 ORDER BY leg")
    assert [tuple(r.values()) for r in legs] == [("c-leg", 1, "b", "busy", "", 1.0),
                                                 ("c-leg2", 2, "d", "failed", "503", 2.0)]


async def test_cdr_rows_kept_while_the_store_is_down(store: Store) -> None:
    """A database restart: the rows of calls that ended meanwhile are written, in order and
    once, when the store answers again (a refused row is dropped, not retried forever)."""
    from webfon.store import StoreError

    class Down:
        down = True

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def transaction(self) -> Any:
            if self.down:
                raise StoreError("mysql: (2013, 'Lost connection to server during query')")
            return store.transaction()

    flaky = Down()
    bus = FakeBus()
    writer = CdrWriter(flaky, bus, flush_s=0.01)  # type: ignore[arg-type]
    writer.RETRY_MAX_S = 0.05
    for i in range(3):
        writer.submit(CdrRecord(f"c{i}", "a", "b", "internal", 1.0, "answered", ended_at=2.0))
    await asyncio.sleep(0.2)
    assert writer.pending == 3 and writer.written == 0 and writer.retry_s > 0
    flaky.down = False
    for _ in range(100):
        if writer.written == 3:
            break
        await asyncio.sleep(0.02)
    assert writer.written == 3 and writer.pending == 0 and writer.retry_s == 0
    rows = await store.fetchall("SELECT call_id FROM cdr ORDER BY id")
    assert [r["call_id"] for r in rows] == ["c0", "c1", "c2"]
    assert [p["call_id"] for _, p in bus.events] == ["c0", "c1", "c2"]
    await writer.close()


async def test_a_binding_the_store_refuses_does_not_hold_back_the_others(store: Store) -> None:
    """A REGISTER queued while its phone was deleted (a web phone's logout) names a phone that
    no longer exists: the schema refuses that row. It is dropped, not retried forever, and the
    other bindings of the batch, and those after it, reach the store."""
    cached = CachedLocation(StoreLocation(store), flush_s=0.01)
    now = time.time()
    gone = dataclasses.replace(_b("7000", "sip:wf1@1", now + 60), phone_id=999_999)  # none
    await cached.save(gone)
    await cached.save(_b("7001", "sip:wf2@1", now + 60))
    await cached.flush()
    assert [b.contact for b in await StoreLocation(store).lookup("7001")] == ["sip:wf2@1"]
    assert await StoreLocation(store).lookup("7000") == []
    assert await cached.lookup("7000") == []  # not served from the cache either
    await cached.save(_b("7002", "sip:wf3@1", now + 60))
    await cached.flush()
    assert [b.contact for b in await StoreLocation(store).lookup("7002")] == ["sip:wf3@1"]
    await cached.close()


async def test_a_web_phone_that_left_is_not_written_back(store: Store) -> None:
    """A REGISTER queued just before the web phone's logout deleted its rows: forgetting the
    AOR for that phone drops the queued write, so the phone that left does not come back."""
    cached = CachedLocation(StoreLocation(store), flush_s=60)
    now = time.time()
    await cached.save(_b("7000", "sip:wf1@1", now + 60))  # username 7000
    other = dataclasses.replace(_b("7000", "sip:desk@1", now + 60), username="desk7000")
    await cached.save(other)
    cached.forget("7000", username="7000")
    await cached.flush()
    assert [b.contact for b in await StoreLocation(store).lookup("7000")] == ["sip:desk@1"]
    await cached.close()


def hold_first_lookup(inner: StoreLocation) -> tuple[asyncio.Event, asyncio.Event]:
    """The first store lookup reads, sets ``read`` and returns only once ``release`` is set
    (its answer comes back after later ones)."""
    read, release = asyncio.Event(), asyncio.Event()
    real_lookup = inner.lookup

    async def held(aor: str, now: float | None = None) -> list[Binding]:
        found = await real_lookup(aor, now)
        if not read.is_set():
            read.set()
            await release.wait()
        return found

    inner.lookup = held  # type: ignore[method-assign]
    return read, release


async def test_overlapping_loads_of_an_aor_keep_what_was_saved_meanwhile(store: Store) -> None:
    """A call's lookup and a REGISTER's save both load an AOR that is not cached yet: the
    load that ends last must not replace the cached bindings the save added to (the web
    phone would be "not registered" until the cache is dropped)."""
    inner = StoreLocation(store)
    read, release = hold_first_lookup(inner)
    cached = CachedLocation(inner, flush_s=60)
    lookup = asyncio.create_task(cached.lookup("7001"))
    await read.wait()
    await cached.save(_b("7001", "sip:wf9@1", time.time() + 60))
    release.set()
    assert [b.contact for b in await lookup] == ["sip:wf9@1"]  # the cache, not its old read
    assert [b.contact for b in await cached.lookup("7001")] == ["sip:wf9@1"]
    await cached.close()


async def test_a_load_overtaken_by_forget_is_not_kept(store: Store) -> None:
    inner = StoreLocation(store)
    await inner.save(_b("7002", "sip:old@1", time.time() + 60))
    read, release = hold_first_lookup(inner)
    cached = CachedLocation(inner, flush_s=60)
    lookup = asyncio.create_task(cached.lookup("7002"))
    await read.wait()
    await inner.remove("7002")      # the web phone's logout deletes its rows...
    cached.forget("7002")           # ...and drops the cache
    release.set()
    assert [b.contact for b in await lookup] == ["sip:old@1"]  # read before the logout
    assert await cached.lookup("7002") == []                   # but not kept
    await cached.close()
