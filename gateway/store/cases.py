"""CME cases: for now a minimal record (the child, the category, the source and the date),
opened by a lost or out-of-sector CTF. The case workflow grows it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gateway.core.clock import SYSTEM, Clock
from gateway.store.base import Backend, Tx


@dataclass(frozen=True)
class NewCase:
    category: int
    reason: str
    source: str
    surname: str
    forename: str
    upn: str | None = None
    dob: str | None = None
    sex: str | None = None
    transfer_id: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    opened_at: float
    category: int
    reason: str
    source: str
    transfer_id: str | None
    message_id: str | None
    upn: str | None
    surname: str
    forename: str
    dob: str | None
    sex: str | None
    status: str


class Cases:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def open(self, tx: Tx, case: NewCase) -> str | None:
        """Open a case; None if one is already open for the same transfer (a resend)."""
        case_id = str(uuid.uuid4())
        row = await tx.fetchone(
            "INSERT INTO cases (case_id, opened_at, category, reason, source, transfer_id, "
            "message_id, upn, surname, forename, dob, sex, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') "
            "ON CONFLICT (transfer_id) DO NOTHING RETURNING case_id",
            case_id, self.clock.time(), case.category, case.reason, case.source,
            case.transfer_id, case.message_id, case.upn, case.surname, case.forename,
            case.dob, case.sex)
        return row["case_id"] if row else None

    async def recent(self, limit: int = 100) -> list[CaseRow]:
        async def op(tx: Tx) -> list[CaseRow]:
            rows = await tx.fetchall("SELECT * FROM cases ORDER BY opened_at DESC LIMIT ?",
                                     limit)
            return [CaseRow(**r) for r in rows]
        return await self.backend.read(op)
