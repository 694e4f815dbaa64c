"""``cme-gateway records import FILE.csv``: load a roll or case extract into the store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

BATCH = 1000


def cmd_import(args: argparse.Namespace) -> int:
    from gateway.cli.main import _settings
    from gateway.matching import MatchInputError
    from gateway.matching.records import iter_csv
    from gateway.store import open_store
    from gateway.store.records import COLUMNS

    s = _settings(args)
    config = s.match_config()

    async def go() -> int:
        store = await open_store(s.database, s.home)
        total = 0
        try:
            batch: list[dict[str, Any]] = []
            for record in iter_csv(args.file, "record_id", config, "records"):
                d = record.to_dict()
                batch.append({c: d.get(c) or None for c in COLUMNS})
                if len(batch) >= BATCH:
                    total += await store.records.upsert(batch)
                    batch = []
            if batch:
                total += await store.records.upsert(batch)
            await store.audit.add("cli", "records-import", None, f"{total} records")
        finally:
            await store.close()
        return total

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
