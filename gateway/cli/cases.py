"""``cme-gateway cases``: the CME cases this gateway opened (from CTF notices)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
from typing import Any

from gateway.cli import checks
from gateway.cli.settings import gateway_settings
from gateway.exchange.gateway import Gateway


def cmd_cases(args: argparse.Namespace) -> int:
    s = gateway_settings(args)

    async def go() -> list[dict[str, Any]]:
        gw = await Gateway.open(s)
        try:
            rows = [dataclasses.asdict(r) for r in await gw.store.cases.recent(args.limit)]
            await gw.store.audit.add("cli", "read-cases", None, f"{len(rows)} cases")
            return rows
        finally:
            await gw.close()

    rows = asyncio.run(go())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        opened = dt.datetime.fromtimestamp(r["opened_at"], dt.UTC).strftime("%Y-%m-%d")
        print(f"{r['case_id']}  {opened}  cat {r['category']}  {r['status']:6} "
              f"{r['surname']}, {r['forename']}  {r['source']}")
    if not rows:
        print("(no cases)")
    return 0


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("cases", help="CME cases opened by this gateway")
    sp.add_argument("--limit", type=checks.limit, default=50)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_cases)
