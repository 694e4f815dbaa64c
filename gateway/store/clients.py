"""API clients: each system that calls the operator API (an officer's tools, a school's MIS
collecting its CTFs) has its own credential, with a scope, stored hashed and revocable."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.clock import SYSTEM, Clock
from gateway.store.base import Backend, Tx


@dataclass(frozen=True)
class ClientRow:
    client_id: str
    name: str
    scope: str  # operator | school:<LAESTAB>
    secret_hash: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None


class Clients:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def add(self, client_id: str, name: str, scope: str, secret_hash: str) -> ClientRow:
        row = ClientRow(client_id, name, scope, secret_hash, self.clock.time())

        async def op(tx: Tx) -> None:
            await tx.execute("INSERT INTO api_clients (client_id, name, scope, secret_hash, "
                             "created_at) VALUES (?, ?, ?, ?, ?)", row.client_id, row.name,
                             row.scope, row.secret_hash, row.created_at)
        await self.backend.write(op)
        return row

    async def get(self, client_id: str) -> ClientRow | None:
        async def op(tx: Tx) -> ClientRow | None:
            row = await tx.fetchone("SELECT * FROM api_clients WHERE client_id = ?", client_id)
            return ClientRow(**row) if row else None
        return await self.backend.read(op)

    async def all(self) -> list[ClientRow]:
        async def op(tx: Tx) -> list[ClientRow]:
            rows = await tx.fetchall("SELECT * FROM api_clients ORDER BY created_at")
            return [ClientRow(**r) for r in rows]
        return await self.backend.read(op)

    async def revoke(self, client_id: str) -> bool:
        async def op(tx: Tx) -> bool:
            n = await tx.execute("UPDATE api_clients SET revoked_at = ? WHERE client_id = ? "
                                 "AND revoked_at IS NULL", self.clock.time(), client_id)
            return bool(n)
        return await self.backend.write(op)

    async def used(self, client_id: str, tx: Tx) -> None:
        await tx.execute("UPDATE api_clients SET last_used_at = ? WHERE client_id = ?",
                         self.clock.time(), client_id)
