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
