"""Store operations for CTF transfers, the Lost Pupils Database and CME cases.

Like ``Store``, written once in portable SQL against ``Tx``. Personal data lives only in these
tables (and the stored CTF files); it is never logged.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Row, Tx


@dataclass(frozen=True)
class TransferRow:
    transfer_id: str
    sender: str
    purpose: str
    version: str
    source_lea: str
    source_estab: str
    dest_lea: str
    dest_estab: str
    destination: str
    for_school: str | None
    pupils: int
    flagged: int
    size_bytes: int
    digest: str
    path: str
    received_at: float
    state: str


@dataclass(frozen=True)
class Case:
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


async def insert_transfer(tx: Tx, row: TransferRow, pupils: list[Any]) -> None:
    await tx.execute(
        "INSERT INTO transfers (transfer_id, sender, purpose, version, source_lea, "
        "source_estab, dest_lea, dest_estab, destination, for_school, pupils, flagged, "
        "size_bytes, digest, path, received_at, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row.transfer_id, row.sender, row.purpose, row.version, row.source_lea,
        row.source_estab, row.dest_lea, row.dest_estab, row.destination, row.for_school,
        row.pupils, row.flagged, row.size_bytes, row.digest, row.path, row.received_at,
        row.state)
    for p in pupils:
        await tx.execute(
            "INSERT INTO ctf_pupils (transfer_id, idx, upn, former_upn, surname, forename, "
            "dob, sex, postcode, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row.transfer_id, p.index, p.upn, p.former_upn, p.surname, p.forename,
            p.dob.isoformat(), p.sex, p.postcode, "\n".join(p.flags) or None)


async def insert_lpd(tx: Tx, transfer_id: str, kind: str, source_lea: str, source_estab: str,
                     source_name: str | None, party: str, now: float) -> None:
    await tx.execute(
        "INSERT INTO lpd (transfer_id, kind, state, source_lea, source_estab, source_name, "
        "stored_at) VALUES (?, ?, 'lost', ?, ?, ?, ?)",
        transfer_id, kind, source_lea, source_estab, source_name, now)
    await history(tx, transfer_id, party, "stored", f"{kind} CTF from {source_lea}{source_estab}",
                  now)


async def history(tx: Tx, transfer_id: str, party: str, action: str, detail: str | None,
                  now: float) -> None:
    await tx.execute("INSERT INTO lpd_history (transfer_id, at, party, action, detail) "
                     "VALUES (?, ?, ?, ?, ?)", transfer_id, now, party, action, detail)


async def claim(tx: Tx, transfer_id: str, party: str, for_school: str, now: float) -> Row:
    """Mark an LPD entry claimed, once. Raises lpd-not-found / lpd-already-claimed."""
    n = await tx.execute(
        "UPDATE lpd SET state = 'claimed', claimed_by = ?, claimed_for = ?, claimed_at = ? "
        "WHERE transfer_id = ? AND state = 'lost'", party, for_school, now, transfer_id)
    if n != 1:
        cur = await tx.fetchone("SELECT state, claimed_by FROM lpd WHERE transfer_id = ?",
                                transfer_id)
        if cur is None:
            raise GatewayError("lpd-not-found", f"transfer {transfer_id}")
        raise GatewayError("lpd-already-claimed", f"claimed by LA {cur['claimed_by']}")
    await history(tx, transfer_id, party, "claimed", f"for school {for_school}", now)
    row = await tx.fetchone("SELECT t.path, t.digest, t.size_bytes FROM transfers t "
                            "WHERE t.transfer_id = ?", transfer_id)
    assert row is not None
    return row


async def open_case(tx: Tx, case: Case, now: float | None = None) -> str | None:
    """Open a case; None if one is already open for the same transfer (a resend)."""
    case_id = str(uuid.uuid4())
    row = await tx.fetchone(
        "INSERT INTO cases (case_id, opened_at, category, reason, source, transfer_id, "
        "message_id, upn, surname, forename, dob, sex, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') "
        "ON CONFLICT (transfer_id) DO NOTHING RETURNING case_id",
        case_id, now or time.time(), case.category, case.reason, case.source, case.transfer_id,
        case.message_id, case.upn, case.surname, case.forename, case.dob, case.sex)
    return row["case_id"] if row else None


class CtfStore:
    """Reads over the CTF tables (writes happen inside the inbound transaction)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def lpd_entries(self) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall(
                "SELECT l.transfer_id, l.kind, l.state, l.source_lea, l.source_estab, "
                "l.source_name, p.upn, p.former_upn, p.surname, p.forename, p.dob, p.sex, "
                "p.postcode FROM lpd l JOIN ctf_pupils p ON p.transfer_id = l.transfer_id")
        return await self.backend.read(op)

    async def lpd_version(self) -> tuple[int, float]:
        async def op(tx: Tx) -> tuple[int, float]:
            row = await tx.fetchone("SELECT COUNT(*) AS n, MAX(stored_at) AS t FROM lpd")
            assert row is not None
            return int(row["n"]), float(row["t"] or 0.0)
        return await self.backend.read(op)

    async def lpd_history(self, transfer_id: str) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall("SELECT at, party, action, detail FROM lpd_history "
                                     "WHERE transfer_id = ? ORDER BY id", transfer_id)
        return await self.backend.read(op)

    async def lpd_entry(self, transfer_id: str) -> Row | None:
        async def op(tx: Tx) -> Row | None:
            return await tx.fetchone("SELECT * FROM lpd WHERE transfer_id = ?", transfer_id)
        return await self.backend.read(op)

    async def transfer(self, transfer_id: str) -> Row | None:
        async def op(tx: Tx) -> Row | None:
            return await tx.fetchone("SELECT * FROM transfers WHERE transfer_id = ?",
                                     transfer_id)
        return await self.backend.read(op)

    async def pupils(self, transfer_id: str) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall("SELECT * FROM ctf_pupils WHERE transfer_id = ? "
                                     "ORDER BY idx", transfer_id)
        return await self.backend.read(op)

    async def held(self, school: str | None = None, limit: int = 100) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            sql = ("SELECT transfer_id, sender, purpose, version, source_lea, source_estab, "
                   "for_school, pupils, flagged, size_bytes, received_at, state, collected_at "
                   "FROM transfers WHERE state IN ('held', 'collected')")
            args: list[Any] = []
            if school:
                sql += " AND for_school = ?"
                args.append(school)
            sql += " ORDER BY received_at DESC LIMIT ?"
            return await tx.fetchall(sql, *args, limit)
        return await self.backend.read(op)

    async def unspooled_held(self) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall("SELECT transfer_id, for_school, path FROM transfers "
                                     "WHERE state = 'held' AND spooled_at IS NULL LIMIT 50")
        return await self.backend.read(op)

    async def mark(self, transfer_id: str, column: str) -> None:
        assert column in ("spooled_at", "collected_at")

        async def op(tx: Tx) -> None:
            extra = ", state = 'collected'" if column == "collected_at" else ""
            await tx.execute(f"UPDATE transfers SET {column} = ?{extra} WHERE transfer_id = ?",
                             time.time(), transfer_id)
        await self.backend.write(op)

    async def cases(self, limit: int = 100) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall("SELECT * FROM cases ORDER BY opened_at DESC LIMIT ?",
                                     limit)
        return await self.backend.read(op)
