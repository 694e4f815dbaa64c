"""The sender against real receivers (in-process aiohttp servers, real crypto, real SQLite).

The sender's clock is a ``ManualClock``: retries, the circuit breaker's cooldown and expiry
are reached by moving it, never by sleeping."""

from __future__ import annotations

import asyncio
import random
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.exchange.sender import Sender, backoff
from gateway.messages import model as m
from gateway.web.app import create_app
from tests.conftest import enquiry, free_port, make_home, pair


async def start_receiver(home, **kw) -> TestServer:
    server = TestServer(create_app(home.settings(**kw), background=False), port=home.port)
    await server.start_server()
    return server


async def queue_enquiry(gw: Gateway, to: str = "352") -> str:
    msg = enquiry()
    msg = m.Enquiry(**{**msg.__dict__, "header": gw.header(m.MessageType.ENQUIRY, to)})
    await queue(gw, msg)
    return msg.header.message_id


@pytest.fixture
async def world(tmp_path):
    a, b = pair(tmp_path, extra="retry_base_seconds = 0.01\nretry_max_seconds = 0.05\n"
                               "breaker_threshold = 3\nbreaker_cooldown_seconds = 1.0\n")
    clock = ManualClock(time.time())  # the receiver checks freshness against real time
    gw = await Gateway.open(a.settings(), clock)
    session = aiohttp.ClientSession()
    sender = Sender(gw, session, rng=random.Random(1))
    yield a, b, gw, sender, clock
    await sender.drain()
    await session.close()
    await gw.close()


async def run_until(sender: Sender, gw: Gateway, clock: ManualClock, mid: str,
                    states: tuple[str, ...], sweeps: int = 20) -> m.Message:
    """Sweep until the message reaches one of ``states``, moving the clock a second (past
    any retry delay these tests configure) between sweeps."""
    for _ in range(sweeps):
        await sender.tick()
        await sender.drain()
        row = await gw.store.outbox.get(mid)
        if row.state in states:
            return row
        clock.advance(1.0)
    raise AssertionError(f"{mid} stuck in {row.state}: {row.last_error}")


async def test_delivery_with_a_verified_receipt(world) -> None:
    a, b, gw, sender, clock = world
    server = await start_receiver(b)
    try:
        mid = await queue_enquiry(gw)
        row = await run_until(sender, gw, clock, mid, ("delivered",))
        assert row.attempts == 1
        full = await gw.store.outbox.get(mid, with_body=True)
        assert b"<Receipt" in full.receipt and mid.encode() in full.receipt
    finally:
        await server.close()


async def test_signed_error_fails_the_message_without_retry(world) -> None:
    a, b, gw, sender, clock = world
    server = await start_receiver(b, replay_window_seconds=3600)
    try:
        now = clock.time()
        clock.set(now - 7200)  # the enquiry is made two hours ago: too old for 352
        mid = await queue_enquiry(gw)
        clock.set(now)
        row = await run_until(sender, gw, clock, mid, ("failed",))
        assert row.error_code == "message-too-old" and row.attempts == 1
    finally:
        await server.close()


async def test_an_unsigned_error_is_retried_and_shown_not_trusted(world) -> None:
    a, b, gw, sender, clock = world
    (b.path / "keys/partners/355.pem").unlink()  # 352 no longer trusts 355
    server = await start_receiver(b)
    try:
        mid = await queue_enquiry(gw)
        for _ in range(2):
            await sender.tick()
            await sender.drain()
            clock.advance(0.06)
        row = await gw.store.outbox.get(mid)
        # Nobody can be held to an unsigned Error, so it fails nothing: the message is
        # retried (until the partner trusts us again, or it expires) and the code is shown.
        assert row.state == "sending" and row.attempts == 2
        assert "unsigned Error certificate-untrusted" in row.last_error
    finally:
        await server.close()


async def test_partner_down_is_retried_then_delivered(world) -> None:
    a, b, gw, sender, clock = world
    mid = await queue_enquiry(gw)
    for _ in range(2):
        await sender.tick()
        await sender.drain()
        clock.advance(0.06)  # past the largest retry delay (0.05 s)
    row = await gw.store.outbox.get(mid)
    assert row.state == "sending" and row.attempts >= 2 and "connection" in row.last_error
    server = await start_receiver(b)
    try:
        row = await run_until(sender, gw, clock, mid, ("delivered",))
        assert row.message_id == mid  # same id on every attempt
    finally:
        await server.close()


async def test_5xx_and_bad_receipts_are_retried_and_open_the_circuit(world) -> None:
    a, b, gw, sender, clock = world
    hits = []

    async def broken(request: web.Request) -> web.Response:
        hits.append(request.path)
        if len(hits) % 2:
            return web.Response(status=503)
        return web.Response(status=200, body=b"<Receipt>not signed</Receipt>")

    app = web.Application()
    app.router.add_post("/v1/messages", broken)
    server = TestServer(app, port=b.port)
    await server.start_server()
    try:
        mid = await queue_enquiry(gw)
        for _ in range(10):
            await sender.tick()
            await sender.drain()
            clock.advance(0.06)  # past the largest retry delay, within the cooldown
        assert sender.breaker("352").state(clock.time(), 3) == "open"
        n = len(hits)
        assert n == 3  # the circuit stopped the hammering
        row = await gw.store.outbox.get(mid)
        assert row.state == "sending"
        clock.advance(1.05)  # cooldown over: half-open lets one try through
        await sender.tick()
        await sender.drain()
        assert len(hits) == n + 1
    finally:
        await server.close()


async def test_a_refusal_of_one_message_is_final_even_as_a_503(world, monkeypatch) -> None:
    """ctf-destination-unreachable is about one CTF (no endpoint for its destination), not
    the partner: final, whatever the status (a gateway before the second hub review
    answered it with a 503), and never counted against the partner's circuit breaker."""
    from gateway.core import errors
    from gateway.exchange.inbound import Inbound

    a, b, gw, sender, clock = world
    monkeypatch.setitem(errors.ERRORS, "ctf-destination-unreachable",
                        (503, errors.ERRORS["ctf-destination-unreachable"][1]))

    async def refuse(self, message, body, arrival):
        raise GatewayError("ctf-destination-unreachable", "no endpoint for 381")

    monkeypatch.setattr(Inbound, "accept", refuse)
    server = await start_receiver(b)
    try:
        mids = [await queue_enquiry(gw) for _ in range(4)]  # over breaker_threshold (3)
        for mid in mids:
            row = await run_until(sender, gw, clock, mid, ("failed",))
            assert (row.error_code, row.attempts) == ("ctf-destination-unreachable", 1)
        assert sender.breaker("352").state(clock.time(), 3) == "closed"
    finally:
        await server.close()


async def test_expired_message_becomes_a_dead_letter(tmp_path) -> None:
    a = make_home(tmp_path, "355", {"352": f"http://127.0.0.1:{free_port()}/v1/messages"},
                  extra="outbound_expiry_seconds = 0\n")
    clock = ManualClock(time.time())
    gw = await Gateway.open(a.settings(), clock)
    try:
        async with aiohttp.ClientSession() as session:
            sender = Sender(gw, session)
            mid = await queue_enquiry(gw)
            row = await run_until(sender, gw, clock, mid, ("expired",))
            assert "no receipt before expiry" in row.last_error
    finally:
        await gw.close()


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(3)
    samples = [backoff(n, 1.0, 60.0, rng) for n in range(1, 12) for _ in range(50)]
    assert all(0 <= s <= 60 for s in samples)
    late = [backoff(10, 1.0, 60.0, rng) for _ in range(200)]
    assert max(late) > 40 and min(late) < 20  # spread over the whole window


async def test_a_redirect_is_never_followed(world) -> None:
    """Security review item 11: a 307 would re-POST a child's data to another host."""
    a, b, gw, sender, clock = world
    elsewhere: list[str] = []

    async def other_host(request: web.Request) -> web.Response:
        elsewhere.append(request.path)
        return web.Response(status=200)

    other = web.Application()
    other.router.add_post("/steal", other_host)
    thief = TestServer(other, port=free_port())
    await thief.start_server()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(thief.make_url("/steal")))

    app = web.Application()
    app.router.add_post("/v1/messages", redirect)
    server = TestServer(app, port=b.port)
    await server.start_server()
    try:
        mid = await queue_enquiry(gw)
        await sender.tick()
        await sender.drain()
        row = await gw.store.outbox.get(mid)
        assert elsewhere == []
        assert row.state == "sending" and "redirect" in row.last_error
    finally:
        await server.close()
        await thief.close()


async def _claimed(gw: Gateway, clock: ManualClock, n: int) -> list[str]:
    mids = [await queue_enquiry(gw) for _ in range(n)]
    rows = await gw.store.outbox.claim_due(clock.time(), "test", 60, n)
    assert sorted(r.message_id for r in rows) == sorted(mids)
    return mids


async def test_receipts_that_arrive_together_are_stored_in_one_write(world) -> None:
    """Group commit: deliveries that end while a write is pending share the next one."""
    a, b, gw, sender, clock = world
    mids = await _claimed(gw, clock, 5)
    calls: list[list[str]] = []
    write = gw.store.outbox.mark_delivered_many

    async def counted(receipts, now):  # type: ignore[no-untyped-def]
        calls.append([mid for mid, _ in receipts])
        return await write(receipts, now)

    gw.store.outbox.mark_delivered_many = counted  # type: ignore[method-assign]
    await asyncio.gather(*(sender.record(mid, b"<Receipt/>") for mid in mids))
    assert calls == [mids]
    assert {(await gw.store.outbox.get(mid)).state for mid in mids} == {"delivered"}


async def test_a_failed_receipt_write_fails_each_waiting_delivery_then_recovers(world) -> None:
    a, b, gw, sender, clock = world
    mids = await _claimed(gw, clock, 4)
    write = gw.store.outbox.mark_delivered_many
    failures = [GatewayError("store-unavailable", "test")]

    async def flaky(receipts, now):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return await write(receipts, now)

    gw.store.outbox.mark_delivered_many = flaky  # type: ignore[method-assign]
    results = await asyncio.gather(*(sender.record(mid, b"<Receipt/>") for mid in mids[:3]),
                                   return_exceptions=True)
    assert [getattr(r, "code", r) for r in results] == ["store-unavailable"] * 3
    assert {(await gw.store.outbox.get(mid)).state for mid in mids[:3]} == {"sending"}
    await sender.record(mids[3], b"<Receipt/>")  # the next batch is written
    assert (await gw.store.outbox.get(mids[3])).state == "delivered"


async def test_a_cancelled_receipt_writer_leaves_no_delivery_waiting(world) -> None:
    """Shutting down mid-write: the deliveries waiting on it end (their leases bring the
    messages back) instead of waiting for ever."""
    a, b, gw, sender, clock = world
    mids = await _claimed(gw, clock, 3)
    never = asyncio.Event()

    async def stuck(receipts, now):  # type: ignore[no-untyped-def]
        await never.wait()

    gw.store.outbox.mark_delivered_many = stuck  # type: ignore[method-assign]
    waiting = [asyncio.create_task(sender.record(mid, b"<Receipt/>")) for mid in mids]
    for _ in range(100):  # until the writer holds the batch
        await asyncio.sleep(0)
    assert sender._recorder is not None and sender._receipts == []
    sender._recorder.cancel()
    done, pending = await asyncio.wait(waiting, timeout=10)
    assert not pending and all(t.cancelled() for t in done)


async def test_every_delivery_outcome_is_counted_from_the_start(aiohttp_client, tmp_path) -> None:
    """The sender's outcome counters are made once, at start-up (not looked up on every
    delivery), so /metrics shows each outcome from the start, at zero."""
    a, _ = pair(tmp_path)
    client = await aiohttp_client(create_app(a.settings(), spool=False))
    resp = await client.get("/metrics")
    text = await resp.text()
    for outcome in ("delivered", "retry", "failed", "expired"):
        assert f'cme_outbound_attempts_total{{outcome="{outcome}"}} 0.0' in text


async def test_a_busy_sender_claims_at_least_eight_at_a_time(world) -> None:
    """With every slot busy the sender waits for a quarter of its slots, and at least 8, to
    be free before it claims: claims of 4 (a quarter of the default 16) cost the store half
    as much again per message as claims of 8."""
    a, b, gw, sender, clock = world
    assert sender.s.sender_concurrency == 16
    sender.CLAIM_BATCH_WAIT_SECONDS = 60.0  # (the bounded wait is the next test's)
    for _ in range(12):
        await queue_enquiry(gw)
    sender._swept = clock.time()  # no expiry sweep in this tick: straight to the claim
    gates = [asyncio.Event() for _ in range(10)]
    busy = {asyncio.create_task(g.wait()) for g in gates}
    for task in busy:  # 10 deliveries in flight, 6 slots free
        sender.in_flight.add(task)
        task.add_done_callback(sender.in_flight.discard)
    tick = asyncio.create_task(sender.tick())
    try:
        for _ in range(50):
            await asyncio.sleep(0)
        assert not tick.done()  # 6 free: it waits
        gates[0].set()
        gates[1].set()
        assert await asyncio.wait_for(tick, 30) == 8
    finally:
        for g in gates:
            g.set()


@pytest.mark.parametrize(("concurrency", "slow"), [(4, 1), (8, 1), (16, 9)])
async def test_a_few_slow_deliveries_do_not_stop_every_other_claim(
        tmp_path, concurrency: int, slow: int) -> None:  # type: ignore[no-untyped-def]
    """Review of the outbound pass: with claims in batches of at least 8, one partner timing
    out (30 s a delivery) held up every other partner's claims until it was done."""
    a, _ = pair(tmp_path, extra=f"sender_concurrency = {concurrency}\n")
    clock = ManualClock(time.time())
    gw = await Gateway.open(a.settings(), clock)
    session = aiohttp.ClientSession()
    sender = Sender(gw, session, rng=random.Random(1))
    gate = asyncio.Event()
    try:
        for _ in range(concurrency - slow):
            await queue_enquiry(gw)
        sender._swept = clock.time()
        for _ in range(slow):  # slow deliveries (a partner timing out)
            task = asyncio.create_task(gate.wait())
            sender.in_flight.add(task)
            task.add_done_callback(sender.in_flight.discard)
        claimed = await asyncio.wait_for(asyncio.shield(sender.tick()), 5)
        assert claimed == concurrency - slow
    finally:
        gate.set()
        await sender.drain()
        await session.close()
        await gw.close()
