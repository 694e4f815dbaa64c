"""The partner endpoints: ``POST /v1/messages`` (signed XML in, signed Receipt out) and
``POST /v1/transfers`` (a signed Transfer envelope and the CTF beside it, multipart).

Refusals are raised as GatewayError; the error middleware (``errors.py``) answers them with
an Error (signed only when the request's signature verified).

For ``/v1/transfers`` part ``envelope`` (the signed XML, at most 256 KiB) must come first,
then part ``payload`` (the CTF, streamed to a temporary file while it is hashed and counted,
never held in memory; at most ``max_ctf_bytes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam

from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.core.httpio import read_limited
from gateway.exchange.inbound import peer_of
from gateway.hub.transfers import check_envelope, receive_transfer
from gateway.web.keys import GATEWAY, INBOUND, METRICS, SENDER

routes = web.RouteTableDef()
XML = "application/xml"
MAX_ENVELOPE = 256 * 1024
CHUNK = 1 << 16


async def read_body(request: web.Request, limit: int, seconds: float) -> bytes:
    """The body (or ``limit + 1`` bytes of it), if it arrives within ``seconds``."""
    content = request.content
    if content.is_eof():
        # All of it has arrived (a message's body usually comes with its head): taken as it
        # is, without a deadline or a wait (a tenth of aiohttp's cost of a request, here).
        return content.read_nowait(limit + 1)
    try:
        async with asyncio.timeout(seconds):
            return await read_limited(request.content, limit)
    except TimeoutError:
        raise GatewayError("request-timeout", f"body not received in {seconds:g} s") from None


def xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=XML, charset="utf-8")


@routes.post("/v1/messages")
async def post_message(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    metrics = request.app[METRICS]
    limit = gw.settings.max_body_bytes
    with metrics.latency.time():
        if request.content_length is not None and request.content_length > limit:
            raise GatewayError("body-too-large", f"{request.content_length} bytes")
        body = await read_body(request, limit, gw.settings.body_timeout_seconds)
        accepted = await request.app[INBOUND].receive(body)
    metrics.accepted.labels(accepted.message.header.message_type.value).inc()
    sender = request.app.get(SENDER)
    if sender is not None and not accepted.duplicate:
        sender.wake.set()
    return xml(accepted.receipt)


async def _part(reader: object, name: str) -> BodyPartReader:
    # aiohttp only warns of a malformed Content-Disposition (and reads no name from it): make
    # it the sender's error, the same whatever the warnings filter.
    with warnings.catch_warnings():
        warnings.simplefilter("error", BadContentDispositionHeader)
        warnings.simplefilter("error", BadContentDispositionParam)
        try:
            part = await reader.next()  # type: ignore[attr-defined]
            named = part.name if isinstance(part, BodyPartReader) else None
        except (ValueError, HttpProcessingError, BadContentDispositionHeader,
                BadContentDispositionParam):
            # not multipart as declared, a header line longer than aiohttp reads, or a
            # Content-Disposition that cannot be read
            raise GatewayError("bad-request", "the multipart body is malformed") from None
    if not isinstance(part, BodyPartReader) or named != name:
        raise GatewayError("payload-missing", f"expected the part named {name!r}")
    return part


async def _chunk(part: BodyPartReader) -> bytes:
    try:
        return await part.read_chunk(CHUNK)
    except (ValueError, HttpProcessingError):
        raise GatewayError("bad-request", "the multipart body is malformed") from None


async def _read_envelope(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await _chunk(part):
        data += chunk
        if len(data) > MAX_ENVELOPE:
            raise GatewayError("body-too-large", f"envelope over {MAX_ENVELOPE} bytes")
    return bytes(data)


async def _spool_payload(part: BodyPartReader, tmp: Path, limit: int) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    fh = await asyncio.to_thread(open, tmp, "wb")
    try:
        while chunk := await _chunk(part):
            size += len(chunk)
            if size > limit:
                raise GatewayError("ctf-too-large", f"limit {limit} bytes")
            h.update(chunk)
            await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)
    return h.hexdigest(), size


@routes.post("/v1/transfers")
async def post_transfer(request: web.Request) -> web.Response:
    """The envelope must arrive within ``body_timeout_seconds`` (nobody unauthenticated holds
    a connection for long); only a verified sender gets ``transfer_timeout_seconds`` for the
    whole upload."""
    s = request.app[GATEWAY].settings
    deadline = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(s.body_timeout_seconds) as scope:
            return await _transfer(request, lambda: scope.reschedule(
                deadline + s.transfer_timeout_seconds))
    except TimeoutError:
        raise GatewayError("request-timeout", "upload not received in time") from None


def incoming_dir(s: Settings) -> Path:
    """This host's own folder of uploads in flight (never shared, on either backend)."""
    return s.path(s.ctf_dir) / ".incoming"


def sweep_incoming(s: Settings, now: float | None = None) -> int:
    """Remove the uploads in flight that a process which died (kill -9, power loss) left in
    ``incoming_dir``: ``.part`` files older than the longest an upload may take. Another
    worker's upload still in flight is younger, so it is left alone. Returns how many."""
    folder = incoming_dir(s)
    if not folder.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - \
        (s.body_timeout_seconds + s.transfer_timeout_seconds + 60)
    removed = 0
    for part in folder.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
    return removed


async def _transfer(request: web.Request, verified: Callable[[], None]) -> web.Response:
    gw = request.app[GATEWAY]
    s = gw.settings
    incoming = incoming_dir(s)
    tmp = incoming / f"{uuid.uuid4()}.part"
    try:
        if not request.content_type.startswith("multipart/"):
            raise GatewayError("payload-missing", "send multipart/form-data")
        try:
            reader = await request.multipart()
        except ValueError:  # no boundary, or one aiohttp cannot use
            raise GatewayError("bad-request", "the multipart body has no usable boundary") \
                from None
        # The envelope first, even for a body that is too large: once it verifies, the
        # refusal is a signed Error the sender can rely on.
        envelope = await _read_envelope(await _part(reader, "envelope"))
        transfer = check_envelope(gw, envelope)  # before anything is written to disk
        verified()  # from here on the upload has transfer_timeout_seconds
        try:
            if request.content_length and \
                    request.content_length > s.max_ctf_bytes + MAX_ENVELOPE:
                raise GatewayError("ctf-too-large", f"{request.content_length} bytes")
            await asyncio.to_thread(incoming.mkdir, parents=True, exist_ok=True)
            digest, size = await _spool_payload(await _part(reader, "payload"), tmp,
                                                s.max_ctf_bytes)
            receipt = await receive_transfer(gw, envelope, transfer, tmp, digest, size)
        except GatewayError as exc:
            raise exc.answering(peer_of(transfer.header)) from None
    finally:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)
    return xml(receipt)
