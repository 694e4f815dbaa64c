"""Security review item 12: slow or many clients cannot hold a gateway; a client that goes
away mid-body is counted as such. A real socket against ``web.serve.serve``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gateway.web.app import create_app
from gateway.web.serve import serve
from tests.conftest import free_port, pair

HEAD = b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\n"


@asynccontextmanager
async def served(tmp_path, **settings: object) -> AsyncIterator[int]:
    _, b = pair(tmp_path)
    port = free_port()
    s = b.settings(listen_port=port, **settings)
    app = create_app(s, background=False)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(app, s, ready=ready.set, stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (fails if it does not)."""
    return await asyncio.wait_for(reader.read(), within)


async def test_a_slow_request_head_is_dropped(tmp_path) -> None:
    async with served(tmp_path, header_timeout_seconds=0.5) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEAD + b"X-Slow: ")  # ... then a byte now and then, never the head's end
        for _ in range(3):
            await asyncio.sleep(0.1)
            writer.write(b"a")
        assert await closed_by_server(reader, 10) == b""
        writer.close()
        await writer.wait_closed()


async def test_a_slow_body_is_refused(tmp_path) -> None:
    async with served(tmp_path, body_timeout_seconds=0.5) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEAD + b"Content-Length: 1000\r\n\r\n<Enq")
        answer = await asyncio.wait_for(reader.read(65536), 10)
        assert answer.startswith(b"HTTP/1.1 408") and b"request-timeout" in answer
        writer.close()
        await writer.wait_closed()


async def test_connections_over_the_cap_are_refused_at_once(tmp_path) -> None:
    async with served(tmp_path, max_connections=2) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.1)  # both accepted and counted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await closed_by_server(reader, 10)
        assert answer.startswith(b"HTTP/1.1 503")
        for _, w in held + [(reader, writer)]:
            w.close()
            await w.wait_closed()


def test_connections_over_the_cap_are_refused_with_a_503_on_uvloop(tmp_path, caplog) -> None:
    """The same on uvloop, the loop `serve` runs on: its transports are not asyncio's
    classes, and an isinstance assert there had reset every refused connection (logging an
    ERROR each) instead of answering 503."""
    import uvloop

    async def scenario() -> bytes:
        async with served(tmp_path, max_connections=2) as port:
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await asyncio.sleep(0.1)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                return await asyncio.wait_for(reader.read(), 5)
            except (TimeoutError, ConnectionError) as exc:
                return repr(exc).encode()  # no answer, or a reset: fails below
            finally:
                for _, w in held + [(reader, writer)]:
                    w.transport.abort()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        answer = runner.run(scenario())
    assert answer.startswith(b"HTTP/1.1 503")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_client_gone_mid_body_is_counted_not_an_error(tmp_path, caplog) -> None:
    async with served(tmp_path) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEAD + b"Content-Length: 1000\r\n\r\n<Enq")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.3)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        metrics = await closed_by_server(reader, 10)
        writer.close()
        await writer.wait_closed()
    assert b'cme_inbound_rejected_total{code="client-disconnected"} 1.0' in metrics
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("busy", [True])
async def test_a_busy_port_is_a_sentence(tmp_path, busy) -> None:
    from gateway.core.errors import GatewayError

    async with served(tmp_path) as port:
        _, b = pair(tmp_path / "again")
        s = b.settings(listen_port=port)
        with pytest.raises(GatewayError) as info:
            await serve(create_app(s, background=False), s)
        assert info.value.code == "listen-failed" and str(port) in info.value.text
