"""Serving the app on a socket, with limits for clients that are slow or many.

- a request head must arrive within ``header_timeout_seconds`` (aiohttp closes a connection
  that has not completed a request by its keep-alive deadline, from the moment it opens);
- bodies have their own deadlines (``body_timeout_seconds``, ``transfer_timeout_seconds``),
  applied where they are read (``partners.py``, ``operator.py``);
- at most ``max_connections`` connections per process: one more is answered 503 and closed.
  (The count is aiohttp's set of open connections; connections accepted in the same batch
  may overshoot it by that batch, at most the listen backlog.)
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import typing
from collections.abc import Callable

from aiohttp import web

from gateway.core.config import Settings
from gateway.core.errors import GatewayError

log = logging.getLogger(__name__)
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 42\r\nConnection: close\r\n\r\n"
        b"Too many connections; try again shortly.\r\n")


def listen_error(host: str, port: int, exc: OSError) -> GatewayError:
    """Why ``host:port`` cannot be listened on, as a sentence an operator can act on."""
    if exc.errno == errno.EADDRINUSE:
        why = ("the port is in use by another process (perhaps this gateway, already "
               "running): stop it, or choose another port with --port or listen_port")
    elif exc.errno == errno.EACCES:
        why = "this user may not listen on that port (below 1024?): choose another port"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "that is not an address of this machine (listen_host)"
    else:
        why = exc.strerror or type(exc).__name__
    return GatewayError("listen-failed", f"{host}:{port}: {why}")


class _Busy(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport, which writes; not checked with isinstance: uvloop's transports
        # are not subclasses of asyncio's (the assert that was here failed on every refused
        # connection under `serve`, and the client got a reset instead of this 503).
        typing.cast(asyncio.WriteTransport, transport).write(BUSY)
        transport.close()


class CappedServer:
    """aiohttp's protocol factory, refusing connections over ``limit``."""

    def __init__(self, server: web.Server, limit: int, refused: Callable[[], None]) -> None:
        self.server, self.limit, self.refused = server, limit, refused

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self.server.connections) >= self.limit:
            self.refused()
            return _Busy()
        return self.server()


SHUTDOWN_SECONDS = 10.0  # how long requests in flight get to finish at a shutdown


def runner_for(app: web.Application, s: Settings) -> web.AppRunner:
    return web.AppRunner(app, access_log=None, keepalive_timeout=s.header_timeout_seconds,
                         shutdown_timeout=SHUTDOWN_SECONDS)


async def serve(app: web.Application, s: Settings, *, reuse_port: bool = False,
                ready: Callable[[], None] = lambda: None,
                stop: asyncio.Event | None = None) -> None:
    """Serve ``app`` until SIGINT or SIGTERM (or ``stop`` is set), then shut down cleanly."""
    runner = runner_for(app, s)
    await runner.setup()
    loop = asyncio.get_running_loop()
    assert runner.server is not None
    factory = CappedServer(runner.server, s.max_connections,
                           lambda: log.warning("connection refused: %d open (max_connections)",
                                               s.max_connections))
    try:
        server = await loop.create_server(factory, s.listen_host, s.listen_port,
                                          reuse_port=reuse_port or None)
    except OSError as exc:
        await runner.cleanup()
        raise listen_error(s.listen_host, s.listen_port, exc) from None
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready()
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        server.close()
        await runner.cleanup()
