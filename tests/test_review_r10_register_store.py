"""The register's name search with names that are not ASCII, on both backends."""
from __future__ import annotations

import pytest

from gateway.store import Store, Tx
from gateway.store.cnis import EntryState
from tests.pgserver import pg_dsn  # noqa: F401
from tests.test_store import database, store  # noqa: F401


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("query", ["Łukasz", "łukasz", "Żak", "żak", "Émile", "ÉMILE"])
async def test_search_finds_non_ascii_names_as_typed(store: Store, query: str) -> None:  # noqa: F811
    async def add(tx: Tx) -> None:
        for forename, surname in (("Łukasz", "Żak"), ("Émile", "Durand")):
            await store.register.add(tx, {"surname": surname, "forename": forename,
                                          "dob": "2016-05-05",
                                          "address": {"lines": ["9 New Road"]},
                                          "eligibility": "not-registered-pupil"}, "t", "t")
    await store.backend.write(add)
    rows, total = await store.register.search((EntryState.ACTIVE,), query)
    assert total == 1, (query, total)


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_a_search_with_a_nul_is_no_store_outage(store: Store) -> None:  # noqa: F811
    """/register?q=a%00b reaches store.register.search unchecked (register.py:271); on
    PostgreSQL it fails as GatewayError store-unavailable (503) and logs an ERROR."""
    rows, total = await store.register.search((EntryState.ACTIVE,), "a\x00b")
    assert total == 0


async def _add(store: Store, forename: str, surname: str) -> str:  # noqa: F811
    async def add(tx: Tx) -> str | None:
        return await store.register.add(tx, {"surname": surname, "forename": forename,
                                             "dob": "2016-05-05",
                                             "address": {"lines": ["9 New Road"]},
                                             "eligibility": "not-registered-pupil"}, "t", "t")
    entry_id = await store.backend.write(add)
    assert entry_id is not None
    return entry_id


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("query", ["Zofia Nowak", "nowak zofia", "NOWAK", "zofia", "zof now",
                                   "lukasz zak", "ZAK ŁUKASZ", "Lukasz", "emile durand"])
async def test_search_finds_either_name_in_either_order(store: Store,  # noqa: F811
                                                        query: str) -> None:
    for forename, surname in (("Zofia", "Nowak"), ("Łukasz", "Żak"), ("Émile", "Durand"),
                              ("Anna", "Kowalska")):
        await _add(store, forename, surname)
    rows, total = await store.register.search((EntryState.ACTIVE,), query)
    assert total == 1, (query, [r.surname for r in rows])


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_rows_written_before_the_search_key_are_filled_at_start_up(
        database: str) -> None:  # noqa: F811
    """Migration 12 adds the column empty; start-up fills it for every older row (and for a
    row a gateway not yet upgraded writes meanwhile, which the search finds by its ASCII
    names until then)."""
    from gateway.store.store import open_store
    store = await open_store(database)  # noqa: F811
    try:
        entry_id = await _add(store, "Łukasz", "Żak")

        async def forget(tx: Tx) -> None:
            await tx.execute("UPDATE cnis_entries SET search_key = NULL")
        await store.backend.write(forget)
        assert (await store.register.get(entry_id)).search_key is None  # type: ignore[union-attr]
    finally:
        await store.close()
    store = await open_store(database)
    try:
        row = await store.register.get(entry_id)
        assert row is not None and row.search_key == "lukasz zak"
        rows, total = await store.register.search((EntryState.ACTIVE,), "żak")
        assert total == 1
        assert await store.register.fill_search_keys() == 0  # nothing left to fill
    finally:
        await store.close()
