"""Local records (pupil rolls and CME case extracts) and the match results stored with the
messages they explain. Portable SQL, like the rest of the store."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from gateway.store.base import Backend, Row, Tx

COLUMNS = ("record_id", "upn", "former_upn", "surname", "forename", "middle_names", "dob",
           "sex", "postcode", "address", "laestab", "on_roll_from", "on_roll_to")


class RecordStore:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def upsert(self, rows: Sequence[dict[str, str]]) -> int:
        """Insert or update records by ``record_id``: a re-import never duplicates."""
        now = time.time()
        cols = ", ".join(COLUMNS)
        marks = ", ".join("?" * (len(COLUMNS) + 1))
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])

        async def op(tx: Tx) -> int:
            for r in rows:
                await tx.execute(
                    f"INSERT INTO records ({cols}, imported_at) VALUES ({marks}) "
                    f"ON CONFLICT (record_id) DO UPDATE SET {updates}, "
                    f"imported_at = excluded.imported_at",
                    *(r.get(c) or None for c in COLUMNS), now)
            return len(rows)
        return await self.backend.write(op)

    async def all(self) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall(f"SELECT {', '.join(COLUMNS)} FROM records")
        return await self.backend.read(op)

    async def version(self) -> tuple[int, float]:
        """Changes when records are imported: (count, newest import time)."""
        async def op(tx: Tx) -> tuple[int, float]:
            row = await tx.fetchone("SELECT COUNT(*) AS n, MAX(imported_at) AS t FROM records")
            assert row is not None
            return int(row["n"]), float(row["t"] or 0.0)
        return await self.backend.read(op)

    async def unmatched(self, types: Sequence[str], limit: int = 50) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            marks = ", ".join("?" * len(types))
            return await tx.fetchall(
                f"SELECT message_id, message_type, body FROM inbound WHERE matched_at IS NULL "
                f"AND message_type IN ({marks}) ORDER BY received_at LIMIT ?", *types, limit)
        return await self.backend.read(op)

    async def save_results(self, message_id: str, results: dict[str, list[dict[str, Any]]]
                           ) -> None:
        now = time.time()

        async def op(tx: Tx) -> None:
            for ref, cands in results.items():
                best = cands[0] if cands else None
                await tx.execute(
                    "INSERT INTO match_results (message_id, child_ref, matched_at, "
                    "best_record_id, best_band, candidates) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (message_id, child_ref) DO UPDATE SET "
                    "matched_at = excluded.matched_at, best_record_id = "
                    "excluded.best_record_id, best_band = excluded.best_band, "
                    "candidates = excluded.candidates",
                    message_id, ref, now, best["record_id"] if best else None,
                    best["band"] if best else "no-match", json.dumps(cands))
            await tx.execute("UPDATE inbound SET matched_at = ? WHERE message_id = ?", now,
                             message_id)
        await self.backend.write(op)

    async def results(self, message_id: str) -> list[dict[str, Any]]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall("SELECT child_ref, matched_at, best_record_id, best_band, "
                                     "candidates FROM match_results WHERE message_id = ? "
                                     "ORDER BY child_ref", message_id)
        rows = await self.backend.read(op)
        return [{**r, "candidates": json.loads(r["candidates"])} for r in rows]
