"""``cme-gateway records import FILE.csv``: load a roll or case extract into the store."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gateway.cli import checks
from gateway.cli.settings import gateway_settings
from gateway.store import open_store
from gateway.workflow.records import import_records


def cmd_import(args: argparse.Namespace) -> int:
    """All or nothing: a refused file (``MatchInputError``, printed by ``main``) changes
    nothing."""
    path = checks.readable_file(args.file, "records file")
    s = gateway_settings(args)
    config = s.match_config()

    async def go() -> int:
        store = await open_store(s.database, s.home)
        try:
            return await import_records(store, path, config)
        finally:
            await store.close()

    n = asyncio.run(go())
    print(f"imported {n} records (new ones added, existing record_ids updated)")
    return 0


def add_cli(sub: Any) -> None:
    rec = sub.add_parser("records", help="local records (rolls, CME cases) for matching")
    rsub = rec.add_subparsers(dest="records_cmd", required=True)
    sp = rsub.add_parser("import", help="import or update records from a CSV file")
    sp.add_argument("file")
    sp.set_defaults(func=cmd_import)
