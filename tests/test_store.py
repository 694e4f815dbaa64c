"""The store contract: de-duplication, forward-only states, leases, group-commit isolation."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.errors import GatewayError
from gateway.store import InboundRow, OutboundRow, Store, open_store


@pytest.fixture
async def store(tmp_path):
    s = await open_store(str(tmp_path / "t.db"))
    yield s
    await s.close()


def inbound(mid: str = "m1", digest: str = "d1", sender: str = "355") -> InboundRow:
    now = time.time()
    return InboundRow(message_id=mid, sender=sender, recipient="352", message_type="Enquiry",
                      conversation_id=mid, in_reply_to=None, created_at=now, received_at=now,
                      digest=digest, body=b"<x/>", receipt=b"receipt-" + digest.encode())


def outbound(mid: str = "o1", recipient: str = "352", due: float | None = None) -> OutboundRow:
    now = time.time()
    return OutboundRow(message_id=mid, recipient=recipient, message_type="Enquiry",
                       conversation_id=mid, in_reply_to=None, created_at=now, state="queued",
                       attempts=0, next_attempt_at=due if due is not None else now,
                       expires_at=now + 3600, digest="d", body=b"<signed/>")


async def test_inbound_dedup(store: Store) -> None:
    first = await store.accept_inbound(inbound())
    again = await store.accept_inbound(inbound())
    assert not first.duplicate and again.duplicate and again.receipt == first.receipt
    with pytest.raises(GatewayError) as info:
        await store.accept_inbound(inbound(digest="other"))
    assert info.value.code == "duplicate-conflict"


async def test_one_failing_write_does_not_affect_the_others_in_its_batch(store: Store) -> None:
    results = await asyncio.gather(
        store.accept_inbound(inbound("a")), store.accept_inbound(inbound("b")),
        store.accept_inbound(inbound("a", digest="conflict")),
        store.accept_inbound(inbound("c")), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["AcceptResult", "AcceptResult",
                                                   "GatewayError", "AcceptResult"]
    assert {r.message_id for r in await store.list_inbound()} == {"a", "b", "c"}


async def test_states_only_move_forward(store: Store) -> None:
    await store.enqueue(outbound())
    now = time.time()
    (row,) = await store.claim_due(now, "w1", 30, 10)
    assert row.state == "sending" and row.attempts == 1
    assert await store.mark_delivered("o1", b"r", now)
    assert not await store.mark_failed("o1", "x", "late error", now)  # delivered stays
    assert (await store.get_outbound("o1")).state == "delivered"
    await store.accept_inbound(InboundRow(**{**inbound("reply").__dict__, "in_reply_to": "o1",
                                             "sender": "352", "message_type": "Reply"}),
                               outcomes="[]")
    assert (await store.get_outbound("o1")).state == "answered"
    assert not await store.mark_delivered("o1", b"r2", now)
    assert [e["to_state"] for e in await store.events("o1")] == [
        "queued", "sending", "delivered", "answered"]


async def test_a_reply_from_another_party_answers_nothing(store: Store) -> None:
    await store.enqueue(outbound())
    await store.accept_inbound(InboundRow(**{**inbound("reply").__dict__, "in_reply_to": "o1",
                                             "sender": "350", "message_type": "Reply"}),
                               outcomes="[]")
    assert (await store.get_outbound("o1")).state == "queued"


async def test_leases_are_exclusive_until_they_run_out(store: Store) -> None:
    for i in range(5):
        await store.enqueue(outbound(f"o{i}"))
    now = time.time()
    a = await store.claim_due(now, "w1", 30, 3)
    b = await store.claim_due(now, "w2", 30, 10)
    assert len(a) == 3 and len(b) == 2
    assert not {r.message_id for r in a} & {r.message_id for r in b}
    assert await store.claim_due(now, "w3", 30, 10) == []
    later = await store.claim_due(now + 31, "w3", 30, 10)  # w1 and w2 "crashed"
    assert len(later) == 5 and all(r.attempts == 2 for r in later)


async def test_retry_waits_and_expiry_makes_a_dead_letter(store: Store) -> None:
    await store.enqueue(outbound())
    now = time.time()
    await store.claim_due(now, "w1", 30, 1)
    await store.mark_retry("o1", "w1", now + 100, "connection refused", now)
    assert await store.claim_due(now + 50, "w1", 30, 1) == []
    assert len(await store.claim_due(now + 101, "w1", 30, 1)) == 1
    await store.mark_retry("o1", "w1", now + 200, "HTTP 503", now)
    assert await store.expire_due(now + 7200) == ["o1"]
    row = await store.get_outbound("o1")
    assert row.state == "expired" and "HTTP 503" in (row.last_error or "")


async def test_claim_skips_excluded_partners(store: Store) -> None:
    await store.enqueue(outbound("a", "352"))
    await store.enqueue(outbound("b", "350"))
    got = await store.claim_due(time.time(), "w", 30, 10, exclude=["352"])
    assert [r.message_id for r in got] == ["b"]
    got = await store.claim_due(time.time(), "w", 30, 10, only="352")
    assert [r.message_id for r in got] == ["a"]


async def test_enqueue_is_atomic_with_the_change_that_caused_it(store: Store) -> None:
    async def boom(tx) -> None:
        raise RuntimeError("the causing change failed")

    with pytest.raises(RuntimeError):
        await store.enqueue(outbound(), also=boom)
    assert await store.get_outbound("o1") is None


async def test_outbox_listing_is_keyset_paginated(store: Store) -> None:
    for i in range(7):
        await store.enqueue(outbound(f"o{i}"))
    page1 = await store.list_outbound(limit=4)
    page2 = await store.list_outbound(limit=4, before=(page1[-1].created_at,
                                                       page1[-1].message_id))
    ids = [r.message_id for r in page1 + page2]
    assert len(ids) == 7 == len(set(ids))


async def test_data_survives_reopen(tmp_path) -> None:
    s = await open_store(str(tmp_path / "t.db"))
    await s.accept_inbound(inbound())
    await s.close()
    s = await open_store(str(tmp_path / "t.db"))
    assert (await s.get_inbound("m1")) is not None
    await s.close()
