"""The users, sessions and resend-link repositories, and cancelling, on every backend (SQLite
and PostgreSQL): the lock counts failures in a row, a reset unlocks and ends sessions,
sessions are found by hash only, and a cancel never takes a message a sender holds."""

from __future__ import annotations

import time

from gateway.store import OutboundRow, OutboxState, Role, SessionRow
from tests import test_store as contract
from tests.pgserver import pg_dsn  # noqa: F401

# The store contract's fixtures: a new store on every backend.
database = contract.database
store = contract.store


async def test_users_lock_after_failures_in_a_row_and_reset_unlocks(store) -> None:
    assert await store.users.add("olive", Role.OFFICER, "h1") is not None
    assert await store.users.add("olive", Role.ADMIN, "h2") is None  # the name is taken

    async def fail(tx):  # type: ignore[no-untyped-def]
        return await store.users.failed(tx, "olive", 3, 100.0)

    for _ in range(2):
        assert (await store.backend.write(fail)).locked_at is None
    locked = await store.backend.write(fail)
    assert locked.locked_at == 100.0 and locked.status == "locked"
    await store.backend.write(lambda tx: store.sessions.add(
        tx, SessionRow("hash", "olive", "csrf", 1.0, 1.0)))
    assert await store.users.set_password("olive", "h3")
    row = await store.users.get("olive")
    assert row.locked_at is None and row.failed_sign_ins == 0 and row.password_hash == "h3"
    assert await store.sessions.get("hash") is None  # a reset ends the user's sessions
    assert not await store.users.set_password("nobody", "h")


async def test_a_successful_sign_in_resets_the_count(store) -> None:
    await store.users.add("mina", Role.MANAGER, "h")

    async def fail(tx):  # type: ignore[no-untyped-def]
        return await store.users.failed(tx, "mina", 5, 1.0)
    await store.backend.write(fail)
    await store.backend.write(lambda tx: store.users.signed_in(tx, "mina", 2.0))
    row = await store.users.get("mina")
    assert row.failed_sign_ins == 0 and row.last_sign_in_at == 2.0


async def test_sessions_touch_end_and_purge(store) -> None:
    await store.users.add("ada", Role.ADMIN, "h")
    for h, created in (("a", 10.0), ("b", 1000.0)):
        await store.backend.write(lambda tx, h=h, c=created: store.sessions.add(
            tx, SessionRow(h, "ada", "t", c, c)))
    await store.sessions.touch("b", 2000.0)
    assert (await store.sessions.get("b")).last_seen_at == 2000.0
    assert await store.sessions.purge(idle_before=500.0, created_before=0.0) == 1
    assert await store.sessions.get("a") is None
    await store.sessions.end("b")
    assert await store.sessions.get("b") is None
    assert await store.users.disable("ada") and not await store.users.disable("ada")


def _row(mid: str, now: float) -> OutboundRow:
    return OutboundRow(message_id=mid, recipient="352", message_type="Enquiry",
                       conversation_id=mid, in_reply_to=None, created_at=now,
                       state=OutboxState.QUEUED, attempts=0, next_attempt_at=now,
                       expires_at=now + 100, digest="d", body=b"<x/>")


async def test_cancel_takes_only_an_unleased_open_message_and_resends_link(store) -> None:
    now = time.time()
    for mid in ("m1", "m2", "m3"):
        await store.outbox.enqueue(_row(mid, now))

    async def cancel(mid: str) -> bool:
        return await store.backend.write(lambda tx: store.outbox.cancel(tx, mid, "why", now))

    assert await cancel("m1")
    assert (await store.outbox.get("m1")).state is OutboxState.CANCELLED
    assert not await cancel("m1")  # final
    await store.outbox.claim_due(now, "sender", 60, 10, only="352")  # m2, m3 leased
    assert not await cancel("m2")
    assert (await store.outbox.get("m2")).state is OutboxState.SENDING
    await store.outbox.mark_delivered("m3", b"r", now)
    assert not await cancel("m3")
    await store.backend.write(lambda tx: store.outbox.link_resend(tx, "m4", "m1", "user:o",
                                                                  now))
    assert await store.outbox.resends("m1") == (None, ["m4"])
    assert await store.outbox.resends("m4") == ("m1", [])
    summary = {r["party"]: r for r in await store.outbox.partner_summary()}
    assert summary["352"]["queue_depth"] == 1 and summary["352"]["last_success_at"] == now


async def test_the_listing_filters_by_type_date_and_id(store) -> None:
    now = time.time()
    for i, mid in enumerate(("a1", "a2", "a3")):
        await store.outbox.enqueue(_row(mid, now + i))
    rows = await store.outbox.recent(created_from=now + 1, created_until=now + 2)
    assert [r.message_id for r in rows] == ["a2"]
    assert [r.message_id for r in await store.outbox.recent(message_id="a3")] == ["a3"]
    assert await store.outbox.recent(message_type="Referral") == []
    assert (await store.outbox.recent(limit=1, with_body=True))[0].body == b"<x/>"
    assert await store.outbox.recipients() == ["352"]
