"""``cme-gateway serve``: run the gateway (HTTP server, sender, spool folders)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from gateway.cli import checks
from gateway.cli.settings import config_path, gateway_settings
from gateway.core.errors import GatewayError
from gateway.crypto.keys import load_certificate, load_private_key
from gateway.web.serve import listen_error


def check_listen(host: str, port: int) -> None:
    """Refuse at once when ``host:port`` cannot be listened on (binds and lets go)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise GatewayError("listen-failed", f"listen_host {host!r}: {exc.strerror}") from None
    for family, kind, proto, _, addr in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
            except OSError as exc:
                raise listen_error(host, port, exc) from None


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``serve`` runs on: uvloop (libuv, in C) where it is installed, which
    spends about a fifth less CPU per inbound message than asyncio's own loop (bench/README,
    issue 15); asyncio's when asked, or where uvloop is missing."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            return None
        return uvloop.new_event_loop
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    # aiohttp's server and the web app take half a second to import: only serve needs them.
    from gateway.web.app import create_app
    from gateway.web.serve import serve

    overrides: dict[str, Any] = {}
    if args.role:
        overrides["role"] = args.role
    if args.port:
        overrides["listen_port"] = args.port
    s = gateway_settings(args, **overrides)
    if s.role == "hub" and s.party != "S2S":
        raise GatewayError("config-invalid", "the hub role runs as party S2S")
    try:
        load_private_key(s.path(s.key_file))
        load_certificate(s.path(s.cert_file))
    except (OSError, ValueError, TypeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a usable PEM file"
        raise GatewayError("config-invalid", f"this gateway's key {s.key_file} or certificate "
                           f"{s.cert_file}: {why}; run 'cme-gateway keys init'") from None
    if not 1 <= s.listen_port <= 65535:
        raise GatewayError("config-invalid", f"listen_port {s.listen_port} is not a port "
                           "(1 to 65535)")
    workers = args.workers
    if not args.worker:  # a worker shares the port its parent already holds
        check_listen(s.listen_host, s.listen_port)
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s "
                        "%(message)s")
    children: list[subprocess.Popen[bytes]] = []
    if workers > 1 and not args.worker:
        # Extra processes share the port (SO_REUSEPORT) and the store; only this one runs
        # the spool folders. Each sender leases its messages, so none is sent twice.
        cmd = [sys.executable, "-m", "gateway", "--config", str(config_path(args)), "serve",
               "--worker", "--loop", args.loop] + (["--role", args.role] if args.role else []) + \
              (["--port", str(args.port)] if args.port else [])
        children = [subprocess.Popen(cmd) for _ in range(workers - 1)]
    def ready() -> None:
        print(f"cme-gateway {s.party} ({s.role}) listening on http://{s.listen_host}:"
              f"{s.listen_port}{' (worker)' if args.worker else ''}", flush=True)

    try:
        # (a port taken between the check and the server's bind is a listen-failed too)
        with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
            runner.run(serve(create_app(s, spool=not args.worker), s,
                             reuse_port=workers > 1 or args.worker, ready=ready))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(15)
    return 0


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("serve", help="run the gateway")
    sp.add_argument("--role", choices=["la", "hub"])
    sp.add_argument("--port", type=checks.port)
    sp.add_argument("--workers", type=checks.whole_number(1, 256), default=1,
                    help="processes sharing the port and the store (default 1)")
    sp.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop",
                    help="event loop (default uvloop where installed, else asyncio)")
    sp.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_serve)
