"""Call history queries on SQLite and MariaDB: keyset pages, filters, recents, scroll."""

from __future__ import annotations

import pytest

from fonbo.repo import history
from fonbo.repo.history import CursorError, HistoryFilter
from tests.unit.fonbo.support import add_cdr, make_user
from webfon.store import Store

T0 = 1_700_000_000.0


@pytest.fixture
async def calls(store: Store) -> dict[str, int]:
    me = await make_user(store, "1001", "Me", extension="2001")
    other = await make_user(store, "1002", "Other", extension="2002")
    await store.execute("INSERT INTO contacts (owner_user_id, name, number, created_at, "
                        "updated_at) VALUES (?, 'Carmen', '600000001', 0, 0)", (me,))
    # 25 calls of mine: peers cycle over 5 outside numbers; every 4th unanswered.
    for i in range(25):
        direction = "inbound" if i % 2 == 0 else "outbound"
        peer = f"60000000{i % 5}"
        caller, callee = (peer, "2001") if direction == "inbound" else ("2001", peer)
        await add_cdr(store, me, started_at=T0 + i * 10, caller=caller, callee=callee,
                      direction=direction, answered=i % 4 != 0)
    # same started_at twice: the id breaks the tie
    await add_cdr(store, me, started_at=T0 + 240, caller="2002", callee="2001",
                  direction="internal", answered=False, caller_name="Other")
    # internal call I made that was not answered: not missed
    await add_cdr(store, me, started_at=T0 + 500, caller="2001", callee="2002",
                  direction="internal", answered=False)
    await add_cdr(store, other, started_at=T0 + 5, caller="999", callee="2002")
    return {"me": me, "other": other}


async def _all_pages(store: Store, uid: int, flt: HistoryFilter, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(100):
        items, cursor = await history.page(store, uid, flt, limit, cursor)
        ids += [r["id"] for r in items]
        if cursor is None:
            return ids
    raise AssertionError("cursor never ended")


async def test_pages_cover_everything_once_newest_first(store: Store, calls: dict[str, int]
                                                        ) -> None:
    me = calls["me"]
    ids = await _all_pages(store, me, HistoryFilter(), 4)
    rows = await store.fetchall("SELECT id FROM cdr WHERE user_id = ? "
                                "ORDER BY started_at DESC, id DESC", (me,))
    assert ids == [r["id"] for r in rows]
    assert len(ids) == 27


async def test_record_perspective_and_names(store: Store, calls: dict[str, int]) -> None:
    items, _ = await history.page(store, calls["me"], HistoryFilter(), 50)
    newest = items[0]
    assert newest["direction"] == "internal" and newest["outgoing"] is True
    assert newest["missed"] is False and newest["peer_number"] == "2002"
    assert newest["peer_name"] == "Other"  # the extension owner's name
    carmen = next(r for r in items if r["peer_number"] == "600000001")
    assert carmen["peer_contact_name"] == "Carmen"


async def test_filters(store: Store, calls: dict[str, int]) -> None:
    me = calls["me"]
    missed, _ = await history.page(store, me, HistoryFilter(missed=True), 100)
    assert missed and all(r["missed"] for r in missed)
    # inbound unanswered at i = 0, 4, 8, ... (i % 4 == 0 and even) plus the internal one
    assert len(missed) == 7 + 1
    assert await history.missed_count(store, me, None) == 8
    assert await history.missed_count(store, me, T0 + 200) == 3  # i = 20, 24 and the internal
    out, _ = await history.page(store, me, HistoryFilter(direction="outbound"), 100)
    assert len(out) == 12 and all(r["direction"] == "outbound" for r in out)
    ranged, _ = await history.page(store, me, HistoryFilter(since=T0 + 100, until=T0 + 150), 100)
    assert sorted(r["started_at"] for r in ranged) == [T0 + 100 + 10 * k for k in range(5)]
    by_number, _ = await history.page(store, me, HistoryFilter(number="0003"), 100)
    assert {r["peer_number"] for r in by_number} == {"600000003"}
    answered, _ = await history.page(store, me, HistoryFilter(answered=True), 100)
    assert all(r["answered_at"] is not None for r in answered)
    paged = await _all_pages(store, me, HistoryFilter(missed=True), 3)
    assert paged == [r["id"] for r in missed]


async def test_other_users_rows_never_appear(store: Store, calls: dict[str, int]) -> None:
    items, _ = await history.page(store, calls["other"], HistoryFilter(), 100)
    assert len(items) == 1
    mine = await history.page(store, calls["me"], HistoryFilter(), 100)
    assert items[0]["id"] not in {r["id"] for r in mine[0]}
    assert await history.get_record(store, calls["me"], items[0]["id"]) is None


async def test_recents_one_row_per_peer(store: Store, calls: dict[str, int]) -> None:
    recents = await history.recents(store, calls["me"], 10, 1000)
    peers = [r["peer_number"] for r in recents]
    assert len(peers) == len(set(peers)) == 6
    assert peers[0] == "2002"
    total = sum(r["calls"] for r in recents)
    assert total == 27
    limited = await history.recents(store, calls["me"], 2, 1000)
    assert [r["peer_number"] for r in limited] == peers[:2]


async def test_scroll_walks_ascending_and_carries_filters(store: Store, calls: dict[str, int]
                                                          ) -> None:
    me = calls["me"]
    flt = HistoryFilter(direction="inbound")
    seen: list[float] = []
    after = None
    for _ in range(20):
        batch, after = await history.scroll(store, me, flt, after, 4)
        seen += [r["started_at"] for r in batch]
        if after is None:
            break
        token = history.encode_scroll(flt, after, 4)
        flt, after, _size = history.decode_scroll(token)
    assert seen == sorted(seen) and len(seen) == 13


@pytest.mark.parametrize("bad", ["", "!!!", "eyJ4IjoxfQ", history.encode_cursor(1.0, 1)[:-2],
                                 "WyJjMSIsIm5hbiIsMV0"])
async def test_bad_cursors_are_refused(store: Store, calls: dict[str, int], bad: str) -> None:
    if bad == "":
        with pytest.raises(CursorError):
            history.decode_cursor(bad)
        return
    with pytest.raises(CursorError):
        await history.page(store, calls["me"], HistoryFilter(), 5, bad)
