"""The store contract, run against every backend (SQLite and PostgreSQL): de-duplication,
forward-only states, leases, isolation of failing writes, and two Store instances (two
processes' worth of connections) sharing one database."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from gateway.core.errors import GatewayError
from gateway.store import InboundRow, OutboundRow, Store, open_store
from gateway.store.migrations import MIGRATIONS
from gateway.store.outbox import Outbox
from gateway.store.postgres import PostgresBackend, numbered, rowcount
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path) -> str:
    """The ``database`` setting of a new, empty store: a SQLite file or a PostgreSQL DSN."""
    if request.param == "sqlite":
        return str(tmp_path / "t.db")
    return fresh_database(request.getfixturevalue("pg_dsn"))


@pytest.fixture
async def store(database: str):
    s = await open_store(database)
    yield s
    await s.close()


def inbound(mid: str = "m1", digest: str = "d1", sender: str = "355") -> InboundRow:
    now = time.time()
    return InboundRow(message_id=mid, sender=sender, recipient="352", message_type="Enquiry",
                      conversation_id=mid, in_reply_to=None, created_at=now, received_at=now,
                      digest=digest, body=b"<x/>", receipt=b"receipt-" + digest.encode())


def answering(store: Store, enquiry_id: str, sender: str):  # type: ignore[no-untyped-def]
    """The transaction step that a Reply from ``sender`` to ``enquiry_id`` brings (as the
    Reply handler makes it)."""
    async def step(tx) -> None:  # type: ignore[no-untyped-def]
        await store.outbox.answer(tx, enquiry_id, sender, "reply", "[]", time.time())
    return step


def outbound(mid: str = "o1", recipient: str = "352", due: float | None = None) -> OutboundRow:
    now = time.time()
    return OutboundRow(message_id=mid, recipient=recipient, message_type="Enquiry",
                       conversation_id=mid, in_reply_to=None, created_at=now, state="queued",
                       attempts=0, next_attempt_at=due if due is not None else now,
                       expires_at=now + 3600, digest="d", body=b"<signed/>")


async def test_inbound_dedup(store: Store) -> None:
    first = await store.inbox.accept(inbound())
    again = await store.inbox.accept(inbound())
    assert not first.duplicate and again.duplicate and again.receipt == first.receipt
    with pytest.raises(GatewayError) as info:
        await store.inbox.accept(inbound(digest="other"))
    assert info.value.code == "duplicate-conflict"


async def test_one_failing_write_does_not_affect_the_others_in_its_batch(store: Store) -> None:
    results = await asyncio.gather(
        store.inbox.accept(inbound("a")), store.inbox.accept(inbound("b")),
        store.inbox.accept(inbound("a", digest="conflict")),
        store.inbox.accept(inbound("c")), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["AcceptResult", "AcceptResult",
                                                   "GatewayError", "AcceptResult"]
    assert {r.message_id for r in await store.inbox.recent()} == {"a", "b", "c"}


async def test_states_only_move_forward(store: Store) -> None:
    await store.outbox.enqueue(outbound())
    now = time.time()
    (row,) = await store.outbox.claim_due(now, "w1", 30, 10)
    assert row.state == "sending" and row.attempts == 1
    assert await store.outbox.mark_delivered("o1", b"r", now)
    assert not await store.outbox.mark_failed("o1", "x", "late error", now)  # delivered stays
    assert (await store.outbox.get("o1")).state == "delivered"
    await store.inbox.accept(InboundRow(**{**inbound("reply").__dict__, "in_reply_to": "o1",
                                           "sender": "352", "message_type": "Reply"}),
                             answering(store, "o1", "352"))
    assert (await store.outbox.get("o1")).state == "answered"
    assert not await store.outbox.mark_delivered("o1", b"r2", now)
    assert [e.to_state for e in await store.outbox.events("o1")] == [
        "queued", "sending", "delivered", "answered"]


async def test_receipts_of_several_messages_are_recorded_in_one_write(store: Store) -> None:
    """The sender stores the receipts of deliveries that end together in one transaction;
    each message still moves only forward: one being sent becomes delivered, one answered
    first keeps its state and gains the receipt, one not being sent is left alone."""
    for mid in ("o1", "o2", "o3"):
        await store.outbox.enqueue(outbound(mid))
    now = time.time()
    assert len(await store.outbox.claim_due(now, "w1", 30, 10)) == 3
    await store.inbox.accept(InboundRow(**{**inbound("reply").__dict__, "in_reply_to": "o3",
                                           "sender": "352", "message_type": "Reply"}),
                             answering(store, "o3", "352"))
    await store.outbox.enqueue(outbound("o4"))  # queued, never claimed
    writes = 0
    write = store.outbox.backend.write

    async def counted(op):  # type: ignore[no-untyped-def]
        nonlocal writes
        writes += 1
        return await write(op)

    store.outbox.backend.write = counted  # type: ignore[method-assign]
    moved = await store.outbox.mark_delivered_many(
        [("o1", b"r1"), ("o2", b"r2"), ("o3", b"r3"), ("o4", b"r4")], now)
    store.outbox.backend.write = write  # type: ignore[method-assign]
    assert moved == [True, True, False, False] and writes == 1
    rows = {mid: await store.outbox.get(mid, with_body=True) for mid in ("o1", "o2", "o3", "o4")}
    assert [(r.state, r.receipt) for r in rows.values()] == [
        ("delivered", b"r1"), ("delivered", b"r2"), ("answered", b"r3"), ("queued", None)]
    assert rows["o1"].lease_until is None and rows["o1"].delivered_at == now
    assert [e.to_state for e in await store.outbox.events("o2")] == [
        "queued", "sending", "delivered"]
    assert [e.to_state for e in await store.outbox.events("o3")] == [
        "queued", "sending", "answered"]
    assert await store.outbox.mark_delivered_many([], now) == []


async def test_a_large_claim_and_its_receipts_record_every_event(store: Store) -> None:
    """Events are inserted several rows a statement, in chunks: none is lost at a chunk's
    edge."""
    n = 2 * store.outbox.EVENTS_PER_INSERT + 3
    for i in range(n):
        await store.outbox.enqueue(outbound(f"o{i}"))
    now = time.time()
    claimed = await store.outbox.claim_due(now, "w1", 30, n)
    assert len(claimed) == n
    assert await store.outbox.mark_delivered_many(
        [(r.message_id, b"r") for r in claimed], now) == [True] * n
    for i in range(n):
        assert [e.to_state for e in await store.outbox.events(f"o{i}")] == [
            "queued", "sending", "delivered"]


async def test_a_reply_from_another_party_answers_nothing(store: Store) -> None:
    await store.outbox.enqueue(outbound())
    await store.inbox.accept(InboundRow(**{**inbound("reply").__dict__, "in_reply_to": "o1",
                                           "sender": "350", "message_type": "Reply"}),
                             answering(store, "o1", "350"))
    assert (await store.outbox.get("o1")).state == "queued"


async def test_leases_are_exclusive_until_they_run_out(store: Store) -> None:
    for i in range(5):
        await store.outbox.enqueue(outbound(f"o{i}"))
    now = time.time()
    a = await store.outbox.claim_due(now, "w1", 30, 3)
    b = await store.outbox.claim_due(now, "w2", 30, 10)
    assert len(a) == 3 and len(b) == 2
    assert not {r.message_id for r in a} & {r.message_id for r in b}
    assert await store.outbox.claim_due(now, "w3", 30, 10) == []
    later = await store.outbox.claim_due(now + 31, "w3", 30, 10)  # w1 and w2 "crashed"
    assert len(later) == 5 and all(r.attempts == 2 for r in later)


async def test_retry_waits_and_expiry_makes_a_dead_letter(store: Store) -> None:
    await store.outbox.enqueue(outbound())
    now = time.time()
    await store.outbox.claim_due(now, "w1", 30, 1)
    await store.outbox.mark_retry("o1", "w1", now + 100, "connection refused", now)
    assert await store.outbox.claim_due(now + 50, "w1", 30, 1) == []
    assert len(await store.outbox.claim_due(now + 101, "w1", 30, 1)) == 1
    await store.outbox.mark_retry("o1", "w1", now + 200, "HTTP 503", now)
    assert await store.outbox.expire_due(now + 7200) == ["o1"]
    row = await store.outbox.get("o1")
    assert row.state == "expired" and "HTTP 503" in (row.last_error or "")


async def test_claim_takes_the_earliest_due_across_states_up_to_its_limit(store: Store) -> None:
    """The claim reads queued and retrying (``sending``, lease released) messages each in
    due order from the index and merges them: the earliest due come first, whatever their
    state, never more than ``limit``, never one still leased or not yet due."""
    now = time.time()
    for i in range(4):  # to be retried, due at now - 40, - 30, ...
        await store.outbox.enqueue(outbound(f"r{i}", due=now - 100))
    assert len(await store.outbox.claim_due(now - 100, "w1", 30, 4)) == 4
    for i in range(4):
        await store.outbox.mark_retry(f"r{i}", "w1", now - 40 + 10 * i, "HTTP 503", now - 100)
    for i in range(4):  # queued, due at now - 35, - 25, ...
        await store.outbox.enqueue(outbound(f"q{i}", due=now - 35 + 10 * i))
    await store.outbox.enqueue(outbound("later", due=now + 60))
    await store.outbox.enqueue(outbound("leased", due=now - 90))
    await store.outbox.claim_due(now - 90, "w2", 300, 1)  # "leased" is held by w2
    got = await store.outbox.claim_due(now, "w3", 30, 5)
    assert sorted(r.message_id for r in got) == ["q0", "q1", "r0", "r1", "r2"]
    rest = await store.outbox.claim_due(now, "w3", 30, 10)
    assert sorted(r.message_id for r in rest) == ["q2", "q3", "r3"]


async def test_spool_pending_finds_only_spooled_messages_whose_delivery_is_over(
        store: Store) -> None:
    def spooled(mid: str) -> OutboundRow:
        return OutboundRow(**{**outbound(mid).__dict__, "spool_name": f"{mid}.xml"})

    for row in (spooled("done"), spooled("moved"), spooled("open"), outbound("api")):
        await store.outbox.enqueue(row)
    now = time.time()
    await store.outbox.claim_due(now, "w", 30, 10)
    await store.outbox.mark_delivered_many([("done", b"r"), ("moved", b"r"), ("api", b"r")], now)
    await store.outbox.mark_spool_done("moved")
    assert [r.message_id for r in await store.outbox.spool_pending()] == ["done"]
    if store.outbox.backend.dialect.name == "sqlite":
        # The sweep runs every second: it must not read the whole outbox (migration 13).
        asked: list[str] = []

        class Capture:
            dialect = store.outbox.backend.dialect

            async def fetchall(self, sql: str, *args: object) -> list[object]:
                asked.append(sql)
                return []

        class Asking:
            async def read(self, op):  # type: ignore[no-untyped-def]
                return await op(Capture())

        await Outbox(Asking()).spool_pending()  # type: ignore[arg-type]
        seen: list[str] = []

        async def op(tx) -> None:  # type: ignore[no-untyped-def]
            seen.extend(str(r["detail"]) for r in
                        await tx.fetchall("EXPLAIN QUERY PLAN " + asked[0]))
        await store.outbox.backend.read(op)
        assert any("outbound_spool_pending" in d for d in seen), seen


async def test_claim_skips_excluded_partners(store: Store) -> None:
    await store.outbox.enqueue(outbound("a", "352"))
    await store.outbox.enqueue(outbound("b", "350"))
    got = await store.outbox.claim_due(time.time(), "w", 30, 10, exclude=["352"])
    assert [r.message_id for r in got] == ["b"]
    got = await store.outbox.claim_due(time.time(), "w", 30, 10, only="352")
    assert [r.message_id for r in got] == ["a"]


async def test_enqueue_is_atomic_with_the_change_that_caused_it(store: Store) -> None:
    async def boom(tx) -> None:
        raise RuntimeError("the causing change failed")

    with pytest.raises(RuntimeError):
        await store.outbox.enqueue(outbound(), boom)
    assert await store.outbox.get("o1") is None


async def test_outbox_listing_is_keyset_paginated(store: Store) -> None:
    for i in range(7):
        await store.outbox.enqueue(outbound(f"o{i}"))
    page1 = await store.outbox.recent(limit=4)
    page2 = await store.outbox.recent(limit=4, before=(page1[-1].created_at,
                                                       page1[-1].message_id))
    ids = [r.message_id for r in page1 + page2]
    assert len(ids) == 7 == len(set(ids))


async def test_data_survives_reopen(database: str) -> None:
    s = await open_store(database)
    await s.inbox.accept(inbound())
    await s.close()
    s = await open_store(database)
    got = await s.inbox.get("m1")
    assert got is not None and got.body == b"<x/>" and got.receipt == b"receipt-d1"
    await s.close()


# ---- two Store instances on one database (two gateway processes' worth of connections) ----

@pytest.fixture
async def two_stores(database: str):
    a = await open_store(database)
    b = await open_store(database)
    yield a, b
    await a.close()
    await b.close()


async def test_migrations_run_once_when_processes_start_together(database: str) -> None:
    stores = await asyncio.gather(*(open_store(database) for _ in range(4)))
    try:
        async def versions(tx) -> list[int]:
            return [r["version"] for r in await tx.fetchall(
                "SELECT version FROM schema_migrations ORDER BY version")]
        got = await stores[0].backend.read(versions)
        assert got == sorted({v for v, _ in MIGRATIONS}) and len(got) == len(set(got))
    finally:
        for s in stores:
            await s.close()


async def test_concurrent_claims_from_two_stores_never_return_a_message_twice(
        two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    ids = {f"o{i:03d}" for i in range(200)}
    for chunk in range(0, 200, 50):
        await asyncio.gather(*(a.outbox.enqueue(outbound(f"o{i:03d}"))
                               for i in range(chunk, chunk + 50)))
    now = time.time()

    async def claimer(store: Store, owner: str) -> list[str]:
        got: list[str] = []
        while rows := await store.outbox.claim_due(now, owner, 60, 7):
            assert len(rows) <= 7
            got += [r.message_id for r in rows]
            await asyncio.sleep(0.005)  # "sending" (SQLite's busy waiters get their turn)
        return got

    owners = [(s, f"{name}{i}") for s, name in ((a, "a"), (b, "b")) for i in range(4)]
    results = await asyncio.gather(*(claimer(s, owner) for s, owner in owners))
    claimed = [mid for got in results for mid in got]
    assert len(claimed) == 200 and set(claimed) == ids  # every message, none twice
    assert any(results[:4]) and any(results[4:])  # both stores took part
    for (_, owner), got in zip(owners, results, strict=True):
        for mid in got:
            row = await b.outbox.get(mid)
            assert row is not None and row.lease_owner == owner and row.attempts == 1
    assert await a.outbox.claim_due(now, "late", 60, 10) == []


async def test_concurrent_accept_of_one_message_from_two_stores(
        two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    for i in range(30):
        mid = f"dup{i}"
        mine = inbound(mid)  # same id and bytes, each process with its own receipt
        theirs = InboundRow(**{**mine.__dict__, "receipt": b"another receipt"})
        x, y = await asyncio.gather(a.inbox.accept(mine), b.inbox.accept(theirs))
        assert sorted([x.duplicate, y.duplicate]) == [False, True]
        assert x.receipt == y.receipt  # the resend is answered with the stored receipt
        stored = await b.inbox.get(mid)
        assert stored is not None and stored.receipt == x.receipt
    assert len(await a.inbox.recent(limit=100)) == 30


# ---- PostgreSQL specifics ------------------------------------------------------------------

def test_placeholders_and_row_counts() -> None:
    assert numbered("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)") == (
        "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)")
    assert numbered("SELECT 'it''s ?' , \"q?\" , ?") == "SELECT 'it''s ?' , \"q?\" , $1"
    assert [rowcount(s) for s in ("UPDATE 3", "INSERT 0 1", "DELETE 0", "CREATE TABLE")] == [
        3, 1, 0, 0]


class HeldCommit:
    """A backend whose writes hold their transaction open (row locks and all) until
    ``release`` is set; ``reached`` is set once the operation itself has run."""

    def __init__(self, inner: PostgresBackend) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def open(self, migrations) -> None:
        await self.inner.open(migrations)

    async def write(self, op):
        async def held(tx):
            result = await op(tx)
            self.reached.set()
            await self.release.wait()
            return result
        return await self.inner.write(held)

    async def read(self, op):
        return await self.inner.read(op)

    async def close(self) -> None:
        await self.inner.close()


async def test_postgres_resend_waits_for_the_first_commit_then_gets_its_receipt(
        pg_dsn: str) -> None:  # noqa: F811
    dsn = fresh_database(pg_dsn)
    held = HeldCommit(PostgresBackend(dsn))
    a = await Store(held).open()
    b = await open_store(dsn)
    watcher = await asyncpg.connect(dsn)
    try:
        first = asyncio.create_task(a.inbox.accept(inbound("m1")))
        await asyncio.wait_for(held.reached.wait(), 10)  # inserted, not committed
        second = asyncio.create_task(b.inbox.accept(
            InboundRow(**{**inbound("m1").__dict__, "receipt": b"another receipt"})))
        deadline = time.monotonic() + 10
        while not await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"):
            assert time.monotonic() < deadline, "the second insert never waited for the first"
            await asyncio.sleep(0.02)
        assert not second.done()  # blocked on the primary key of the uncommitted row
        held.release.set()
        x, y = await asyncio.wait_for(asyncio.gather(first, second), 10)
        assert not x.duplicate and y.duplicate and x.receipt == y.receipt == b"receipt-d1"
    finally:
        held.release.set()
        await watcher.close()
        await a.close()
        await b.close()


async def test_postgres_unreachable_is_store_unavailable_without_the_password() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GatewayError) as info:
        await open_store(f"postgresql://gw:s3cret-pw@127.0.0.1:{port}/cme")
    assert info.value.code == "store-unavailable" and "s3cret-pw" not in info.value.text


async def test_postgres_lost_connections_are_store_unavailable_then_recover(
        pg_dsn: str) -> None:  # noqa: F811
    dsn = fresh_database(pg_dsn)
    s = await open_store(dsn)
    admin = await asyncpg.connect(pg_dsn)
    try:
        await s.inbox.accept(inbound("m0"))
        name = dsn.rsplit("/", 1)[1]
        # End the store's connections and keep the database out of reach while the store
        # tries: a dead pooled connection and a reconnect both fail, whichever the pool meets
        # first. pg_terminate_backend only signals, so on a busy machine a backend may still be
        # there when the rename comes: end them again and retry.
        for _ in range(200):
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
            try:
                await admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')
                break
            except asyncpg.exceptions.ObjectInUseError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("the store's connections did not end")
        try:
            with pytest.raises(GatewayError) as info:
                await s.inbox.accept(inbound("m1"))
            assert info.value.code == "store-unavailable"
        finally:
            await admin.execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')
        for _ in range(10):  # the pool replaces the dead connections
            try:
                await s.inbox.accept(inbound("m1"))
                break
            except GatewayError:
                await asyncio.sleep(0.1)
        got = await s.inbox.get("m1")
        assert got is not None and await s.inbox.get("m0") is not None
    finally:
        await admin.close()
        await s.close()


async def test_sqlite_close_waits_for_reads_in_flight(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Closing a reader connection while another thread is inside one of its statements
    # crashed the process (a segfault in CI, a read still running at shutdown). close()
    # now lets reads in flight finish before it closes their connections, and refuses
    # new ones with a clear error.
    from gateway.store.sqlite import SqliteBackend

    backend = SqliteBackend(tmp_path / "g.db")
    await backend.open(MIGRATIONS)

    async def slow(tx):  # type: ignore[no-untyped-def]
        # many rows: fetchall steps the statement again and again, and a close between
        # two steps is what crashed
        rows = await tx.fetchall(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 400000) SELECT i FROM n")
        return len(rows)

    reads = [asyncio.create_task(backend.read(slow)) for _ in range(2)]
    await asyncio.sleep(0.05)  # both reads are inside their statements now
    await backend.close()
    assert await asyncio.gather(*reads) == [400000, 400000]
    with pytest.raises(GatewayError) as err:
        await backend.read(slow)
    assert err.value.code == "store-unavailable"


async def test_a_database_a_newer_gateway_migrated_is_refused(database: str) -> None:
    """README review: a downgrade (or an old binary started by mistake) opened a database
    at a schema version it did not know, and went on with it."""
    newest = max(v for v, _ in MIGRATIONS)
    s = await open_store(database)

    async def bump(tx) -> None:
        await tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)",
                         newest + 1)
    await s.backend.write(bump)
    await s.close()
    with pytest.raises(GatewayError) as info:
        await open_store(database)
    assert info.value.code == "store-newer"
    assert f"schema version {newest + 1}" in (info.value.detail or "")
