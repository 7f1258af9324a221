"""Agenda queries on SQLite and MariaDB: ownership, search, directory, import."""

from __future__ import annotations

import pytest

from fonbo.repo import agenda
from tests.unit.fonbo.support import make_user
from webfon.store import Store


@pytest.fixture
async def people(store: Store) -> dict[str, int]:
    a = await make_user(store, "1001", "Ana García", extension="2001")
    b = await make_user(store, "1002", "Berto Díaz", extension="2002")
    await store.execute("INSERT INTO numbering (number, kind) VALUES ('2099', 'extension')")
    await store.execute("INSERT INTO extensions (number, kind) VALUES ('2099', 'hard')")
    await store.execute("INSERT INTO contacts (owner_user_id, name, number, company, created_at, "
                        "updated_at) VALUES (NULL, 'Recepción', '2000', 'Sede', 0, 0)")
    return {"a": a, "b": b}


async def test_crud_is_scoped_to_the_owner(store: Store, people: dict[str, int]) -> None:
    a, b = people["a"], people["b"]
    c = await agenda.create_contact(store, a, {"name": " Carmen ", "number": "600111222",
                                               "favourite": True})
    assert c["name"] == "Carmen" and c["favourite"] is True
    assert await agenda.get_contact(store, b, c["id"]) is None
    assert await agenda.update_contact(store, b, c["id"], {"name": "x"}) is None
    assert await agenda.delete_contact(store, b, c["id"]) is False
    updated = await agenda.update_contact(store, a, c["id"], {"favourite": False})
    assert updated is not None and updated["favourite"] is False
    with pytest.raises(agenda.ContactInvalid):
        await agenda.update_contact(store, a, c["id"], {"number": ""})
    assert await agenda.delete_contact(store, a, c["id"]) is True


async def test_search_by_name_number_and_wildcards(store: Store, people: dict[str, int]) -> None:
    a = people["a"]
    for name, number in (("Carmen López", "600111222"), ("50% Descuentos", "611000000"),
                         ("Luis_Pérez", "622000000")):
        await agenda.create_contact(store, a, {"name": name, "number": number})
    assert [c["name"] for c in (await agenda.list_contacts(store, a, q="carmen"))[0]] == [
        "Carmen López"]
    assert [c["name"] for c in (await agenda.list_contacts(store, a, q="111 2"))[0]] == [
        "Carmen López"]
    assert [c["name"] for c in (await agenda.list_contacts(store, a, q="%"))[0]] == [
        "50% Descuentos"]
    assert [c["name"] for c in (await agenda.list_contacts(store, a, q="_"))[0]] == ["Luis_Pérez"]
    assert (await agenda.list_contacts(store, people["b"], q="carmen"))[1] == 0
    found = await agenda.search(store, a, "20")
    sources = {(r["source"], r["number"]) for r in found}
    assert ("corporate", "2000") in sources and ("extension", "2099") in sources
    assert ("user", "1001") in sources  # extension 2001 matches


async def test_directory_lists_users_extensions_and_corporate(store: Store,
                                                              people: dict[str, int]) -> None:
    items, total = await agenda.directory(store)
    assert total == 4
    ana = next(i for i in items if i["source"] == "user" and i["number"] == "1001")
    assert ana["extensions"] == ["2001"]
    page, _ = await agenda.directory(store, limit=2, offset=2)
    assert [p["id"] for p in page] == [i["id"] for i in items[2:4]]


async def test_import_skips_duplicates_and_rolls_back_on_error(store: Store,
                                                               people: dict[str, int]) -> None:
    a = people["a"]
    rows = [{"name": "Uno", "number": "600000001", "favourite": True},
            {"name": "Dos", "email": "dos@x.es"}, {"name": "Uno", "number": "600000001"}]
    assert await agenda.import_contacts(store, a, rows) == (2, 1)
    assert await agenda.import_contacts(store, a, rows[:1]) == (0, 1)
    with pytest.raises(Exception):  # noqa: B017 - the store's own error type differs per backend
        async with store.transaction() as tx:
            await agenda.import_contacts(tx, a, [{"name": "Tres", "number": "600000003"}])
            await tx.execute("INSERT INTO contacts (owner_user_id, name, created_at, "
                             "updated_at) VALUES (?, 'no number', 0, 0)", (a,))
    names = {c["name"] for c in await agenda.all_contacts(store, a)}
    assert names == {"Uno", "Dos"}


async def test_presence_lookups(store: Store, people: dict[str, int]) -> None:
    await agenda.create_contact(store, people["b"], {"name": "Ana", "number": "2001"})
    assert await agenda.numbers_of_user(store, people["a"]) == ["1001", "2001"]
    assert await agenda.owners_of_numbers(store, ["1001", "2001"]) == [people["b"]]
