"""The partner client: POST one signed message (with its CTF, for a Transfer) and verify
the signed answer. Used by the sender, by ``ctf post`` and by the LPD relay.

The answer is accepted only when it verifies against the partner directory, comes from the
message's recipient, is addressed to this gateway and is about exactly this message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import aiohttp

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.core.httpio import read_limited
from gateway.crypto import dsig
from gateway.exchange.gateway import Gateway
from gateway.exchange.inbound import check_fresh
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import OutboundRow
from gateway.store.payloads import Opened

MAX_ANSWER_BYTES = 256 * 1024
CODE_RE = re.compile(r"[a-z0-9-]{1,64}")
# Refusals of this one message, never retried whatever the status: the partner is up and
# answered, and sending the same message again cannot succeed (a gateway before this
# change answered ctf-destination-unreachable with a 503).
FINAL_CODES = frozenset({"ctf-destination-unreachable"})


class _SizedStream(aiohttp.payload.AsyncIterablePayload):
    """A stored CTF as a multipart part with its size known, so the request keeps a
    Content-Length (as a file part has) rather than falling back to chunked encoding."""

    def __init__(self, opened: Opened) -> None:
        super().__init__(aiter(opened), content_type="application/xml")
        self._size = opened.size


class Retry(Exception):
    """A delivery attempt that should be tried again later. ``code`` is the partner's, when
    it answered with a verified Error that asks for a retry (a 429 or a 5xx); a code in
    ``FINAL_CODES`` is about this message alone and never counts against the partner's
    circuit breaker (``Sender.retry``)."""

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.code = code


class PartnerRejected(Exception):
    """The partner answered with a signed Error: the message fails with the partner's code."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


async def post(gw: Gateway, session: aiohttp.ClientSession, row: OutboundRow
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
            # The stored CTF streams from wherever the store keeps it (a file, or rows in
            # PostgreSQL written by any host), one chunk in memory at a time.
            opened = await gw.store.payloads.open(row.payload_path)
            try:
                form = aiohttp.MultipartWriter("form-data")
                form.append(row.body, {"Content-Type": "application/xml"}
                            ).set_content_disposition("form-data", name="envelope")
                form.append_payload(_SizedStream(opened)).set_content_disposition(
                    "form-data", name="payload", filename="ctf.xml")
                async with session.post(url, data=form, timeout=timeout,
                                        allow_redirects=False) as resp:
                    answer = await read_limited(resp.content, MAX_ANSWER_BYTES)
                    status = resp.status
            finally:
                await opened.aclose()
        else:
            # Never follow a redirect: it would send a child's data to another host.
            async with session.post(url, data=row.body, timeout=timeout,
                                    headers={"Content-Type": "application/xml"},
                                    allow_redirects=False) as resp:
                answer = await read_limited(resp.content, MAX_ANSWER_BYTES)
                status = resp.status
    except GatewayError as exc:
        if exc.code != "ctf-payload-missing":
            raise
        raise Retry(f"the stored CTF is missing ({exc.detail})") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise Retry(f"connection: {type(exc).__name__}") from None
    if len(answer) > MAX_ANSWER_BYTES:
        raise Retry(f"answer over {MAX_ANSWER_BYTES} bytes")
    if 300 <= status < 400:
        raise Retry(f"HTTP {status}: a redirect, which is never followed")
    transient = status >= 500 or status == 429
    try:
        message = check_answer(gw, answer, row)
    except GatewayError as exc:
        raise Retry(f"HTTP {status}; the answer did not verify ({exc.code})"
                    f"{_unsigned_code(gw, answer)}") from None
    if isinstance(message, m.Error):
        if transient and message.code not in FINAL_CODES:
            raise Retry(f"HTTP {status}: {message.code}", code=message.code)
        if status < 400:
            raise Retry("a signed Error with a success status")
        raise PartnerRejected(message.code, message.text[:500])
    if status != 200:
        raise Retry(f"HTTP {status} with a {message.header.message_type.value}")
    return status, message, answer


def _unsigned_code(gw: Gateway, answer: bytes) -> str:
    """The code of an unsigned Error, for the operator's information only (never trusted:
    anyone on the path could have written it)."""
    try:
        root = xmlsafe.parse(answer, max_depth=8, max_elements=64)
    except GatewayError:
        return ""
    code = root.findtext(f"{{{m.NS}}}Code") or ""
    return f"; unsigned Error {code}" if CODE_RE.fullmatch(code) else ""


def check_answer(gw: Gateway, answer: bytes, row: OutboundRow) -> m.Message:
    """Verify a Receipt, Error or LpdResult from the recipient about exactly this message:
    signed by the recipient, addressed to us, in reply to this message id, and fresh (made
    after the message and inside the replay window), so that an answer harvested earlier,
    or given to another message, can never settle this one."""
    s = gw.settings
    now = gw.clock.now()
    root = xmlsafe.parse(answer, max_depth=s.max_depth, max_elements=20_000)
    verified = dsig.verify(root, answer, gw.trust, now)
    schemas.validate(verified.signed)
    message = mx.parse(verified.signed)
    h = message.header
    if verified.party != row.recipient or h.sender != row.recipient:
        raise GatewayError("receipt-invalid", "signed by another party")
    if h.recipient != gw.party:
        raise GatewayError("receipt-invalid", "addressed to another party")
    if h.in_reply_to != row.message_id:
        raise GatewayError("receipt-invalid", "an answer to another message")
    sent = dt.datetime.fromtimestamp(row.created_at, dt.UTC)
    skew = dt.timedelta(seconds=s.clock_skew_seconds)
    try:
        check_fresh(h.created_at, now, s.replay_window_seconds, s.clock_skew_seconds)
    except GatewayError as exc:
        raise GatewayError("receipt-invalid", f"stale answer ({exc.code})") from None
    if h.created_at < sent - skew:
        raise GatewayError("receipt-invalid", "the answer is older than the message")
    if isinstance(message, m.Receipt):
        digest = hashlib.sha256(row.body).hexdigest()
        if message.received_message_id != row.message_id or message.digest_sha256 != digest:
            raise GatewayError("receipt-invalid", "id or digest does not match")
        return message
    if isinstance(message, m.Error):
        if message.about_message_id != row.message_id:
            raise GatewayError("receipt-invalid", "an Error about another message")
        return message
    if isinstance(message, m.LpdResult) and message.search_id == row.message_id:
        return message
    raise GatewayError("receipt-invalid", f"unexpected {h.message_type.value}")
