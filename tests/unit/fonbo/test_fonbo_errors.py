"""Constraint failures from either backend become messages that say what clashed."""

from __future__ import annotations

import pytest

from fonbo.crud import reserve_number
from fonbo.errors import integrity_message
from webfon.store import Store


@pytest.mark.parametrize(("raw", "words"), [
    ("UNIQUE constraint failed: numbering.number", "number is already in use"),
    ("UNIQUE constraint failed: users.username", "username is already in use"),
    ("(1062, \"Duplicate entry 'x' for key 'username'\")", "username is already in use"),
    ("UNIQUE constraint failed: phones.sip_username", "SIP username"),
    ("UNIQUE constraint failed: trunks.name", "name is already in use"),
    ("(1062, \"Duplicate entry 'T' for key 'name'\")", "name is already in use"),
    ("FOREIGN KEY constraint failed", "refers to something"),
    ("(1451, 'Cannot delete or update a parent row: a foreign key constraint fails')",
     "refers to something"),
    ("CHECK constraint failed: publishable = 0 OR secure = 1", "rule of the data model"),
    ("something else entirely", "conflicts with existing data"),
])
def test_messages(raw: str, words: str) -> None:
    assert words in integrity_message(raw)


async def test_number_clash_found_by_the_database_is_a_409(store: Store) -> None:
    from aiohttp import web

    async with store.transaction() as tx:
        await reserve_number(tx, "5000", "queue")
    # the pre-check sees it: message names the holder
    with pytest.raises(web.HTTPConflict) as info:
        async with store.transaction() as tx:
            await reserve_number(tx, "5000", "user")
    assert "5000 is already in use by a queue" in info.value.text


async def test_number_taken_after_the_check_is_still_a_409(store: Store,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from aiohttp import web

    from fonbo import crud

    async def nobody(db: object, number: str) -> None:
        return None

    async with store.transaction() as tx:
        await reserve_number(tx, "5001", "extension")
    monkeypatch.setattr(crud, "number_holder", nobody)  # as if a concurrent insert won
    with pytest.raises(web.HTTPConflict) as info:
        async with store.transaction() as tx:
            await crud.reserve_number(tx, "5001", "user")
    assert "5001 is already in use" in info.value.text
    assert await store.fetchval("SELECT kind FROM numbering WHERE number = '5001'") == "extension"
