"""The partner client: POST one signed message (with its CTF, for a Transfer) and verify
the signed answer. Used by the sender, by ``ctf post`` and by the LPD relay.

The answer is accepted only when it verifies against the partner directory, comes from the
message's recipient, is addressed to this gateway and is about exactly this message.
"""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.core.httpio import read_limited
from gateway.crypto import dsig
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import OutboundRow

MAX_ANSWER_BYTES = 256 * 1024


class Retry(Exception):
    """A delivery attempt that should be tried again later."""


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
