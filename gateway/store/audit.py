"""The audit log: who read or did what, when (DESIGN.md: every read of a child's record is
audited). Details name ids and field names, never a child's details."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.clock import SYSTEM, Clock
from gateway.store.base import Backend, Tx


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    message_id: str | None
    detail: str | None


class AuditLog:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def add(self, actor: str, action: str, message_id: str | None = None,
                  detail: str | None = None, tx: Tx | None = None) -> None:
        """Write one entry: in ``tx`` when given (it commits with the change it records)."""
        async def op(t: Tx) -> None:
            await t.execute("INSERT INTO audit (at, actor, action, message_id, detail) "
                            "VALUES (?, ?, ?, ?, ?)", self.clock.time(), actor, action,
                            message_id, detail)
        if tx is not None:
            await op(tx)
        else:
            await self.backend.write(op)

    async def entries(self, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
        async def op(t: Tx) -> list[AuditEntry]:
            sql = "SELECT at, actor, action, message_id, detail FROM audit"
            args: list[object] = []
            if action:
                sql += " WHERE action = ?"
                args.append(action)
            rows = await t.fetchall(sql + " ORDER BY id DESC LIMIT ?", *args, limit)
            return [AuditEntry(**r) for r in rows]
        return await self.backend.read(op)
