"""Schools' returns as this LA received them: the kind, the day it is about, the day it was
due and how many school days late it came (``workflow.notices``)."""

from __future__ import annotations

import json
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
    conversation_id: str | None = None


    def ground(self) -> str | None:
        """The deletion ground's code, for a deletion return."""
        try:
            value = json.loads(self.detail).get("ground") if self.detail else None
        except (ValueError, AttributeError):
            return None
        return str(value) if value else None


class SchoolNotices:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def recorded(self, message_id: str) -> bool:
        async def op(tx: Tx) -> bool:
            row = await tx.fetchone("SELECT 1 AS x FROM school_notices WHERE message_id = ?",
                                    message_id)
            return row is not None
        return await self.backend.read(op)

    @staticmethod
    async def resend_of(tx: Tx, school: str, conversation_id: str) -> str | None:
        """The return already recorded in this conversation (a resend keeps it), or None."""
        row = await tx.fetchone("SELECT message_id FROM school_notices WHERE school = ? AND "
                                "conversation_id = ?", school, conversation_id)
        return str(row["message_id"]) if row else None

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
