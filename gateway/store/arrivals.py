"""What arrived since a mark, for the workflow's watched children: CTFs held for schools here,
received Enquiries and Referrals, and cases opened here by hand.

A mark is a time and the ids already seen in the ``WINDOW`` seconds before it. A listing
returns the rows from ``WINDOW`` before the mark's time that were not seen: a row stamped with
the same time as another (or committed a little after a row stamped later) is neither
skipped nor repeated."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.store.base import Backend, Tx

WINDOW = 120.0


@dataclass(frozen=True)
class Mark:
    t: float = 0.0
    seen: dict[str, float] = field(default_factory=dict)  # id -> its time, in the window

    def after(self, rows: list[dict[str, Any]]) -> Mark:
        """The mark after ``rows``: ids older than the window are dropped (a listing cannot
        return them again)."""
        seen = {**self.seen, **{str(r["id"]): float(r["t"]) for r in rows}}
        # (every row's time, also of an id repeated with an earlier time: so the mark after
        # several rows is the mark after each in turn)
        t = max([self.t, *seen.values(), *(float(r["t"]) for r in rows)])
        return Mark(t, {i: at for i, at in seen.items() if at >= t - WINDOW})

    def dumps(self) -> str:
        return json.dumps({"t": self.t, "seen": self.seen})

    @classmethod
    def loads(cls, text: str) -> Mark:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(float(data["t"]), {str(k): float(v) for k, v in data["seen"].items()})


class Arrivals:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def _after(self, inner: str, mark: Mark, limit: int) -> list[dict[str, Any]]:
        async def op(tx: Tx) -> list[dict[str, Any]]:
            return await tx.fetchall(f"SELECT * FROM ({inner}) x WHERE t >= ? "
                                     f"ORDER BY t, id LIMIT ?", mark.t - WINDOW,
                                     limit + len(mark.seen))
        rows = await self.backend.read(op)
        return [r for r in rows if str(r["id"]) not in mark.seen][:limit]

    async def transfers(self, mark: Mark, limit: int = 200) -> list[dict[str, Any]]:
        """CTFs held for (or collected by) schools here: id, t, for_school, dest_*,
        destination (its kind: school, la, ...), source_*."""
        return await self._after(
            "SELECT transfer_id AS id, received_at AS t, for_school, dest_lea, dest_estab, "
            "destination, source_lea, source_estab "
            "FROM transfers WHERE state IN ('held', 'collected')", mark, limit)

    async def messages(self, mark: Mark, limit: int = 200) -> list[dict[str, Any]]:
        """Received Enquiries, Referrals and schools' returns: id, t, message_type, sender,
        body."""
        return await self._after(
            "SELECT message_id AS id, received_at AS t, message_type, sender, body FROM inbound "
            "WHERE message_type IN ('Enquiry', 'Referral', 'SchoolNotice')", mark, limit)

    async def cases(self, mark: Mark, limit: int = 200) -> list[dict[str, Any]]:
        """Cases opened here by hand (no message, no transfer behind them)."""
        return await self._after(
            "SELECT case_id AS id, opened_at AS t, upn, nhs_number, surname, forename, dob, "
            "sex FROM "
            "cases WHERE message_id IS NULL AND transfer_id IS NULL", mark, limit)
