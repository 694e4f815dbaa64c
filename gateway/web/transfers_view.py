"""``POST /v1/transfers``: a signed Transfer envelope and the CTF beside it (multipart).

Part ``envelope`` (the signed XML, at most 256 KiB) must come first, then part ``payload``
(the CTF, streamed to a temporary file while it is hashed and counted, never held in memory;
at most ``max_ctf_bytes``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from pathlib import Path

from aiohttp import BodyPartReader, web

from gateway.core.errors import GatewayError
from gateway.core.logsafe import failure
from gateway.exchange import inbound as pipeline
from gateway.exchange.gateway import Gateway
from gateway.hub.transfers import check_envelope, receive_transfer

log = logging.getLogger(__name__)
MAX_ENVELOPE = 256 * 1024
CHUNK = 1 << 16


async def _part(reader: object, name: str) -> BodyPartReader:
    part = await reader.next()  # type: ignore[attr-defined]
    if not isinstance(part, BodyPartReader) or part.name != name:
        raise GatewayError("payload-missing", f"expected the part named {name!r}")
    return part


async def _read_envelope(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > MAX_ENVELOPE:
            raise GatewayError("body-too-large", f"envelope over {MAX_ENVELOPE} bytes")
    return bytes(data)


async def _spool_payload(part: BodyPartReader, tmp: Path, limit: int) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    fh = await asyncio.to_thread(open, tmp, "wb")
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit:
                raise GatewayError("ctf-too-large", f"limit {limit} bytes")
            h.update(chunk)
            await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)
    return h.hexdigest(), size


def make_handler(key: web.AppKey[Gateway]):  # type: ignore[no-untyped-def]
    async def post_transfer(request: web.Request) -> web.Response:
        gw = request.app[key]
        s = gw.settings
        envelope = b""
        incoming = s.path(s.ctf_dir) / ".incoming"
        tmp = incoming / f"{uuid.uuid4()}.part"
        try:
            if not request.content_type.startswith("multipart/"):
                raise GatewayError("payload-missing", "send multipart/form-data")
            reader = await request.multipart()
            # The envelope first, even for a body that is too large: the signed Error is
            # addressed from it, so the sender can verify the refusal.
            envelope = await _read_envelope(await _part(reader, "envelope"))
            if request.content_length and request.content_length > s.max_ctf_bytes + MAX_ENVELOPE:
                raise GatewayError("ctf-too-large", f"{request.content_length} bytes")
            transfer = check_envelope(gw, envelope)  # before anything is written to disk
            await asyncio.to_thread(incoming.mkdir, parents=True, exist_ok=True)
            digest, size = await _spool_payload(await _part(reader, "payload"), tmp,
                                                s.max_ctf_bytes)
            receipt = await receive_transfer(gw, envelope, transfer, tmp, digest, size)
        except GatewayError as exc:
            log.info("rejected transfer code=%s peer=%s", exc.code, request.remote)
            return web.Response(body=pipeline.error_message(gw, exc, envelope),
                                status=exc.status, content_type="application/xml")
        except Exception as failed:
            log.error("transfer failed unexpectedly peer=%s: %s", request.remote,
                      failure(failed))
            err = GatewayError("internal-error")
            return web.Response(body=pipeline.error_message(gw, err, envelope), status=500,
                                content_type="application/xml")
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        return web.Response(body=receipt, status=200, content_type="application/xml")

    return post_transfer
