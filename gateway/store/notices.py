"""Schools' returns as this LA received them: the kind, the day it is about, the day it was
due and how many school days late it came (``workflow.notices``)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.store.base import Backend, Tx


@dataclass(frozen=True)
class NoticeRow:
    message_id: str
    school: str
    kind: str
    received_at: float
    event_on: str
    due_on: str | None
    late_school_days: int | None
    case_id: str | None
    detail: str | None


class SchoolNotices:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def recent(self, late_only: bool = False, school: str | None = None,
                     limit: int = 100) -> list[NoticeRow]:
        async def op(tx: Tx) -> list[NoticeRow]:
            sql = "SELECT * FROM school_notices WHERE 1 = 1"
            args: list[object] = []
            if late_only:
                sql += " AND late_school_days > 0"
            if school:
                sql += " AND school = ?"
                args.append(school)
            rows = await tx.fetchall(sql + " ORDER BY received_at DESC LIMIT ?", *args, limit)
            return [NoticeRow(**r) for r in rows]
        return await self.backend.read(op)
