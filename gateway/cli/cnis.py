"""``cme-gateway cnis``: the Children Not in School register (off unless ``cnis_register =
"on"``). An entry is given as a JSON file with the register's fields (docs/cnis.md); each
change is a new version with the reason."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gateway.cli import checks
from gateway.cli.cases import ACTOR, local, on_gateway, print_json
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.store.cnis import EntryState
from gateway.workflow import cnis

MAX_FILE = 256 * 1024


def _entry_file(text: str) -> dict[str, Any]:
    path = checks.readable_file(text, "entry file")
    raw = Path(path).read_bytes()
    if len(raw) > MAX_FILE:
        raise GatewayError("body-too-large", f"entry file {text}: at most {MAX_FILE} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise GatewayError("bad-request", f"entry file {text} is not JSON") from None
    if not isinstance(data, dict):
        raise GatewayError("bad-request", f"entry file {text} must hold one JSON object")
    return data


def cmd_add(args: argparse.Namespace) -> int:
    data = _entry_file(args.file)
    print(f"added entry {on_gateway(args, lambda gw: cnis.add(gw, data, ACTOR))}")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    data = _entry_file(args.file)
    row = on_gateway(args, lambda gw: cnis.update(gw, args.entry_id, data, ACTOR, args.reason))
    print(f"entry {row.entry_id}: version {row.version}")
    return 0


def cmd_state(to: EntryState) -> Any:
    def run(args: argparse.Namespace) -> int:
        row = on_gateway(args, lambda gw: cnis.set_state(gw, args.entry_id, to, ACTOR,
                                                         args.reason))
        print(f"entry {row.entry_id} is {row.state} (version {row.version})")
        return 0
    return run


def cmd_transfer(args: argparse.Namespace) -> int:
    mid = on_gateway(args, lambda gw: cnis.transfer(gw, args.entry_id, args.to, ACTOR,
                                                    args.reason))
    print(f"entry {args.entry_id} transferred to LA {args.to}: message {mid} queued")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    states = tuple(EntryState(s) for s in args.state) if args.state else \
        (EntryState.DRAFT, EntryState.ACTIVE)

    async def work(gw: Gateway) -> list[dict[str, Any]]:
        cnis.require_on(gw)
        rows = await gw.store.register.listing(states, args.limit)
        if rows:
            await gw.store.audit.add(ACTOR, "cnis-read", None, f"{len(rows)} entries")
        return [r.to_json() for r in rows]

    rows = on_gateway(args, work)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        print(f"{r['entry_id']}  {r['state']:11} {r['surname']}, {r['forename']} "
              f"(born {r['dob']})  v{r['version']}  {r['source']}")
    if not rows:
        print("(no entries)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    async def work(gw: Gateway) -> dict[str, Any]:
        cnis.require_on(gw)
        row = await gw.store.register.get(args.entry_id)
        if row is None:
            raise GatewayError("not-found", f"no register entry {args.entry_id}")
        await gw.store.audit.add(ACTOR, "cnis-read", None, f"entry {args.entry_id}")
        return {**row.to_json(), "versions": [
            {k: v for k, v in vars(x).items() if k != "entry"}
            for x in await gw.store.register.versions(args.entry_id)]}

    e = on_gateway(args, work)
    if args.json:
        print_json(e)
        return 0
    print(f"Entry {e['entry_id']}  {e['state']}  version {e['version']}"
          + (f"  transferred to LA {e['transferred_to']}" if e["transferred_to"] else ""))
    print(json.dumps(e["entry"], indent=2))
    print("History:")
    for v in e["versions"]:
        print(f"  v{v['version']}  {local(v['at'])}  {v['actor']:14} {v['action']:11} "
              f"{v['reason'] or ''}")
    return 0


def add_cli(sub: Any) -> None:
    reg = sub.add_parser("cnis", help="the Children Not in School register (cnis_register)")
    rs = reg.add_subparsers(dest="cnis_command", required=True, metavar="COMMAND")
    sp = rs.add_parser("add", help="add an entry from a JSON file (docs/cnis.md)")
    sp.add_argument("file")
    sp.set_defaults(func=cmd_add)
    sp = rs.add_parser("update", help="a new version of an entry, from a JSON file")
    sp.add_argument("entry_id")
    sp.add_argument("file")
    sp.add_argument("--reason", required=True)
    sp.set_defaults(func=cmd_update)
    for name, to, text in (("activate", EntryState.ACTIVE, "a checked draft becomes active"),
                           ("close", EntryState.CLOSED, "no longer eligible")):
        sp = rs.add_parser(name, help=text)
        sp.add_argument("entry_id")
        sp.add_argument("--reason", required=True)
        sp.set_defaults(func=cmd_state(to))
    sp = rs.add_parser("transfer", help="the family moved: send the entry to the new LA")
    sp.add_argument("entry_id")
    sp.add_argument("--to", required=True, help="the new LA's code")
    sp.add_argument("--reason", required=True)
    sp.set_defaults(func=cmd_transfer)
    sp = rs.add_parser("list", help="the register's entries (draft and active)")
    sp.add_argument("--state", action="append", choices=[s.value for s in EntryState])
    sp.add_argument("--limit", type=checks.limit, default=500)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_list)
    sp = rs.add_parser("show", help="one entry and its history")
    sp.add_argument("entry_id")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_show)
