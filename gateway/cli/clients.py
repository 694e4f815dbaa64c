"""``cme-gateway clients add|list|revoke``: the operator API's clients, one credential per
system that calls it (an officer's tools, a school's MIS collecting its CTFs)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import Any

from gateway.cli.settings import gateway_settings
from gateway.core.errors import GatewayError
from gateway.store import open_store
from gateway.store.clients import ClientRow

MAX_NAME = 100


def _day(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d") if ts else "-"


def cmd_add(args: argparse.Namespace) -> int:
    # The token rules live with the API that checks them, which imports aiohttp's server (a
    # quarter of a second): only this command needs them.
    from gateway.web.access import add_client, check_scope

    name = args.name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise GatewayError("bad-request", f"the client's name must be 1 to {MAX_NAME} "
                           "printable characters, e.g. \"Oak School MIS\"")
    scope = check_scope(args.scope)
    s = gateway_settings(args)

    async def go() -> tuple[ClientRow, str]:
        store = await open_store(s.database, s.home)
        try:
            return await add_client(store, name, scope)
        finally:
            await store.close()

    row, token = asyncio.run(go())
    print(f"client {row.client_id} ({row.name}) added with scope {row.scope}")
    print(f"token (shown only now; only its hash is kept): {token}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    s = gateway_settings(args)

    async def go() -> list[ClientRow]:
        store = await open_store(s.database, s.home)
        try:
            return await store.clients.all()
        finally:
            await store.close()

    rows = asyncio.run(go())
    for r in rows:
        state = f"revoked {_day(r.revoked_at)}" if r.revoked_at else "active"
        print(f"{r.client_id}  {r.scope:16} {state:18} made {_day(r.created_at)}  "
              f"last used {_day(r.last_used_at)}  {r.name}")
    if not rows:
        print("(no API clients)")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    client_id = args.client_id.strip()
    s = gateway_settings(args)

    async def go() -> bool:
        store = await open_store(s.database, s.home)
        try:
            done = await store.clients.revoke(client_id)
            if done:
                await store.audit.add("cli", "client-revoke", None, f"client {client_id}")
            return done
        finally:
            await store.close()

    if not asyncio.run(go()):
        raise GatewayError("not-found", f"no active API client {client_id[:40]!r}; "
                           "'cme-gateway clients list' shows them")
    print(f"client {client_id} revoked: its token no longer works")
    return 0


def add_cli(sub: Any) -> None:
    clients = sub.add_parser("clients", help="the operator API's clients and their tokens"
                             ).add_subparsers(dest="clients_cmd", required=True)
    sp = clients.add_parser("add", help="make a client and print its token (once)")
    sp.add_argument("name", help='who calls the API, e.g. "Oak School MIS"')
    sp.add_argument("--scope", required=True,
                    help="operator (every operator route) or school:<LAESTAB> (that school's "
                         "CTFs only)")
    sp.set_defaults(func=cmd_add)
    sp = clients.add_parser("list", help="every client, active or revoked (never a token)")
    sp.set_defaults(func=cmd_list)
    sp = clients.add_parser("revoke", help="stop a client's token working")
    sp.add_argument("client_id")
    sp.set_defaults(func=cmd_revoke)
