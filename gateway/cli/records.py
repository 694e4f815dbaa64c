"""``cme-gateway records import FILE.csv``: load a roll or case extract into the store."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gateway.cli import checks
from gateway.cli.settings import gateway_settings
from gateway.matching.records import iter_csv
from gateway.store import open_store
from gateway.store.records_ops import COLUMNS

BATCH = 1000


def cmd_import(args: argparse.Namespace) -> int:
    """A rejected file raises ``MatchInputError``, which ``main`` prints."""
    path = checks.readable_file(args.file, "records file")
    s = gateway_settings(args)
    config = s.match_config()

    async def go() -> int:
        store = await open_store(s.database, s.home)
        total = 0
        try:
            batch: list[dict[str, Any]] = []
            for record in iter_csv(path, "record_id", config, "records"):
                d = record.to_dict()
                batch.append({c: d.get(c) or None for c in COLUMNS})
                if len(batch) >= BATCH:
                    total += await store.records.upsert(batch)
                    batch = []
            if batch:
                total += await store.records.upsert(batch)
            await store.audit("cli", "records-import", None, f"{total} records")
        finally:
            await store.close()
        return total

    n = asyncio.run(go())
    print(f"imported {n} records (new ones added, existing record_ids updated)")
    return 0


def add_cli(sub: Any) -> None:
    rec = sub.add_parser("records", help="local records (rolls, CME cases) for matching")
    rsub = rec.add_subparsers(dest="records_cmd", required=True)
    sp = rsub.add_parser("import", help="import or update records from a CSV file")
    sp.add_argument("file")
    sp.set_defaults(func=cmd_import)
