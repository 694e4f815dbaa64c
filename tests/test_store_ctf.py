"""Contract tests for the CTF, LPD, case and record operations, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from gateway.core.errors import GatewayError
from gateway.ctf.reader import PupilInfo
from gateway.store import Store
from gateway.store.cases import NewCase
from gateway.store.transfers import TransferRow
from tests.pgserver import pg_dsn  # noqa: F401
from tests.test_store import database, store  # noqa: F401  (the two-backend fixtures)


def transfer(tid: str, state: str = "lpd", for_school: str | None = None) -> TransferRow:
    return TransferRow(
        transfer_id=tid, sender="3552001", purpose="deliver", version="25.0", source_lea="355",
        source_estab="2001", dest_lea="XXX", dest_estab="XXXX", destination="lost",
        for_school=for_school, pupils=1, flagged=1, size_bytes=12345, digest="ab" * 32,
        path=f"/data/ctf/{tid}.xml", received_at=time.time(), state=state)


PUPIL = PupilInfo(index=1, surname="Nowak", forename="Zofia", dob=dt.date(2015, 3, 14),
                  upn="V355200116042", sex="F", postcode="M30 7LP",
                  flags=("formerupn-check-letter: FormerUPN check letter is wrong",))


async def stored_lost(store: Store, tid: str) -> None:  # noqa: F811
    async def op(tx) -> None:  # type: ignore[no-untyped-def]
        await store.transfers.insert(tx, transfer(tid), [PUPIL])
        await store.transfers.insert_lpd(tx, tid, "lost", "355", "2001", "Peel Green",
                                         "3552001", time.time())
    await store.backend.write(op)


async def test_transfer_pupils_and_lpd_round_trip(store: Store) -> None:  # noqa: F811
    await stored_lost(store, "t1")
    (p,) = await store.transfers.pupils("t1")
    assert (p.surname, p.dob, p.flags) == ("Nowak", "2015-03-14", PUPIL.flags)
    (entry,) = await store.transfers.lpd_pupils()
    assert entry.state == "lost" and entry.upn == "V355200116042"
    assert (await store.transfers.lpd_version())[0] == 1
    assert [h.action for h in await store.transfers.lpd_history("t1")] == ["stored"]


async def test_claim_happens_once_even_when_raced(store: Store) -> None:  # noqa: F811
    await stored_lost(store, "t1")

    async def claim(party: str) -> str:
        async def op(tx) -> str:  # type: ignore[no-untyped-def]
            await store.transfers.claim(tx, "t1", party, party + "4001", time.time())
            return party
        try:
            return await store.backend.write(op)
        except GatewayError as exc:
            return exc.code

    results = await asyncio.gather(*(claim(p) for p in ("352", "353", "354")))
    assert sorted(results, key=len)[0] in ("352", "353", "354")
    assert sorted(results).count("lpd-already-claimed") == 2
    entry = await store.transfers.lpd_entry("t1")
    assert entry is not None and entry.state == "claimed"

    async def missing(tx) -> None:  # type: ignore[no-untyped-def]
        await store.transfers.claim(tx, "nope", "352", "3524001", time.time())
    with pytest.raises(GatewayError) as info:
        await store.backend.write(missing)
    assert info.value.code == "lpd-not-found"


async def test_one_case_per_transfer(store: Store) -> None:  # noqa: F811
    case = NewCase(category=7, reason="r", source="s", surname="Nowak", forename="Zofia",
                   transfer_id="t1")

    async def op(tx):  # type: ignore[no-untyped-def]
        return await store.cases.open(tx, case)
    first = await store.backend.write(op)
    again = await store.backend.write(op)
    assert first is not None and again is None
    assert [c.category for c in await store.cases.recent()] == [7]


async def test_held_transfers_and_collection(store: Store) -> None:  # noqa: F811
    async def op(tx) -> None:  # type: ignore[no-untyped-def]
        await store.transfers.insert(tx, transfer("h1", "held", "3524001"), [PUPIL])
    await store.backend.write(op)
    assert [r.transfer_id for r in await store.transfers.unspooled_held()] == ["h1"]
    await store.transfers.mark_spooled("h1")
    assert await store.transfers.unspooled_held() == []
    await store.transfers.mark_collected("h1")
    (row,) = await store.transfers.held("3524001")
    assert row.state == "collected" and row.collected_at is not None


async def test_records_upsert_and_match_results(store: Store) -> None:  # noqa: F811
    base = {"record_id": "r1", "surname": "Smith", "forename": "Jo", "dob": "2014-01-01"}
    await store.records.upsert([base, {**base, "record_id": "r2"}])
    await store.records.upsert([{**base, "forename": "Joanne"}])
    rows = sorted(await store.records.all(), key=lambda r: r.record_id)
    assert [(r.record_id, r.forename) for r in rows] == [("r1", "Joanne"), ("r2", "Jo")]
    assert (await store.records.version())[0] == 2
    await store.records.save_results("m1", {"1": [{"record_id": "r1", "band": "match",
                                                   "score": 12.5, "explanation": {}}]})
    (res,) = await store.records.results("m1")
    assert res.best_record_id == "r1" and res.candidates[0]["score"] == 12.5
