"""The outbound sender: claims due messages from the outbox, POSTs them, checks the receipt.

- Delivered only when a signed Receipt from the recipient verifies and names this message's
  id and the SHA-256 of the exact bytes sent (non-repudiation of receipt).
- Connection errors, timeouts, 5xx and unverifiable answers are retried with exponential
  backoff and full jitter, keeping the same message id, until the message expires.
- A signed Error from the recipient fails the message with its code; it is not retried.
- A per-partner circuit breaker stops hammering a partner that is down: after
  ``breaker_threshold`` consecutive failures the partner is skipped for
  ``breaker_cooldown_seconds``, then one message is tried (half-open).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.core.httpio import read_limited
from gateway.core.logsafe import failure
from gateway.crypto import dsig
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import OutboundRow

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 256 * 1024


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


class Retry(Exception):
    """A delivery attempt that should be tried again later."""


class PartnerRejected(Exception):
    """The partner answered with a signed Error: the message fails with the partner's code."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


class Sender:
    def __init__(self, gw: Gateway, session: aiohttp.ClientSession,
                 rng: random.Random | None = None,
                 outcomes: Callable[[str], None] | None = None,
                 depth: Callable[[dict[str, int]], None] | None = None) -> None:
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
        self._swept = 0.0

    def breaker(self, party: str) -> Breaker:
        return self.breakers.setdefault(party, Breaker())

    async def run(self) -> None:
        sem = asyncio.Semaphore(self.s.sender_concurrency)
        while True:
            try:
                sent = await self.tick(sem)
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

    async def tick(self, sem: asyncio.Semaphore) -> int:
        now = time.time()
        if now - self._swept >= self.EXPIRY_SWEEP_SECONDS:
            self._swept = now
            for mid in await self.gw.store.expire_due(now):
                log.warning("expired message=%s", mid)
                self.outcomes("expired")
            if self.depth is not None:
                self.depth(await self.gw.store.counts())
        # Claim in batches: when every slot is busy, wait until a quarter are free, so one
        # claim (one commit) serves several deliveries.
        want = max(1, self.s.sender_concurrency // 4)
        while self.s.sender_concurrency - len(self.in_flight) < want:
            await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
        free = self.s.sender_concurrency - len(self.in_flight)
        states = {p: b.state(now, self.s.breaker_threshold) for p, b in self.breakers.items()}
        blocked = [p for p, st in states.items() if st != "closed"]
        rows = await self.gw.store.claim_due(now, self.owner, self.s.lease_seconds, free,
                                             exclude=blocked)
        for party in (p for p, st in states.items() if st == "half-open"):
            br = self.breakers[party]
            if br.trial:
                continue  # one trial at a time
            trial = await self.gw.store.claim_due(now, self.owner, self.s.lease_seconds, 1,
                                                  only=party)
            br.trial = bool(trial)
            rows += trial
        for row in rows:
            task = asyncio.create_task(self._deliver(sem, row))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        return len(rows)

    async def drain(self) -> None:
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def _deliver(self, sem: asyncio.Semaphore, row: OutboundRow) -> None:
        async with sem:  # the claimed row carries the signed body
            now = time.time()
            br = self.breaker(row.recipient)
            try:
                receipt = await self.attempt(row)
            except PartnerRejected as exc:  # a signed Error from the partner: final
                br.failures = 0
                self.outcomes("failed")
                await self.gw.store.mark_failed(row.message_id, exc.code, exc.text, time.time())
                log.warning("failed message=%s to=%s code=%s", row.message_id, row.recipient,
                            exc.code)
            except Retry as exc:
                self.outcomes("retry")
                br.failures += 1
                if br.failures >= self.s.breaker_threshold:
                    br.open_until = now + self.s.breaker_cooldown_seconds
                    log.warning("circuit open for partner %s after %d failures", row.recipient,
                                br.failures)
                delay = backoff(row.attempts, self.s.retry_base_seconds,
                                self.s.retry_max_seconds, self.rng)
                await self.gw.store.mark_retry(row.message_id, self.owner, time.time() + delay,
                                               str(exc), time.time())
                log.info("retry message=%s to=%s attempt=%d in=%.1fs reason=%s",
                         row.message_id, row.recipient, row.attempts, delay, exc)
            else:
                br.failures = 0
                self.outcomes("delivered")
                await self.gw.store.mark_delivered(row.message_id, receipt, time.time())
                log.info("delivered message=%s to=%s attempt=%d", row.message_id,
                         row.recipient, row.attempts)
            finally:
                br.trial = False  # the attempt is over, whatever its outcome

    async def attempt(self, row: OutboundRow) -> bytes:
        """One POST. Returns the verified receipt; raises Retry or (final) PartnerRejected."""
        status, message, answer = await exchange(self.gw, self.session, row)
        if not isinstance(message, m.Receipt):
            raise Retry(f"HTTP {status} answered with {message.header.message_type.value}")
        return answer


async def exchange(gw: Gateway, session: aiohttp.ClientSession, row: OutboundRow
                   ) -> tuple[int, m.Message, bytes]:
    """POST one signed message (with its CTF payload, if any) and verify the signed answer.

    Returns (HTTP status, the verified answer, its bytes). Raises Retry when the attempt
    should be repeated (the network, a 5xx, an answer that does not verify) and
    PartnerRejected when the partner refused the message with a signed Error."""
    s = gw.settings
    try:
        url = s.transfers_endpoint(row.recipient) if row.payload_path else \
            s.endpoint(row.recipient)
    except GatewayError as exc:
        raise Retry(f"no usable endpoint for {row.recipient}: {exc.code}") from exc
    try:
        timeout = aiohttp.ClientTimeout(total=s.send_timeout_seconds)
        if row.payload_path:
            payload = await asyncio.to_thread(open, row.payload_path, "rb")
            with payload:
                form = aiohttp.MultipartWriter("form-data")
                form.append(row.body, {"Content-Type": "application/xml"}
                            ).set_content_disposition("form-data", name="envelope")
                form.append(payload, {"Content-Type": "application/xml"}
                            ).set_content_disposition("form-data", name="payload",
                                                      filename="ctf.xml")
                async with session.post(url, data=form, timeout=timeout) as resp:
                    answer = await read_limited(resp.content, MAX_ANSWER_BYTES)
                    status = resp.status
        else:
            async with session.post(url, data=row.body, timeout=timeout,
                                    headers={"Content-Type": "application/xml"}) as resp:
                answer = await read_limited(resp.content, MAX_ANSWER_BYTES)
                status = resp.status
    except FileNotFoundError:
        raise Retry(f"the CTF file {row.payload_path} is missing") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise Retry(f"connection: {type(exc).__name__}") from None
    if len(answer) > MAX_ANSWER_BYTES:
        raise Retry(f"answer over {MAX_ANSWER_BYTES} bytes")
    if status >= 500 or status == 429:
        raise Retry(f"HTTP {status}")
    try:
        message = check_answer(gw, answer, row)
    except GatewayError as exc:
        raise Retry(f"HTTP {status} with an answer that did not verify: {exc.code}") from None
    if isinstance(message, m.Error):
        if status < 400:
            raise Retry("a signed Error with a success status")
        raise PartnerRejected(message.code, message.text[:500])
    if status != 200:
        raise Retry(f"HTTP {status} with a {message.header.message_type.value}")
    return status, message, answer


def check_answer(gw: Gateway, answer: bytes, row: OutboundRow) -> m.Message:
    """Verify a Receipt, Error or LpdResult from the recipient about exactly this message."""
    s = gw.settings
    root = xmlsafe.parse(answer, max_depth=s.max_depth, max_elements=20_000)
    verified = dsig.verify(root, answer, gw.trust)
    schemas.validate(verified.signed)
    message = mx.parse(verified.signed)
    h = message.header
    if verified.party != row.recipient or h.sender != row.recipient:
        raise GatewayError("receipt-invalid", "signed by another party")
    if h.recipient != gw.party:
        raise GatewayError("receipt-invalid", "addressed to another party")
    if isinstance(message, m.Receipt):
        digest = hashlib.sha256(row.body).hexdigest()
        if message.received_message_id != row.message_id or message.digest_sha256 != digest:
            raise GatewayError("receipt-invalid", "id or digest does not match")
        return message
    if isinstance(message, m.Error):
        if message.about_message_id not in (row.message_id, None):
            raise GatewayError("receipt-invalid", "error about another message")
        return message
    if isinstance(message, m.LpdResult) and message.search_id == row.message_id:
        return message
    raise GatewayError("receipt-invalid", f"unexpected {h.message_type.value}")
