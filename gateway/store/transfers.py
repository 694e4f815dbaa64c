"""CTF transfers, their pupils, and the Lost Pupils Database (the hub's lost and
out-of-sector CTFs, with the history of each).

Writes happen inside the inbound transaction (``tx`` from the caller); reads are their own.
Personal data lives only in these tables (and the stored CTF files); it is never logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.core.clock import SYSTEM, Clock
from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Row, Tx

log = logging.getLogger(__name__)
LOST_KINDS = ("lost", "out-of-sector")
# The states of a case still looking for a child (``store.cases.CaseState``): a lost CTF
# whose case is in one of them is still lost at this LA.
_LOOKING = ("referred", "logged", "unknown", "whereabouts-unknown")

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
    # held | collected | lpd | forwarded | undelivered (forwarded, and the forward failed or
    # expired: resend it from the outbox or with ``cme-gateway ctf resend``)
    state: str
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
    delivery_failed_at: float | None = None  # the claimed CTF's delivery failed or expired


@dataclass(frozen=True)
class Undelivered:
    """A CTF this gateway took on but could not pass on: a forward, or an LPD claim's
    delivery (no personal data: for the operator's diagnostics)."""

    transfer_id: str
    what: str  # forwarded | claimed
    recipient: str | None
    source: str
    since: float | None


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
                    now: float) -> bool:
        """Mark an LPD entry claimed, once; or claimed again by the LA that claimed it when
        its delivery failed or expired (``delivery_failed_at``). True for the first claim.
        Raises lpd-not-found / lpd-already-claimed."""
        n = await tx.execute(
            "UPDATE lpd SET state = 'claimed', claimed_by = ?, claimed_for = ?, claimed_at = ? "
            "WHERE transfer_id = ? AND state = 'lost'", party, for_school, now, transfer_id)
        if n == 1:
            await self.history(tx, transfer_id, party, "claimed", f"for school {for_school}",
                               now)
            return True
        n = await tx.execute(
            "UPDATE lpd SET claimed_for = ?, claimed_at = ?, delivery_failed_at = NULL "
            "WHERE transfer_id = ? AND state = 'claimed' AND claimed_by = ? "
            "AND delivery_failed_at IS NOT NULL", for_school, now, transfer_id, party)
        if n == 1:
            await self.history(tx, transfer_id, party, "claimed-again",
                               f"for school {for_school}: the last delivery was not made", now)
            return False
        cur = await tx.fetchone("SELECT state, claimed_by FROM lpd WHERE transfer_id = ?",
                                transfer_id)
        if cur is None:
            raise GatewayError("lpd-not-found", f"transfer {transfer_id}")
        raise GatewayError("lpd-already-claimed", f"claimed by LA {cur['claimed_by']}")

    async def first_lost(self, tx: Tx, source_lea: str, source_estab: str, digest: str,
                         transfer_id: str) -> tuple[str, str | None]:
        """Record ``transfer_id`` as the lost or out-of-sector CTF ``digest`` of school
        ``source_lea``/``source_estab`` unless one is recorded already and still lost;
        returns (the one recorded, the earlier one it replaced or None). ``transfer_id``
        is recorded when it is the first, or when the one recorded is no longer lost (its
        LPD entry claimed; at an LA, the case opened for it located or closed): the same
        file posted again then is the child missing again, a new event, and is stored as
        new. While the first is still lost a repeat is a retry (the caller stores nothing).
        Concurrent transactions wait on the primary key (and the guarded replacement), so
        one CTF is stored once however many processes take it."""
        for _ in range(3):
            got = await tx.fetchone(
                "INSERT INTO ctf_lost_once (source_lea, source_estab, digest, transfer_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (source_lea, source_estab, digest) DO NOTHING "
                "RETURNING transfer_id", source_lea, source_estab, digest, transfer_id)
            if got is not None:
                return transfer_id, None
            row = await tx.fetchone(
                "SELECT transfer_id FROM ctf_lost_once WHERE source_lea = ? "
                "AND source_estab = ? AND digest = ?", source_lea, source_estab, digest)
            if row is None:
                continue  # (not on any store this code runs on: the row is never deleted)
            first = str(row["transfer_id"])
            if first == transfer_id or await self._still_lost(tx, first):
                return first, None
            if await tx.execute(
                    "UPDATE ctf_lost_once SET transfer_id = ? WHERE source_lea = ? "
                    "AND source_estab = ? AND digest = ? AND transfer_id = ?",
                    transfer_id, source_lea, source_estab, digest, first):
                return transfer_id, first
            # another transaction replaced it first: look again
        raise GatewayError("store-unavailable", "ctf_lost_once kept changing")

    @staticmethod
    async def _still_lost(tx: Tx, transfer_id: str) -> bool:
        """Whether the lost CTF ``transfer_id`` is still lost: at the hub its LPD entry is
        ``lost``; at an LA a case opened for it is still looking for the child (referred,
        logged, unknown, whereabouts unknown), or none was opened (nothing says it was
        found)."""
        entry = await tx.fetchone("SELECT state FROM lpd WHERE transfer_id = ?", transfer_id)
        if entry is not None:
            return bool(entry["state"] == "lost")
        rows = await tx.fetchall("SELECT status FROM cases WHERE transfer_id = ?", transfer_id)
        return not rows or any(r["status"] in _LOOKING for r in rows)

    @classmethod
    async def not_delivered(cls, tx: Tx, payload_path: str, message_id: str,
                            recipient: str, reason: str, now: float) -> list[str]:
        """The outbox row ``message_id`` that sent a stored CTF (``payload_path``) to
        ``recipient`` failed or expired: mark a forwarded transfer ``undelivered``, and a
        claimed LPD entry's delivery as failed (the claiming LA may claim it again; the hub
        may resend it). Returns the transfers marked. Inside the outbox's transaction."""
        rows = await tx.fetchall("SELECT transfer_id, state FROM transfers WHERE path = ?",
                                 payload_path)
        marked: list[str] = []
        for r in rows:
            tid = r["transfer_id"]
            detail = f"transfer {message_id} to {recipient}: {reason}"[:500]
            if r["state"] == "forwarded":
                if await tx.execute("UPDATE transfers SET state = 'undelivered' WHERE "
                                    "transfer_id = ? AND state = 'forwarded'", tid):
                    await cls.history(tx, tid, recipient, "not-delivered", detail, now)
                    marked.append(tid)
            elif r["state"] == "lpd":
                if await tx.execute("UPDATE lpd SET delivery_failed_at = ? WHERE "
                                    "transfer_id = ? AND state = 'claimed' AND claimed_by = ?",
                                    now, tid, recipient):
                    await cls.history(tx, tid, recipient, "not-delivered", detail, now)
                    marked.append(tid)
        for tid in marked:  # ids and codes only: never a child's data
            log.warning("ctf not delivered: transfer=%s message=%s to=%s (%s); resend with "
                        "'cme-gateway ctf resend %s'", tid, message_id, recipient,
                        reason[:200], message_id)
        return marked

    async def resent(self, tx: Tx, transfer_id: str, message_id: str, recipient: str,
                     actor: str, now: float) -> None:
        """A CTF that was not delivered is queued again (outbox row ``message_id``, in the
        caller's transaction): a forward marked ``undelivered`` goes back to ``forwarded``, a
        claimed LPD entry's failed delivery to ``recipient`` is cleared. Each change is
        guarded (it applies only while the mark is still there), and when neither applies
        this raises ``invalid-state`` and the caller's transaction, with the new Transfer,
        rolls back: of two resends at once (two operators, two processes), or a resend and
        the claiming LA's claim again, exactly one sends the CTF."""
        n = await tx.execute("UPDATE transfers SET state = 'forwarded' WHERE transfer_id = ? "
                             "AND state = 'undelivered'", transfer_id)
        if not n:
            n = await tx.execute(
                "UPDATE lpd SET delivery_failed_at = NULL WHERE transfer_id = ? "
                "AND state = 'claimed' AND claimed_by = ? AND delivery_failed_at IS NOT NULL",
                transfer_id, recipient)
        if not n:
            raise GatewayError("invalid-state", f"transfer {transfer_id} is not marked "
                               f"undelivered to {recipient}: it was sent again already (a "
                               "resend, or the LA's claim again)")
        await self.history(tx, transfer_id, actor, "resent",
                           f"as transfer {message_id} to {recipient}", now)

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

    async def by_path(self, payload_path: str) -> TransferRow | None:
        """The transfer whose stored payload is ``payload_path`` (None for a file that
        ``ctf post`` sends, which is no transfer of this gateway's)."""
        async def op(tx: Tx) -> TransferRow | None:
            row = await tx.fetchone("SELECT * FROM transfers WHERE path = ? "
                                    "ORDER BY received_at LIMIT 1", payload_path)
            return TransferRow(**row) if row else None
        return await self.backend.read(op)

    async def undelivered(self, limit: int = 100) -> list[Undelivered]:
        """CTFs taken on here that were not passed on (the diagnostics): forwards marked
        ``undelivered`` and claimed LPD entries whose delivery failed, oldest first."""
        async def op(tx: Tx) -> list[Undelivered]:
            last = ("(SELECT {} FROM lpd_history h WHERE h.transfer_id = t.transfer_id "
                    "AND h.action = 'not-delivered' ORDER BY h.id DESC LIMIT 1)")
            fwd = await tx.fetchall(
                f"SELECT t.transfer_id, t.source_lea, t.source_estab, "
                f"{last.format('party')} AS party, {last.format('at')} AS at "
                f"FROM transfers t WHERE t.state = 'undelivered' ORDER BY t.received_at "
                f"LIMIT ?", limit)
            lpd = await tx.fetchall(
                "SELECT transfer_id, claimed_by, source_lea, source_estab, delivery_failed_at "
                "FROM lpd WHERE delivery_failed_at IS NOT NULL ORDER BY delivery_failed_at "
                "LIMIT ?", limit)
            return ([Undelivered(r["transfer_id"], "forwarded", r["party"],
                                 r["source_lea"] + r["source_estab"], r["at"])
                     for r in fwd]
                    + [Undelivered(r["transfer_id"], "claimed", r["claimed_by"],
                                   r["source_lea"] + r["source_estab"],
                                   r["delivery_failed_at"]) for r in lpd])
        return await self.backend.read(op)

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
