"""Importing the authority's own records (pupil rolls, CME case extracts) for matching.

The whole file is read and checked before anything is written, and then written in one
transaction with its audit entry: a file that is refused, or a failure half way, leaves the
records exactly as they were.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.matching import MatchConfig
from gateway.matching.records import iter_csv
from gateway.store import Store, Tx
from gateway.store.records import COLUMNS


def read_records(path: Path, config: MatchConfig) -> list[dict[str, str | None]]:
    """Every record of a CSV file, or MatchInputError (naming the row and column, never the
    value) for the first problem in it."""
    rows = []
    for record in iter_csv(path, "record_id", config, "records"):
        d = record.to_dict()
        rows.append({c: d.get(c) or None for c in COLUMNS})
    return rows


async def import_records(store: Store, path: Path, config: MatchConfig,
                         actor: str = "cli") -> int:
    """Import ``path``: new records added, existing ``record_id``s updated, all or nothing."""
    rows = await asyncio.to_thread(read_records, path, config)

    async def audited(tx: Tx) -> None:
        await store.audit.add(actor, "records-import", None, f"{len(rows)} records from "
                              f"{path.name}", tx=tx)
        # Enquiries and referrals not answered yet are matched again on the new records
        # (an enquiry that came before the import is not "no match" for ever); the children
        # watched as "not known but monitoring" are matched by the monitoring worker.
        await store.inbox.rematch_unanswered(tx)

    return await store.records.upsert(rows, audited)
