"""A body that arrives in several packets is read whole."""

from __future__ import annotations

import asyncio

from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.messages import xml as mx
from gateway.web.app import create_app
from tests.conftest import enquiry, pair


async def test_message_sent_in_slow_pieces_is_read_whole(aiohttp_server, tmp_path) -> None:
    a, b = pair(tmp_path)
    server = await aiohttp_server(create_app(b.settings(), background=False))
    signer = Signer(k.load_private_key(a.path / "keys/gateway.key"),
                    k.load_certificate(a.path / "keys/gateway.pem"))
    body = signer.sign(mx.build(enquiry()))
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
    half = len(body) // 2
    writer.write(body[:half])
    await writer.drain()
    await asyncio.sleep(0.3)  # the rest arrives later, as across a real network
    writer.write(body[half:])
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b"<Receipt" in answer


async def test_a_body_that_arrived_whole_is_read_at_once_and_still_limited(
        aiohttp_server, tmp_path) -> None:
    """The fast path of ``read_body`` (the whole body already received): a chunked body over
    ``max_body_bytes`` that arrives in one piece is refused, one within it is read whole."""
    a, b = pair(tmp_path)
    server = await aiohttp_server(create_app(b.settings(max_body_bytes=4096),
                                             background=False))
    signer = Signer(k.load_private_key(a.path / "keys/gateway.key"),
                    k.load_certificate(a.path / "keys/gateway.pem"))
    body = signer.sign(mx.build(enquiry()))
    assert len(body) < 4096

    async def send_at_once(payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml"
                     b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     + f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer

    ok = await send_at_once(body)
    assert ok.startswith(b"HTTP/1.1 200") and b"<Receipt" in ok, ok[:300]
    big = await send_at_once(body + b" " * 5000)
    assert big.startswith(b"HTTP/1.1 413") and b"body-too-large" in big, big[:300]
