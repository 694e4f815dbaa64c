"""CTF transfers, their pupils, and the Lost Pupils Database (the hub's lost and
out-of-sector CTFs, with the history of each).

Writes happen inside the inbound transaction (``tx`` from the caller); reads are their own.
Personal data lives only in these tables (and the stored CTF files); it is never logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.core.clock import SYSTEM, Clock
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
    state: str  # held | collected | lpd | forwarded
    spooled_at: float | None = None
    collected_at: float | None = None

    def public(self) -> dict[str, Any]:
        """The row as the operator API shows it (no file system path)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "path"}


@dataclass(frozen=True)
class PupilRow:
    transfer_id: str
    idx: int
    upn: str | None
    former_upn: str | None
    surname: str
    forename: str
    dob: str
    sex: str | None
    postcode: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class LpdEntry:
    transfer_id: str
    kind: str  # lost | out-of-sector
    state: str  # lost | claimed
    source_lea: str
    source_estab: str
    source_name: str | None
    stored_at: float
    claimed_by: str | None = None
    claimed_for: str | None = None
    claimed_at: float | None = None


@dataclass(frozen=True)
class LpdPupil:
    """An LPD entry's pupil, for the hub's search index."""

    transfer_id: str
    kind: str
    state: str
    source_lea: str
    source_estab: str
    source_name: str | None
    upn: str | None
    former_upn: str | None
    surname: str
    forename: str
    dob: str
    sex: str | None
    postcode: str | None


@dataclass(frozen=True)
class LpdEvent:
    at: float
    party: str
    action: str
    detail: str | None


class CtfPupil(Protocol):
    """What ``insert`` needs of a pupil read from a CTF (``gateway.ctf.reader.PupilInfo``)."""

    @property
    def index(self) -> int: ...
    @property
    def upn(self) -> str | None: ...
    @property
    def former_upn(self) -> str | None: ...
    @property
    def surname(self) -> str: ...
    @property
    def forename(self) -> str: ...
    @property
    def dob(self) -> dt.date: ...
    @property
    def sex(self) -> str | None: ...
    @property
    def postcode(self) -> str | None: ...
    @property
    def flags(self) -> Sequence[str]: ...


def _pupil(row: Row) -> PupilRow:
    flags = tuple(row["flags"].split("\n")) if row["flags"] else ()
    return PupilRow(**{**row, "flags": flags})


class Transfers:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    # ---- writes, inside the caller's transaction ---------------------------------------

    @staticmethod
    async def insert(tx: Tx, row: TransferRow, pupils: Iterable[CtfPupil]) -> None:
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

    async def insert_lpd(self, tx: Tx, transfer_id: str, kind: str, source_lea: str,
                         source_estab: str, source_name: str | None, party: str,
                         now: float) -> None:
        await tx.execute(
            "INSERT INTO lpd (transfer_id, kind, state, source_lea, source_estab, source_name, "
            "stored_at) VALUES (?, ?, 'lost', ?, ?, ?, ?)",
            transfer_id, kind, source_lea, source_estab, source_name, now)
        await self.history(tx, transfer_id, party, "stored",
                           f"{kind} CTF from {source_lea}{source_estab}", now)

    @staticmethod
    async def history(tx: Tx, transfer_id: str, party: str, action: str, detail: str | None,
                      now: float) -> None:
        await tx.execute("INSERT INTO lpd_history (transfer_id, at, party, action, detail) "
                         "VALUES (?, ?, ?, ?, ?)", transfer_id, now, party, action, detail)

    async def claim(self, tx: Tx, transfer_id: str, party: str, for_school: str,
                    now: float) -> None:
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
        await self.history(tx, transfer_id, party, "claimed", f"for school {for_school}", now)

    # ---- reads ---------------------------------------------------------------------------

    async def get(self, transfer_id: str) -> TransferRow | None:
        async def op(tx: Tx) -> TransferRow | None:
            row = await tx.fetchone("SELECT * FROM transfers WHERE transfer_id = ?",
                                    transfer_id)
            return TransferRow(**row) if row else None
        return await self.backend.read(op)

    async def pupils(self, transfer_id: str) -> list[PupilRow]:
        async def op(tx: Tx) -> list[PupilRow]:
            rows = await tx.fetchall("SELECT * FROM ctf_pupils WHERE transfer_id = ? "
                                     "ORDER BY idx", transfer_id)
            return [_pupil(r) for r in rows]
        return await self.backend.read(op)

    async def held(self, school: str | None = None, limit: int = 100) -> list[TransferRow]:
        """CTFs held at this LA for a school to collect, newest first."""
        async def op(tx: Tx) -> list[TransferRow]:
            sql = "SELECT * FROM transfers WHERE state IN ('held', 'collected')"
            args: list[Any] = []
            if school:
                sql += " AND for_school = ?"
                args.append(school)
            sql += " ORDER BY received_at DESC LIMIT ?"
            return [TransferRow(**r) for r in await tx.fetchall(sql, *args, limit)]
        return await self.backend.read(op)

    async def unspooled_held(self) -> list[TransferRow]:
        async def op(tx: Tx) -> list[TransferRow]:
            rows = await tx.fetchall("SELECT * FROM transfers WHERE state = 'held' "
                                     "AND spooled_at IS NULL LIMIT 50")
            return [TransferRow(**r) for r in rows]
        return await self.backend.read(op)

    async def mark_spooled(self, transfer_id: str) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute("UPDATE transfers SET spooled_at = ? WHERE transfer_id = ?",
                             self.clock.time(), transfer_id)
        await self.backend.write(op)

    async def mark_collected(self, transfer_id: str) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute("UPDATE transfers SET collected_at = ?, state = 'collected' "
                             "WHERE transfer_id = ?", self.clock.time(), transfer_id)
        await self.backend.write(op)

    async def lpd_pupils(self) -> list[LpdPupil]:
        async def op(tx: Tx) -> list[LpdPupil]:
            rows = await tx.fetchall(
                "SELECT l.transfer_id, l.kind, l.state, l.source_lea, l.source_estab, "
                "l.source_name, p.upn, p.former_upn, p.surname, p.forename, p.dob, p.sex, "
                "p.postcode FROM lpd l JOIN ctf_pupils p ON p.transfer_id = l.transfer_id")
            return [LpdPupil(**r) for r in rows]
        return await self.backend.read(op)

    async def lpd_version(self) -> tuple[int, float]:
        """Changes when entries are added: (count, newest time)."""
        async def op(tx: Tx) -> tuple[int, float]:
            row = await tx.fetchone("SELECT COUNT(*) AS n, MAX(stored_at) AS t FROM lpd")
            assert row is not None
            return int(row["n"]), float(row["t"] or 0.0)
        return await self.backend.read(op)

    async def lpd_entry(self, transfer_id: str) -> LpdEntry | None:
        async def op(tx: Tx) -> LpdEntry | None:
            row = await tx.fetchone("SELECT * FROM lpd WHERE transfer_id = ?", transfer_id)
            return LpdEntry(**row) if row else None
        return await self.backend.read(op)

    async def lpd_history(self, transfer_id: str) -> list[LpdEvent]:
        async def op(tx: Tx) -> list[LpdEvent]:
            rows = await tx.fetchall("SELECT at, party, action, detail FROM lpd_history "
                                     "WHERE transfer_id = ? ORDER BY id", transfer_id)
            return [LpdEvent(**r) for r in rows]
        return await self.backend.read(op)
