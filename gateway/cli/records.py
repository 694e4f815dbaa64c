"""``cme-gateway records import FILE.csv``: load a roll or case extract into the store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.cli.main import _settings
    from gateway.matching import MatchInputError
    from gateway.store import open_store
    from gateway.workflow.records import import_records

    s = _settings(args)
    config = s.match_config()

    async def go() -> int:
        store = await open_store(s.database, s.home)
        try:
            return await import_records(store, Path(args.file), config)
        finally:
            await store.close()

    try:
        n = asyncio.run(go())
    except MatchInputError as exc:
        print(f"REJECTED {exc.code}: {exc.sentence}", file=sys.stderr)
        return 1
    print(f"imported {n} records (new ones added, existing record_ids updated)")
    return 0


def add_cli(sub: Any) -> None:
    rec = sub.add_parser("records", help="local records (rolls, CME cases) for matching")
    rsub = rec.add_subparsers(dest="records_cmd", required=True)
    sp = rsub.add_parser("import", help="import or update records from a CSV file")
    sp.add_argument("file")
    sp.set_defaults(func=cmd_import)
