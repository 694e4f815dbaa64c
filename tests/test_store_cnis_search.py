"""The register's search for the officer's list page, on both backends (SQLite and
PostgreSQL): part of a forename, surname or "forename surname", any case; LIKE's wildcards
searched for as themselves; pages with the total; only the states asked for."""

from __future__ import annotations

import pytest

from gateway.store import Store, Tx
from gateway.store.cnis import EntryState
from tests.pgserver import pg_dsn  # noqa: F401
from tests.test_store import database, store  # noqa: F401

E = EntryState


def entry(surname: str, forename: str = "Zofia") -> dict[str, object]:
    return {"surname": surname, "forename": forename, "dob": "2016-05-05",
            "address": {"lines": ["9 New Road"]}, "eligibility": "not-registered-pupil"}


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_search_pages_and_escapes_wildcards(store: Store) -> None:  # noqa: F811
    async def add(tx: Tx) -> None:
        for i in range(12):
            await store.register.add(tx, entry(f"Kowal{i:02}"), "t", "t")
        await store.register.add(tx, entry("Zielinski", "Olek"), "t", "t")
        await store.register.add(tx, entry("100%_Smith", "Ann"), "t", "t")
        await store.register.add(tx, entry("Draftly"), "t", "t", state=E.DRAFT)
    await store.backend.write(add)
    rows, total = await store.register.search((E.ACTIVE,), "", 0, 5)
    assert total == 14 and [r.surname for r in rows][:2] == ["100%_Smith", "Kowal00"]
    rows, total = await store.register.search((E.ACTIVE,), "", 10, 5)
    assert total == 14 and [r.surname for r in rows] == ["Kowal09", "Kowal10", "Kowal11",
                                                          "Zielinski"]
    rows, total = await store.register.search((E.ACTIVE,), "OLEK ziel", 0, 5)
    assert total == 1 and rows[0].surname == "Zielinski"
    for text, n in (("%", 1), ("_", 1), ("0%_", 1), ("\\", 0), ("kowal1", 2)):
        _, total = await store.register.search((E.ACTIVE,), text, 0, 5)
        assert total == n, text
    rows, total = await store.register.search((E.DRAFT,), "", 0, 5)
    assert total == 1 and rows[0].surname == "Draftly"
