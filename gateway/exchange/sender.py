"""The outbound sender: claims due messages from the outbox, POSTs them, checks the receipt.

- Delivered only when a signed Receipt from the recipient verifies and names this message's
  id and the SHA-256 of the exact bytes sent (non-repudiation of receipt).
- Connection errors, timeouts, 5xx and unverifiable answers are retried with exponential
  backoff and full jitter, keeping the same message id, until the message expires.
- A signed Error from the recipient with a 4xx status fails the message with its code; it is
  not retried (a 429 or 5xx one, and any unsigned Error, is retried), nor is one with a code
  about that message alone (``client.FINAL_CODES``: ``ctf-destination-unreachable``), which
  never counts against the partner's circuit breaker.
- A per-partner circuit breaker stops hammering a partner that is down: after
  ``breaker_threshold`` consecutive failures the partner is skipped for
  ``breaker_cooldown_seconds``, then one message is tried (half-open).

Every time is read from the gateway's clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from gateway.core.logsafe import failure
from gateway.exchange.client import FINAL_CODES, PartnerRejected, Retry, post
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.store import OutboundRow, OutboxState

log = logging.getLogger(__name__)


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter (AWS architecture blog, "Exponential Backoff And Jitter")."""
    return rng.uniform(0, min(cap, base * (2 ** max(0, attempt - 1))))


@dataclass
class Breaker:
    failures: int = 0
    open_until: float = 0.0
    trial: bool = False  # a half-open trial is in flight

    def state(self, now: float, threshold: int) -> str:
        if self.failures < threshold:
            return "closed"
        return "open" if now < self.open_until else "half-open"


class Sender:
    def __init__(self, gw: Gateway, session: aiohttp.ClientSession,
                 rng: random.Random | None = None,
                 outcomes: Callable[[str], None] | None = None,
                 depth: Callable[[dict[OutboxState, int]], None] | None = None) -> None:
        """``outcomes(kind)`` is told of each attempt's outcome (delivered, retry, failed,
        expired) and ``depth(counts)`` of the outbox by state every sweep: the metrics."""
        self.gw = gw
        self.outcomes = outcomes or (lambda kind: None)
        self.depth = depth
        self.s = gw.settings
        self.session = session
        self.owner = f"{gw.party}-{uuid.uuid4().hex[:8]}"
        self.rng = rng or random.Random()
        self.breakers: dict[str, Breaker] = {}
        self.wake = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(self.s.sender_concurrency)
        self._swept = float("-inf")
        self.clock = gw.clock
        # Verified receipts waiting to be stored, and the task storing them (``record``).
        self._receipts: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None

    def breaker(self, party: str) -> Breaker:
        return self.breakers.setdefault(party, Breaker())

    async def run(self) -> None:
        while True:
            try:
                sent = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("sender tick failed; retrying: %s", failure(exc))
                sent = 0
            if sent == 0:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.s.sender_poll_seconds)
                except TimeoutError:
                    pass

    EXPIRY_SWEEP_SECONDS = 5.0
    # The store's CPU per message (claim, receipts, commits) on SQLite: 0.32 ms in claims of
    # 4 (a quarter of the default 16 slots), 0.20 ms in claims of 8, 0.18 in claims of 16.
    CLAIM_AT_LEAST = 8
    CLAIM_BATCH_WAIT_SECONDS = 0.05

    async def tick(self) -> int:
        """One sweep: expire what is overdue, then claim and start due deliveries."""
        now = self.clock.time()
        if now - self._swept >= self.EXPIRY_SWEEP_SECONDS:
            self._swept = now
            for mid in await self.gw.store.outbox.expire_due(now):
                log.warning("expired message=%s", mid)
                self.outcomes("expired")
            if self.depth is not None:
                self.depth(await self.gw.store.outbox.counts())
        # Claim in batches: when every slot is busy, wait until a quarter are free (and at
        # least CLAIM_AT_LEAST, or every slot), so one claim (one commit) serves several
        # deliveries; but once one slot is free, wait at most CLAIM_BATCH_WAIT_SECONDS
        # for more: a few slow deliveries (a partner timing out) must not hold up every
        # other partner's claims.
        want = min(self.s.sender_concurrency,
                   max(self.CLAIM_AT_LEAST, self.s.sender_concurrency // 4))
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while (free := self.s.sender_concurrency - len(self.in_flight)) < want:
            if free and deadline is None:
                deadline = loop.time() + self.CLAIM_BATCH_WAIT_SECONDS
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                break
            await asyncio.wait(self.in_flight, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        now = self.clock.time()  # (the wait may have been long)
        states = {p: b.state(now, self.s.breaker_threshold) for p, b in self.breakers.items()}
        blocked = [p for p, st in states.items() if st != "closed"]
        rows = await self.gw.store.outbox.claim_due(now, self.owner, self.s.lease_seconds, free,
                                             exclude=blocked)
        for party in (p for p, st in states.items() if st == "half-open"):
            br = self.breakers[party]
            if br.trial:
                continue  # one trial at a time
            trial = await self.gw.store.outbox.claim_due(now, self.owner, self.s.lease_seconds, 1,
                                                  only=party)
            br.trial = bool(trial)
            rows += trial
        for row in rows:
            task = asyncio.create_task(self.deliver(row))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        return len(rows)

    async def drain(self) -> None:
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def deliver(self, row: OutboundRow) -> None:
        """Deliver one claimed message: attempt, then record what came of it."""
        async with self.slots:  # the claimed row carries the signed body
            try:
                receipt = await self.attempt(row)
            except PartnerRejected as exc:  # a signed Error from the partner: final
                await self.failed(row, exc)
            except Retry as exc:
                await self.retry(row, exc)
            else:
                await self.delivered(row, receipt)
            finally:
                self.breaker(row.recipient).trial = False  # the attempt is over

    async def attempt(self, row: OutboundRow) -> bytes:
        """One POST. Returns the verified receipt; raises Retry or (final) PartnerRejected."""
        status, message, answer = await post(self.gw, self.session, row)
        if not isinstance(message, m.Receipt):
            raise Retry(f"HTTP {status} answered with {message.header.message_type.value}")
        return answer

    async def delivered(self, row: OutboundRow, receipt: bytes) -> None:
        self.breaker(row.recipient).failures = 0
        self.outcomes("delivered")
        await self.record(row.message_id, receipt)
        log.info("delivered message=%s to=%s attempt=%d", row.message_id, row.recipient,
                 row.attempts)

    async def record(self, message_id: str, receipt: bytes) -> None:
        """Store a verified receipt (``sending -> delivered``); return once it is committed.

        Group commit: the receipts of deliveries that end while a batch is being written
        are written together in the next one, one transaction for all of them (on SQLite
        one store operation instead of one each, on PostgreSQL one transaction instead of
        one per message). Each delivery still waits for its own receipt's commit, so it
        holds its slot, and its lease protects the message, until the receipt is durable:
        if the process dies first, the lease runs out and the message is sent again (the
        receiver answers a resend with its original receipt)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._receipts.append((message_id, receipt, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._write_receipts(), name="receipts")
        await done

    async def _write_receipts(self) -> None:
        batch: list[tuple[str, bytes, asyncio.Future[None]]] = []
        try:
            while self._receipts:
                batch, self._receipts = self._receipts, []
                try:
                    await self.gw.store.outbox.mark_delivered_many(
                        [(mid, receipt) for mid, receipt, _ in batch], self.clock.time())
                except Exception as exc:  # each waiting delivery learns its write failed
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for *_, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            # Cancelled (the sender shutting down): nobody waits for ever. Otherwise a no-op:
            # the last batch is settled and nothing is queued.
            for *_, done in (*batch, *self._receipts):
                done.cancel()
            self._receipts = []

    async def failed(self, row: OutboundRow, exc: PartnerRejected) -> None:
        self.breaker(row.recipient).failures = 0
        self.outcomes("failed")
        await self.gw.store.outbox.mark_failed(row.message_id, exc.code, exc.text,
                                               self.clock.time())
        log.warning("failed message=%s to=%s code=%s", row.message_id, row.recipient, exc.code)

    async def retry(self, row: OutboundRow, exc: Retry) -> None:
        self.outcomes("retry")
        now = self.clock.time()
        br = self.breaker(row.recipient)
        if exc.code in FINAL_CODES:
            # The partner answered, signed, about this message alone (a CTF it cannot pass
            # on): it is up, and one misaddressed CTF must not hold up everything else.
            br.failures = 0
        else:
            br.failures += 1
        if br.failures >= self.s.breaker_threshold:
            br.open_until = now + self.s.breaker_cooldown_seconds
            log.warning("circuit open for partner %s after %d failures", row.recipient,
                        br.failures)
        delay = backoff(row.attempts, self.s.retry_base_seconds, self.s.retry_max_seconds,
                        self.rng)
        await self.gw.store.outbox.mark_retry(row.message_id, self.owner, now + delay, str(exc),
                                              now)
        log.info("retry message=%s to=%s attempt=%d in=%.1fs reason=%s", row.message_id,
                 row.recipient, row.attempts, delay, exc)
