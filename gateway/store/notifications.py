"""Notifications to officers and managers: safeguarding escalations, escalated enquiries,
monitoring findings. Each is a row first (the officer's queue shows it whatever happens to
e-mail), then an e-mail that the notifier sends and retries. A subject names ids and the
kind of event, never a child's details: e-mail leaves the gateway's protection."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.clock import SYSTEM, Clock
from gateway.store.base import Backend, Tx


@dataclass(frozen=True)
class Notification:
    id: int
    at: float
    kind: str
    urgent: int
    case_id: str | None
    message_id: str | None
    subject: str
    recipients: str
    sent_at: float | None
    attempts: int
    last_error: str | None
    seen_at: float | None


class Notifications:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def add(self, tx: Tx, kind: str, subject: str, recipients: str, *,
                  urgent: bool = False, case_id: str | None = None,
                  message_id: str | None = None) -> None:
        """Queue one notification in the caller's transaction (it commits with its cause).
        ``recipients``: comma-separated e-mail addresses, or empty for the queue only."""
        await tx.execute(
            "INSERT INTO notifications (at, kind, urgent, case_id, message_id, subject, "
            "recipients) VALUES (?, ?, ?, ?, ?, ?, ?)", self.clock.time(), kind, int(urgent),
            case_id, message_id, subject[:300], recipients)

    async def unsent(self, max_attempts: int, limit: int = 50) -> list[Notification]:
        async def op(tx: Tx) -> list[Notification]:
            rows = await tx.fetchall(
                "SELECT * FROM notifications WHERE sent_at IS NULL AND recipients <> '' "
                "AND attempts < ? ORDER BY urgent DESC, id LIMIT ?", max_attempts, limit)
            return [Notification(**r) for r in rows]
        return await self.backend.read(op)

    async def mark(self, nid: int, error: str | None) -> None:
        now = self.clock.time()

        async def op(tx: Tx) -> None:
            if error is None:
                await tx.execute("UPDATE notifications SET sent_at = ?, attempts = attempts + 1, "
                                 "last_error = NULL WHERE id = ?", now, nid)
            else:
                await tx.execute("UPDATE notifications SET attempts = attempts + 1, "
                                 "last_error = ? WHERE id = ?", error[:300], nid)
        await self.backend.write(op)

    async def recent(self, limit: int = 100, unseen_only: bool = False) -> list[Notification]:
        async def op(tx: Tx) -> list[Notification]:
            sql = "SELECT * FROM notifications"
            if unseen_only:
                sql += " WHERE seen_at IS NULL"
            rows = await tx.fetchall(sql + " ORDER BY urgent DESC, id DESC LIMIT ?", limit)
            return [Notification(**r) for r in rows]
        return await self.backend.read(op)


class Marks:
    """Small named high-water marks of the workflow's background work (e.g. the last
    transfer looked at for watched children), so a restart neither repeats nor skips."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def get(self, name: str, default: str = "") -> str:
        async def op(tx: Tx) -> str:
            row = await tx.fetchone("SELECT value FROM workflow_marks WHERE name = ?", name)
            return str(row["value"]) if row else default
        return await self.backend.read(op)

    @staticmethod
    async def put(tx: Tx, name: str, value: str) -> None:
        await tx.execute("INSERT INTO workflow_marks (name, value) VALUES (?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value)
