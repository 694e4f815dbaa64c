"""Local records (pupil rolls and CME case extracts) and the match results stored with the
messages they explain. Portable SQL, like the rest of the store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.clock import SYSTEM, Clock
from gateway.store.base import Backend, Step, Tx

COLUMNS = ("record_id", "upn", "former_upn", "nhs_number", "surname", "forename",
           "middle_names", "dob", "sex", "postcode", "address", "laestab", "on_roll_from",
           "on_roll_to")


@dataclass(frozen=True)
class LocalRecord:
    """One imported record, as stored (every field but ``record_id`` may be missing)."""

    record_id: str
    upn: str | None = None
    former_upn: str | None = None
    nhs_number: str | None = None
    surname: str | None = None
    forename: str | None = None
    middle_names: str | None = None
    dob: str | None = None
    sex: str | None = None
    postcode: str | None = None
    address: str | None = None
    laestab: str | None = None
    on_roll_from: str | None = None
    on_roll_to: str | None = None

    def present(self) -> dict[str, str]:
        """The fields that have a value."""
        return {c: v for c in COLUMNS if (v := getattr(self, c)) is not None}


@dataclass(frozen=True)
class MatchResult:
    child_ref: str
    matched_at: float
    best_record_id: str | None
    best_band: str
    candidates: list[dict[str, Any]]


class Records:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def upsert(self, rows: Sequence[Mapping[str, str | None]],
                     step: Step | None = None) -> int:
        """Insert or update records by ``record_id`` (a re-import never duplicates), all in
        one transaction with ``step(tx)``."""
        now = self.clock.time()
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
            if step is not None:
                await step(tx)
            return len(rows)
        return await self.backend.write(op)

    async def all(self) -> list[LocalRecord]:
        async def op(tx: Tx) -> list[LocalRecord]:
            rows = await tx.fetchall(f"SELECT {', '.join(COLUMNS)} FROM records")
            return [LocalRecord(**r) for r in rows]
        return await self.backend.read(op)

    async def by_ids(self, ids: set[str]) -> dict[str, LocalRecord]:
        if not ids:
            return {}

        async def op(tx: Tx) -> dict[str, LocalRecord]:
            marks = ", ".join("?" * len(ids))
            rows = await tx.fetchall(f"SELECT {', '.join(COLUMNS)} FROM records WHERE "
                                     f"record_id IN ({marks})", *sorted(ids))
            return {r["record_id"]: LocalRecord(**r) for r in rows}
        return await self.backend.read(op)

    async def version(self) -> tuple[int, float]:
        """Changes when records are imported: (count, newest import time)."""
        async def op(tx: Tx) -> tuple[int, float]:
            row = await tx.fetchone("SELECT COUNT(*) AS n, MAX(imported_at) AS t FROM records")
            assert row is not None
            return int(row["n"]), float(row["t"] or 0.0)
        return await self.backend.read(op)

    async def save_results(self, message_id: str, results: dict[str, list[dict[str, Any]]]
                           ) -> None:
        now = self.clock.time()

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

    async def results(self, message_id: str) -> list[MatchResult]:
        async def op(tx: Tx) -> list[MatchResult]:
            rows = await tx.fetchall("SELECT child_ref, matched_at, best_record_id, best_band, "
                                     "candidates FROM match_results WHERE message_id = ? "
                                     "ORDER BY child_ref", message_id)
            return [MatchResult(**{**r, "candidates": json.loads(r["candidates"])})
                    for r in rows]
        return await self.backend.read(op)
