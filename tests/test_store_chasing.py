"""The chasing repository on both engines (SQLite and PostgreSQL): tracking, replies with the
review rule, the chase guard against double counting, escalation once, chasers received."""

from __future__ import annotations

import pytest

from gateway.store import OutboundRow, OutboxState, Store, open_store
from gateway.store.chasing import ChaserSent, Chasing, SentChild, SentEnquiry
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


async def sent(store: Store, mid: str = "e1", delivered: bool = True) -> None:
    row = OutboundRow(message_id=mid, recipient="352", message_type="Enquiry",
                      conversation_id=mid, in_reply_to=None, created_at=100.0,
                      state=OutboxState.QUEUED, attempts=0, next_attempt_at=100.0,
                      expires_at=10_000.0, digest="d", body=b"<x/>")
    enquiry = SentEnquiry(mid, "352", mid, 100.0, "2026-11-27", "2026-12-11", 0, "2026-12-11")
    kids = [SentChild(mid, "1", "Kowalczyk", "Amelia", dob="2015-03-14"),
            SentChild(mid, "2", "Kowalczyk", "Jakub")]

    async def op(tx) -> None:  # type: ignore[no-untyped-def]
        await store.outbox.insert(tx, row)
        await Chasing.track(tx, enquiry, kids)
    await store.backend.write(op)
    if delivered:
        await store.outbox.claim_due(200.0, "t", 60.0, 10)
        assert await store.outbox.mark_delivered(mid, b"receipt", 201.0)


async def reply(store: Store, mid: str, replier: str, *outcomes: tuple[str, str]):  # type: ignore[no-untyped-def]
    items = [{"child_ref": ref, "outcome": o,
              "school": {"name": "Oak School", "laestab": "3524001"} if o == "known-on-roll"
              else None} for ref, o in outcomes]

    async def op(tx):  # type: ignore[no-untyped-def]
        return await Chasing.record_reply(tx, mid, replier, f"r-{len(items)}-{outcomes[0][1]}",
                                          items, 300.0)
    return await store.backend.write(op)


async def test_replies_update_children_and_a_later_not_known_is_held(store: Store) -> None:
    await sent(store)
    assert await reply(store, "e1", "999", ("1", "known-on-roll")) is None  # not the recipient
    assert await reply(store, "e1", "352", ("1", "known-on-roll"),
                       ("2", "not-known-monitoring")) == []
    changes = await reply(store, "e1", "352", ("1", "not-known"), ("2", "known-not-on-roll"))
    assert [(c.child_ref, c.before, c.after, c.review) for c in changes] == [
        ("1", "known-on-roll", "not-known", True),
        ("2", "not-known-monitoring", "known-not-on-roll", False)]
    kids = {c.child_ref: c for c in (await store.chasing.children(["e1"]))["e1"]}
    assert (kids["1"].outcome, kids["1"].pending_outcome, kids["1"].needs_review) == (
        "known-on-roll", "not-known", 1)
    assert kids["1"].school_json() == {"name": "Oak School", "laestab": "3524001"}
    assert (kids["2"].outcome, kids["2"].replied_by, kids["2"].previous_outcome) == (
        "known-not-on-roll", "352", "not-known-monitoring")

    async def accept(tx):  # type: ignore[no-untyped-def]
        return await Chasing.resolve_review(tx, "e1", "1", accept=True)
    before, after = await store.backend.write(accept)
    assert (before.outcome, after.outcome, after.school, after.needs_review,
            after.previous_outcome) == ("known-on-roll", "not-known", None, 0, "known-on-roll")
    assert await store.backend.write(accept) is None  # nothing left to decide


async def test_needing_action_chase_guard_and_escalation(store: Store) -> None:
    await sent(store, "e1")
    await sent(store, "e2", delivered=False)  # never delivered: never chased
    due = await store.chasing.needing_action("2026-12-14", auto=True, escalate_after=2)
    assert [e.message_id for e in due] == ["e1"]
    assert await store.chasing.needing_action("2026-12-11", auto=True, escalate_after=2) == []
    first = ChaserSent("c1", "e1", 1, 400.0, "gateway")

    async def count(tx, chaser=first):  # type: ignore[no-untyped-def]
        return await Chasing.record_chaser(tx, chaser, "2026-12-21")
    assert await store.backend.write(count) is True
    # the same number again (a second process read chasers = 0 too): refused
    assert await store.backend.write(lambda tx: count(tx, ChaserSent("c9", "e1", 1, 401.0,
                                                                     "cli"))) is False
    e = await store.chasing.get("e1")
    assert e is not None and (e.chasers, e.chase_after, e.overdue_at) == (1, "2026-12-21", 400.0)
    assert [c.chaser_id for c in await store.chasing.chasers("e1")] == ["c1"]
    # manual: noted once, then left to the officer until escalation is due
    assert await store.chasing.needing_action("2027-01-05", auto=False, escalate_after=2) == []
    assert [x.message_id for x in await store.chasing.needing_action(
        "2027-01-05", auto=False, escalate_after=1)] == ["e1"]

    async def escalate(tx):  # type: ignore[no-untyped-def]
        return await Chasing.mark_escalated(tx, "e1", "no reply", 500.0)
    assert await store.backend.write(escalate) is True
    assert await store.backend.write(escalate) is False
    assert await store.chasing.needing_action("2027-01-05", auto=True, escalate_after=1) == []
    # an answered enquiry needs nothing
    await reply(store, "e2", "352", ("1", "not-known"), ("2", "not-known"))
    assert await store.chasing.needing_action("2027-06-01", auto=True, escalate_after=5) == []


async def test_chasers_received(store: Store) -> None:
    assert (await store.chasing.chased("e1")).times == 0

    async def got(tx, mid: str, n: int, at: float) -> None:  # type: ignore[no-untyped-def]
        await Chasing.record_received(tx, mid, "e1", "355", n, at)
    await store.backend.write(lambda tx: got(tx, "c1", 1, 100.0))
    await store.backend.write(lambda tx: got(tx, "c2", 2, 200.0))
    summary = await store.chasing.chased("e1")
    assert (summary.times, summary.last_at, summary.last_number) == (2, 200.0, 2)
