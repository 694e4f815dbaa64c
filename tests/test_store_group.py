"""Grouped commits (``Backend.write(op, group=True)``, the inbound path's accept): several
messages' inserts in one transaction and one COMMIT, each caller answered only after it, and
one failing operation never failing the others. SQLite's writer groups every write already;
these tests hold PostgreSQL to the same contract, and check that it really groups (rows
written in one transaction share their ``xmin``)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.core.errors import GatewayError
from gateway.store import InboundRow, Store, open_store
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "t.db")
    return fresh_database(request.getfixturevalue("pg_dsn"))


@pytest.fixture
async def store(database: str):
    s = await open_store(database)
    yield s
    await s.close()


def inbound(mid: str, digest: str = "d1", sender: str = "355") -> InboundRow:
    now = time.time()
    return InboundRow(message_id=mid, sender=sender, recipient="352", message_type="Enquiry",
                      conversation_id=mid, in_reply_to=None, created_at=now, received_at=now,
                      digest=digest, body=b"<x/>", receipt=b"receipt-" + digest.encode())


async def accept(store: Store, row: InboundRow, step=None):  # type: ignore[no-untyped-def]
    return await store.inbox.accept(row, step, group=True)


async def transactions(store: Store, ids: list[str]) -> int:
    """In how many PostgreSQL transactions the inbound rows ``ids`` were written."""
    async def op(tx):  # type: ignore[no-untyped-def]
        row = await tx.fetchone("SELECT count(DISTINCT xmin::text) AS n FROM inbound "
                                "WHERE message_id = ANY(?)", ids)
        return row["n"]
    return await store.backend.read(op)


async def test_grouped_accepts_commit_together_and_each_is_answered(store: Store) -> None:
    ids = [f"m{i}" for i in range(20)]
    results = await asyncio.gather(*(accept(store, inbound(i)) for i in ids))
    assert all(not r.duplicate and r.receipt == b"receipt-d1" for r in results)
    assert {r.message_id for r in await store.inbox.recent(limit=100)} == set(ids)
    if store.backend.dialect.name == "postgresql":
        # one transaction for all twenty (without grouping: twenty)
        assert await transactions(store, ids) == 1


async def test_a_refused_operation_does_not_fail_the_others_in_its_group(store: Store) -> None:
    await accept(store, inbound("a"))
    results = await asyncio.gather(
        accept(store, inbound("b")), accept(store, inbound("a", digest="conflict")),
        accept(store, inbound("c")), accept(store, inbound("b")), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["AcceptResult", "GatewayError",
                                                   "AcceptResult", "AcceptResult"]
    assert results[1].code == "duplicate-conflict"
    assert results[3].duplicate and not results[0].duplicate  # b's resend, in the same group
    assert {r.message_id for r in await store.inbox.recent()} == {"a", "b", "c"}
    if store.backend.dialect.name == "postgresql":
        # (Run again with a savepoint each: each row has its subtransaction's xmin.)
        assert await transactions(store, ["b", "c"]) <= 2


async def test_a_step_that_writes_then_fails_leaves_nothing_and_fails_nothing_else(
        store: Store) -> None:
    async def audit_then_refuse(tx) -> None:  # type: ignore[no-untyped-def]
        await store.audit.add("355", "half-done", "x", "written before the refusal", tx=tx)
        raise GatewayError("bad-request", "refused after writing")

    async def audited(tx) -> None:  # type: ignore[no-untyped-def]
        await store.audit.add("355", "done", "y", "kept", tx=tx)

    results = await asyncio.gather(
        accept(store, inbound("x"), audit_then_refuse), accept(store, inbound("y"), audited),
        accept(store, inbound("z")), return_exceptions=True)
    assert isinstance(results[0], GatewayError) and results[0].code == "bad-request"
    assert [type(r).__name__ for r in results[1:]] == ["AcceptResult", "AcceptResult"]
    assert {r.message_id for r in await store.inbox.recent()} == {"y", "z"}
    assert [e.action for e in await store.audit.entries()] == ["done"]


async def test_a_failing_statement_fails_only_its_own_operation(store: Store) -> None:
    async def broken(tx) -> None:  # type: ignore[no-untyped-def]
        await tx.execute("INSERT INTO no_such_table VALUES (1)")

    results = await asyncio.gather(
        accept(store, inbound("p")), accept(store, inbound("q"), broken),
        accept(store, inbound("r")), return_exceptions=True)
    assert [type(r).__name__ for r in results[::2]] == ["AcceptResult", "AcceptResult"]
    assert isinstance(results[1], Exception)  # SQLite passes on sqlite3's error as it is
    if store.backend.dialect.name == "postgresql":
        assert isinstance(results[1], GatewayError) and results[1].code == "store-unavailable"
        assert await transactions(store, ["p", "r"]) <= 2  # (savepoints: see above)
    assert {r.message_id for r in await store.inbox.recent()} == {"p", "r"}


async def test_grouped_writes_after_close_are_store_unavailable(database: str) -> None:
    s = await open_store(database)
    await s.close()
    with pytest.raises(GatewayError) as info:
        await accept(s, inbound("late"))
    assert info.value.code == "store-unavailable"


async def test_grouped_writes_waiting_when_the_grouper_is_cancelled_are_answered(
        pg_dsn: str) -> None:  # noqa: F811
    """Nobody waits for ever: the loop ending (the grouping task cancelled) mid-batch answers
    that batch and every write queued behind it store-unavailable."""
    s = await open_store(fresh_database(pg_dsn))
    try:
        entered = asyncio.Event()

        async def slow(tx) -> None:  # type: ignore[no-untyped-def]
            entered.set()
            await asyncio.sleep(30)

        first = asyncio.ensure_future(accept(s, inbound("s1"), slow))
        await asyncio.wait_for(entered.wait(), 10)
        behind = asyncio.ensure_future(accept(s, inbound("s2")))
        await asyncio.sleep(0)
        s.backend._grouper.cancel()  # type: ignore[attr-defined]
        for waiting in (first, behind):
            with pytest.raises(GatewayError) as info:
                await asyncio.wait_for(waiting, 10)
            assert info.value.code == "store-unavailable"
    finally:
        await s.close()
