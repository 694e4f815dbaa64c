"""Second review of the grouped-commit fixes (32d572b, 3fd3634): reproducers, kept.

P1 the pool's RESET ALL undid `synchronous_commit = on` after each use of a connection;
P3 one partner's lock wait was paid once per message of the group; P4 an operation that
left the transaction aborted failed the whole group; P5 an operation raising
CancelledError was taken for the grouper's cancellation; P6 groups can still deadlock (the
fallback copes); P7 operations sent alone were unbounded and took the pool; P8 Latin
letters NFKD leaves whole were dropped. P2 is a soundness check (lock_timeout's scope)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from gateway.store import InboundRow, open_store
from gateway.store import postgres as pg
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401


def inbound(mid: str, digest: str = "d1", sender: str = "355") -> InboundRow:
    now = time.time()
    return InboundRow(message_id=mid, sender=sender, recipient="352", message_type="Enquiry",
                      conversation_id=mid, in_reply_to=None, created_at=now, received_at=now,
                      digest=digest, body=b"<x/>", receipt=b"receipt-" + digest.encode())


async def test_P1_synchronous_commit_on_is_undone_by_the_pools_reset(pg_dsn: str) -> None:  # noqa: F811
    """_init_connection turns synchronous_commit back on for a connection that finds it off
    (a database/role/server default of off), but asyncpg's pool runs RESET ALL on every
    release: from the second use of each pooled connection on, COMMIT no longer waits for
    the WAL flush, and a receipt can be sent for a message a server crash loses."""
    dsn = fresh_database(pg_dsn)
    admin = await asyncpg.connect(dsn)
    try:
        name = await admin.fetchval("SELECT current_database()")
        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await admin.close()
    b = pg.PostgresBackend(dsn, min_size=1, max_size=1)
    await b.open([])
    try:
        async def setting(tx) -> str:  # type: ignore[no-untyped-def]
            row = await tx.fetchone("SELECT current_setting('synchronous_commit') AS s")
            return row["s"]

        first = await b.write(setting)
        second = await b.write(setting)
        grouped = await b.write(setting, group=True)
        assert (first, second, grouped) == ("on", "on", "on")
    finally:
        await b.close()


async def test_P2_lock_timeout_does_not_leak_to_other_users(pg_dsn: str) -> None:  # noqa: F811
    """(sound) SET LOCAL lock_timeout ends with the group's transaction."""
    b = pg.PostgresBackend(fresh_database(pg_dsn), min_size=1, max_size=1)
    await b.open([])
    try:
        async def setting(tx) -> str:  # type: ignore[no-untyped-def]
            row = await tx.fetchone("SELECT current_setting('lock_timeout') AS s")
            return row["s"]

        assert await b.write(setting, group=True) == "2s"
        assert await b.write(setting) == "0"
        assert await b.read(setting) == "0"
    finally:
        await b.close()


async def test_P3_one_partners_lock_wait_is_paid_once_per_message(pg_dsn: str) -> None:  # noqa: F811
    """A non-grouped write (a CTF's long commit) holds partner_clock['355']. A group holding
    k messages from 355 and one from 356: the first attempt waits 2 s for the first 355
    message, then the savepoint attempt waits 2 s again for EACH other 355 message (each is
    sent alone only after its own lock timeout). 356's message (and every later group of the
    process) waits 2*k seconds: the R3 stall is back, multiplied by a partner's burst."""
    s = await open_store(fresh_database(pg_dsn))
    try:
        holding, release = asyncio.Event(), asyncio.Event()

        async def long_transfer_commit(tx) -> None:  # type: ignore[no-untyped-def]
            holding.set()
            await release.wait()

        ctf = asyncio.ensure_future(s.inbox.accept(inbound("ctf", sender="355"),
                                                   long_transfer_commit))
        await holding.wait()
        burst = [asyncio.ensure_future(s.inbox.accept(inbound(f"m355-{i}", sender="355"),
                                                      group=True)) for i in range(4)]
        from_356 = asyncio.ensure_future(s.inbox.accept(inbound("m356", sender="356"),
                                                        group=True))
        t0 = time.monotonic()
        done, _ = await asyncio.wait([from_356], timeout=15)
        took = time.monotonic() - t0
        release.set()
        await asyncio.gather(ctf, *burst, from_356)
        assert from_356 in done
        assert took < 3.5, f"356's message waited {took:.1f}s behind 355's lock (4 x 2 s)"
    finally:
        await s.close()


async def test_P4_one_op_leaving_the_transaction_aborted_fails_the_whole_group(
        pg_dsn: str) -> None:  # noqa: F811
    """An op that catches its own failed statement leaves the transaction aborted. First
    attempt: the NEXT op is blamed (25P02 on its first statement). Savepoint attempt: the
    careless op's RELEASE SAVEPOINT fails outside the per-op handling, so the whole group is
    rolled back and every op is answered store-unavailable: innocent messages refused
    (safe: nothing answered as stored, but one bad op fails up to MAX_BATCH messages)."""
    s = await open_store(fresh_database(pg_dsn))
    try:
        async def swallows(tx) -> None:  # type: ignore[no-untyped-def]
            try:
                await tx.execute("INSERT INTO no_such_table VALUES (1)")
            except asyncpg.PostgresError:
                pass

        results = await asyncio.gather(
            s.inbox.accept(inbound("ok1"), group=True),
            s.inbox.accept(inbound("careless"), swallows, group=True),
            s.inbox.accept(inbound("ok2"), group=True), return_exceptions=True)
        stored = {r.message_id for r in await s.inbox.recent()}
        assert "careless" not in stored
        assert [type(r).__name__ for r in results] == ["AcceptResult", "GatewayError",
                                                       "AcceptResult"], results
    finally:
        await s.close()


async def test_P5_an_op_raising_cancelled_error_fails_its_batch_and_the_queue(
        pg_dsn: str) -> None:  # noqa: F811
    """An op that raises CancelledError itself (not the grouper being cancelled) is taken for
    the loop ending: its whole batch and every write queued behind it are answered 'the
    store is closing', although the store stays open."""
    s = await open_store(fresh_database(pg_dsn))
    try:
        async def cancelled(tx) -> None:  # type: ignore[no-untyped-def]
            raise asyncio.CancelledError

        results = await asyncio.gather(
            s.inbox.accept(inbound("ok1"), group=True),
            s.inbox.accept(inbound("bad"), cancelled, group=True),
            s.inbox.accept(inbound("ok2"), group=True), return_exceptions=True)
        assert [type(r).__name__ for r in results][0] == "AcceptResult", results
        assert [type(r).__name__ for r in results][2] == "AcceptResult", results
    finally:
        await s.close()


async def test_P6_sorting_by_sender_does_not_prevent_a_deadlock_between_processes(
        pg_dsn: str, monkeypatch) -> None:  # noqa: F811
    """Two processes each receive the same two messages of one partner (a resend crossing
    the original) in opposite orders. Sorting by sender keeps the arrival order within the
    sender, and the op inserts into ``inbound`` (a wait on the other transaction's
    uncommitted message_id) before it locks partner_clock: A holds m1 and the clock and
    waits for B's m2; B holds m2 and waits for the clock. A deadlock (1 s, the group rolled
    back, one op sent alone). Steps writing cases/watches rows of other keys do the same
    across partners. The fallback copes; the docstring's "cannot deadlock" does not hold."""
    dsn = fresh_database(pg_dsn)
    a, b = await open_store(dsn), await open_store(dsn)
    alone: list[object] = []
    real = pg.PostgresBackend._write_alone

    async def counting(self, key):  # type: ignore[no-untyped-def]
        alone.append(key)
        await real(self, key)

    monkeypatch.setattr(pg.PostgresBackend, "_write_alone", counting)
    try:
        async def slow(tx) -> None:  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.5)  # a step's round trips; lets B insert m2 meanwhile

        m1, m2 = inbound("m1", sender="355"), inbound("m2", sender="355")

        async def in_b() -> list[object]:
            await asyncio.sleep(0.2)
            return await asyncio.gather(b.inbox.accept(m2, group=True),
                                        b.inbox.accept(m1, group=True),
                                        return_exceptions=True)

        ra, rb = await asyncio.gather(
            asyncio.gather(a.inbox.accept(m1, slow, group=True), a.inbox.accept(m2, group=True),
                           return_exceptions=True), in_b())
        # Sorted by partner and then message id, both processes insert m1 first: no
        # deadlock, nobody refused, nothing sent alone. (Deadlocks on other rows remain
        # possible; the fallback commits that operation alone.)
        assert all(not isinstance(r, BaseException) for r in [*ra, *rb]), (ra, rb)
        assert alone == [], "a deadlock between the two processes' groups"
    finally:
        await a.close()
        await b.close()


async def test_P7_ops_sent_alone_exhaust_the_pool_and_stall_every_partner(
        pg_dsn: str, monkeypatch) -> None:  # noqa: F811
    """Each op that hit the lock timeout gets its own background write(), unbounded, each on
    its own pool connection, each waiting (no lock_timeout now) for the same partner row.
    A burst of one partner's messages while its CTF commits fills the pool (10): the
    grouper then cannot acquire a connection, and another partner's message waits for the
    CTF (or ACQUIRE_TIMEOUT, 30 s, then store-unavailable); so do the sender's writes."""
    monkeypatch.setattr(pg, "GROUP_LOCK_TIMEOUT_MS", 100)
    s = await open_store(fresh_database(pg_dsn))
    try:
        holding, release = asyncio.Event(), asyncio.Event()

        async def long_transfer_commit(tx) -> None:  # type: ignore[no-untyped-def]
            holding.set()
            await release.wait()

        ctf = asyncio.ensure_future(s.inbox.accept(inbound("ctf", sender="355"),
                                                   long_transfer_commit))
        await holding.wait()
        burst = [asyncio.ensure_future(s.inbox.accept(inbound(f"m355-{i}", sender="355"),
                                                      group=True)) for i in range(9)]
        await asyncio.sleep(2.0)  # 9 lock timeouts of 0.1 s: all nine sent alone
        from_356 = asyncio.ensure_future(s.inbox.accept(inbound("m356", sender="356"),
                                                        group=True))
        done, _ = await asyncio.wait([from_356], timeout=3)
        release.set()
        await asyncio.gather(ctf, *burst, from_356, return_exceptions=True)
        assert from_356 in done, "356's message waited for 355's CTF: the pool is full"
    finally:
        await s.close()


@pytest.mark.parametrize("spelt,expected", [
    ("Ɖeɖe", "DEDE"),      # Ewe: African D (the commit names Ewe)
    ("Ʋɔ", "VO"),          # Ewe: V with hook
    ("Ɣawo", "GAWO"),      # Ewe: gamma
    ("Ɓala", "BALA"),      # Hausa: B with hook (else "ALA": Ala)
    ("Ɗanjuma", "DANJUMA"),  # Hausa: D with hook
    ("Ƙasim", "KASIM"),    # Hausa: K with hook
])
def test_P8_letters_nfkd_drops_are_still_dropped(spelt: str, expected: str) -> None:
    """404970f folded ə ɛ ɔ ŋ ħ ð; the other letters NFKD leaves alone still vanish, and a
    name losing its first letter can equal another child's name."""
    from gateway.matching.normalise import fold
    assert fold(spelt) == expected
