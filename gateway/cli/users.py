"""``cme-gateway users add|list|disable|reset``: the people who sign in to the web pages.

``add`` and ``reset`` generate a password and print it once (only its argon2 hash is kept);
``--password-stdin`` reads one instead (12 to 256 characters), never from the command line
where other users of the machine could see it. ``reset`` also unlocks an account locked after
5 failed sign-ins. Every change is audited."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

from gateway.accounts import (
    MAX_PASSWORD,
    add_user,
    check_password,
    check_role,
    check_username,
    disable_user,
    generate_password,
    reset_user,
)
from gateway.cli.settings import gateway_settings
from gateway.store import Store, UserRow, open_store


def _day(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set, and whether it was generated (and so must be printed)."""
    if args.password_stdin:
        return check_password(sys.stdin.readline(MAX_PASSWORD + 2).rstrip("\r\n")), False
    return generate_password(), True


def _run(args: argparse.Namespace, work: Any) -> Any:
    s = gateway_settings(args)

    async def go() -> Any:
        store: Store = await open_store(s.database, s.home)
        try:
            return await work(store)
        finally:
            await store.close()
    return asyncio.run(go())


def cmd_add(args: argparse.Namespace) -> int:
    name, role = check_username(args.username), check_role(args.role)
    password, generated = _password(args)
    row: UserRow = _run(args, lambda store: add_user(store, name, role, password))
    print(f"user {row.username} added with role {row.role.value}")
    if generated:
        print(f"password (shown only now; only its hash is kept): {password}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows: list[UserRow] = _run(args, lambda store: store.users.all())
    for r in rows:
        print(f"{r.username:24} {r.role.value:8} {r.status:9} failed {r.failed_sign_ins}  "
              f"made {_day(r.created_at)}  last sign-in {_day(r.last_sign_in_at)}")
    if not rows:
        print("(no users: add one with 'cme-gateway users add NAME --role officer')")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    name = check_username(args.username)
    _run(args, lambda store: disable_user(store, name))
    print(f"user {name} disabled: their sessions have ended and they cannot sign in")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    name = check_username(args.username)
    password, generated = _password(args)
    _run(args, lambda store: reset_user(store, name, password))
    print(f"user {name} has a new password and is unlocked; their sessions have ended")
    if generated:
        print(f"password (shown only now; only its hash is kept): {password}")
    return 0


def add_cli(sub: Any) -> None:
    users = sub.add_parser("users", help="people who sign in to the web pages"
                           ).add_subparsers(dest="users_cmd", required=True)
    sp = users.add_parser("add", help="add a user and print a generated password (once)")
    sp.add_argument("username", help="e.g. j.smith (a-z, 0-9, . _ @ -)")
    sp.add_argument("--role", required=True, choices=["officer", "manager", "admin"],
                    help="officer: works cases, sends, replies; manager: reads reports and "
                         "the outbox without names; admin: users, partners, keys, settings")
    sp.add_argument("--password-stdin", action="store_true",
                    help="read the password from standard input instead of generating one")
    sp.set_defaults(func=cmd_add)
    sp = users.add_parser("list", help="every user, with role and status (never a password)")
    sp.set_defaults(func=cmd_list)
    sp = users.add_parser("disable", help="stop a user signing in and end their sessions")
    sp.add_argument("username")
    sp.set_defaults(func=cmd_disable)
    sp = users.add_parser("reset", help="a new password (printed once), and unlock")
    sp.add_argument("username")
    sp.add_argument("--password-stdin", action="store_true",
                    help="read the password from standard input instead of generating one")
    sp.set_defaults(func=cmd_reset)
