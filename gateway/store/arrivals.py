"""What arrived since a mark, for the workflow's watched children: CTFs held for schools here,
received Enquiries and Referrals, and cases opened here by hand. Each listing is keyset
paginated on (time, id), so a mark (``Marks``) neither repeats nor skips a row."""

from __future__ import annotations

from typing import Any

from gateway.store.base import Backend, Tx

Mark = tuple[float, str]
_AFTER = "(t > ? OR (t = ? AND id > ?)) ORDER BY t, id LIMIT ?"


class Arrivals:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def _after(self, inner: str, mark: Mark, limit: int) -> list[dict[str, Any]]:
        async def op(tx: Tx) -> list[dict[str, Any]]:
            return await tx.fetchall(f"SELECT * FROM ({inner}) x WHERE {_AFTER}",
                                     mark[0], mark[0], mark[1], limit)
        return await self.backend.read(op)

    async def transfers(self, mark: Mark, limit: int = 200) -> list[dict[str, Any]]:
        """CTFs held for (or collected by) schools here: id, t, for_school, dest_*."""
        return await self._after(
            "SELECT transfer_id AS id, received_at AS t, for_school, dest_lea, dest_estab "
            "FROM transfers WHERE state IN ('held', 'collected')", mark, limit)

    async def messages(self, mark: Mark, limit: int = 200) -> list[dict[str, Any]]:
        """Received Enquiries and Referrals: id, t, message_type, body."""
        return await self._after(
            "SELECT message_id AS id, received_at AS t, message_type, body FROM inbound "
            "WHERE message_type IN ('Enquiry', 'Referral')", mark, limit)

    async def cases(self, mark: Mark, limit: int = 200) -> list[dict[str, Any]]:
        """Cases opened here by hand (no message, no transfer behind them)."""
        return await self._after(
            "SELECT case_id AS id, opened_at AS t, upn, surname, forename, dob, sex FROM "
            "cases WHERE message_id IS NULL AND transfer_id IS NULL", mark, limit)
