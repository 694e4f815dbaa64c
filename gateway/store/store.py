"""Domain operations on the store, written once for every backend.

Outbound states move forward only::

    queued -> sending -> delivered -> answered -> closed
    queued|sending -> failed (a signed Error from the partner)
    queued|sending -> expired (no receipt before the expiry: a dead letter)

Every transition is an UPDATE guarded by the states it may come from, so a late or repeated
update (a second sender, a stale lease) can never move a message backwards, and each one
appends a row to ``outbound_events``: the history the status page shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Row, Tx
from gateway.store.ctf_ops import CtfStore
from gateway.store.migrations import MIGRATIONS
from gateway.store.records_ops import RecordStore

FORWARD: dict[str, tuple[str, ...]] = {
    "sending": ("queued", "sending"),
    "delivered": ("sending",),
    # A reply proves delivery, even if our receipt bookkeeping has not caught up yet.
    "answered": ("queued", "sending", "delivered"),
    "closed": ("answered",),
    "failed": ("queued", "sending"),
    "expired": ("queued", "sending"),
}
OPEN_STATES = ("queued", "sending")
FINAL_STATES = ("delivered", "answered", "closed", "failed", "expired")
STATES = ("queued", "sending", "delivered", "answered", "closed", "failed", "expired")

_OUT_COLUMNS = ("message_id, recipient, message_type, conversation_id, in_reply_to, created_at, "
                "state, attempts, next_attempt_at, lease_until, lease_owner, expires_at, "
                "last_error, error_code, digest, delivered_at, answered_at, answered_by, "
                "outcomes, spool_name, spool_done, updated_at, payload_path")


@dataclass(frozen=True)
class InboundRow:
    message_id: str
    sender: str
    recipient: str
    message_type: str
    conversation_id: str
    in_reply_to: str | None
    created_at: float
    received_at: float
    digest: str
    body: bytes
    receipt: bytes
    replied_by: str | None = None


@dataclass(frozen=True)
class OutboundRow:
    message_id: str
    recipient: str
    message_type: str
    conversation_id: str
    in_reply_to: str | None
    created_at: float
    state: str
    attempts: int
    next_attempt_at: float
    expires_at: float
    digest: str
    body: bytes = b""
    lease_until: float | None = None
    lease_owner: str | None = None
    last_error: str | None = None
    error_code: str | None = None
    receipt: bytes | None = None
    delivered_at: float | None = None
    answered_at: float | None = None
    answered_by: str | None = None
    outcomes: str | None = None
    spool_name: str | None = None
    spool_done: int = 0
    updated_at: float = 0.0
    payload_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("body", "receipt")}
        d["outcomes"] = json.loads(self.outcomes) if self.outcomes else None
        return d


@dataclass(frozen=True)
class AcceptResult:
    receipt: bytes
    duplicate: bool


def _plain(row: Row) -> dict[str, Any]:
    return {k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in row.items()}


def _out(row: Row) -> OutboundRow:
    return OutboundRow(**_plain(row))


def _in(row: Row) -> InboundRow:
    return InboundRow(**{k: v for k, v in _plain(row).items()
                         if k not in ("spooled_at", "matched_at")})


class Store:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.ctf = CtfStore(backend)
        self.records = RecordStore(backend)

    async def open(self) -> Store:
        await self.backend.open(MIGRATIONS)
        return self

    async def close(self) -> None:
        await self.backend.close()

    # ---- inbound -------------------------------------------------------------------------

    async def accept_inbound(self, row: InboundRow, outcomes: str | None = None,
                             also: Any = None) -> AcceptResult:
        """Durably store an inbound message, or recognise a resend of one.

        Same id and same digest: the original receipt. Same id, other digest:
        ``duplicate-conflict``. A Reply (``outcomes`` set) moves the enquiry it answers to
        ``answered``. ``also(tx)`` runs in the same transaction, for a new message only: what
        the message causes (an enquiry answered, a case opened, a CTF routed) commits with the
        message, or not at all."""

        async def op(tx: Tx) -> AcceptResult:
            inserted = await tx.fetchone(
                "INSERT INTO inbound (message_id, sender, recipient, message_type, "
                "conversation_id, in_reply_to, created_at, received_at, digest, body, receipt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
                row.message_id, row.sender, row.recipient, row.message_type,
                row.conversation_id, row.in_reply_to, row.created_at, row.received_at,
                row.digest, row.body, row.receipt)
            if inserted is None:
                old = await tx.fetchone("SELECT digest, receipt, sender FROM inbound "
                                        "WHERE message_id = ?", row.message_id)
                assert old is not None
                if old["digest"] != row.digest or old["sender"] != row.sender:
                    raise GatewayError("duplicate-conflict", f"message {row.message_id}")
                return AcceptResult(bytes(old["receipt"]), duplicate=True)
            if outcomes is not None and row.in_reply_to:
                await self.answer(tx, row.in_reply_to, row.sender, row.message_id, outcomes,
                                  row.received_at)
            if also is not None:
                await also(tx)
            return AcceptResult(row.receipt, duplicate=False)

        return await self.backend.write(op)

    async def answer(self, tx: Tx, enquiry_id: str, replier: str, reply_id: str,
                     outcomes: str, now: float) -> None:
        """Link a Reply to our Enquiry. Later replies (e.g. "now found") update the outcomes."""
        cur = await tx.fetchone("SELECT state, recipient FROM outbound WHERE message_id = ?",
                                enquiry_id)
        if cur is None or cur["recipient"] != replier:
            return  # not ours, or from another party: stored, but it answers nothing
        if cur["state"] == "answered":
            await tx.execute("UPDATE outbound SET outcomes = ?, answered_by = ?, updated_at = ? "
                             "WHERE message_id = ?", outcomes, reply_id, now, enquiry_id)
            await self._event(tx, enquiry_id, "answered", "answered", f"reply {reply_id}", now)
            return
        await self._move(tx, enquiry_id, "answered", f"reply {reply_id}", now,
                         "answered_at = ?, answered_by = ?, outcomes = ?",
                         (now, reply_id, outcomes))

    async def get_inbound(self, message_id: str) -> InboundRow | None:
        async def op(tx: Tx) -> InboundRow | None:
            row = await tx.fetchone("SELECT * FROM inbound WHERE message_id = ?", message_id)
            return _in(row) if row else None
        return await self.backend.read(op)

    async def list_inbound(self, limit: int = 50, message_type: str | None = None,
                           before: float | None = None) -> list[InboundRow]:
        async def op(tx: Tx) -> list[InboundRow]:
            sql = ("SELECT message_id, sender, recipient, message_type, conversation_id, "
                   "in_reply_to, created_at, received_at, digest, replied_by FROM inbound "
                   "WHERE 1 = 1")
            args: list[Any] = []
            if message_type:
                sql += " AND message_type = ?"
                args.append(message_type)
            if before is not None:
                sql += " AND received_at < ?"
                args.append(before)
            sql += " ORDER BY received_at DESC LIMIT ?"
            args.append(limit)
            return [InboundRow(body=b"", receipt=b"", **r) for r in await tx.fetchall(sql, *args)]
        return await self.backend.read(op)

    async def unspooled(self, limit: int = 100) -> list[InboundRow]:
        async def op(tx: Tx) -> list[InboundRow]:
            rows = await tx.fetchall("SELECT * FROM inbound WHERE spooled_at IS NULL "
                                     "ORDER BY received_at LIMIT ?", limit)
            return [_in(r) for r in rows]
        return await self.backend.read(op)

    async def mark_spooled(self, message_ids: Sequence[str]) -> None:
        now = time.time()

        async def op(tx: Tx) -> None:
            for mid in message_ids:
                await tx.execute("UPDATE inbound SET spooled_at = ? WHERE message_id = ?",
                                 now, mid)
        await self.backend.write(op)

    async def set_replied(self, tx: Tx, enquiry_id: str, reply_id: str) -> None:
        await tx.execute("UPDATE inbound SET replied_by = ? WHERE message_id = ?",
                         reply_id, enquiry_id)

    # ---- outbound ------------------------------------------------------------------------

    async def enqueue(self, row: OutboundRow, *, also: Any = None) -> None:
        """Queue a signed message. ``also(tx)`` runs in the same transaction: the change
        that caused the message and the message itself commit together."""

        async def op(tx: Tx) -> None:
            await self.insert_outbound(tx, row)
            if also is not None:
                await also(tx)

        await self.backend.write(op)

    async def insert_outbound(self, tx: Tx, row: OutboundRow) -> None:
        """Queue ``row`` inside a transaction that the caller owns."""
        inserted = await tx.fetchone(
            "INSERT INTO outbound (message_id, recipient, message_type, conversation_id, "
            "in_reply_to, created_at, state, attempts, next_attempt_at, expires_at, body, "
            "digest, spool_name, payload_path, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            row.message_id, row.recipient, row.message_type, row.conversation_id,
            row.in_reply_to, row.created_at, row.next_attempt_at, row.expires_at, row.body,
            row.digest, row.spool_name, row.payload_path, row.created_at)
        if inserted is None:
            raise GatewayError("duplicate-conflict",
                               f"message {row.message_id} is already in the outbox")
        await self._event(tx, row.message_id, None, "queued", None, row.created_at)

    async def claim_due(self, now: float, owner: str, lease_seconds: float, limit: int,
                        exclude: Sequence[str] = (), only: str | None = None
                        ) -> list[OutboundRow]:
        """Lease up to ``limit`` due messages to ``owner``. A lease that runs out (its owner
        crashed) makes the message due again, and the receiver's de-duplication absorbs the
        resend."""

        async def op(tx: Tx) -> list[OutboundRow]:
            where = ("state IN ('queued', 'sending') AND next_attempt_at <= ? "
                     "AND (lease_until IS NULL OR lease_until < ?)")
            args: list[Any] = [now, now]
            if exclude:
                where += f" AND recipient NOT IN ({', '.join('?' * len(exclude))})"
                args.extend(exclude)
            if only is not None:
                where += " AND recipient = ?"
                args.append(only)
            # The due rows are picked once, in a materialised CTE: a plain ``IN (SELECT ...
            # LIMIT ...)`` sub-select may be re-run by PostgreSQL's planner (the inner side of
            # a nested loop) and claim more than ``limit``. On PostgreSQL the pick locks its
            # rows and skips rows another claimer holds (``FOR UPDATE SKIP LOCKED``); a row
            # another claimer committed meanwhile is re-checked against ``where`` on its new
            # version, so its fresh lease excludes it. On SQLite the write lock serialises
            # claimers. Portable: SQLite 3.35+ and PostgreSQL 12+.
            rows = await tx.fetchall(
                f"WITH due AS MATERIALIZED (SELECT message_id FROM outbound WHERE {where} "
                f"ORDER BY next_attempt_at LIMIT ?{tx.dialect.skip_locked}) "
                f"UPDATE outbound SET state = 'sending', lease_until = ?, lease_owner = ?, "
                f"attempts = attempts + 1, updated_at = ? "
                f"WHERE message_id IN (SELECT message_id FROM due) RETURNING *",
                *args, limit, now + lease_seconds, owner, now)
            for r in rows:
                if r["attempts"] == 1:
                    await self._event(tx, r["message_id"], "queued", "sending", None, now)
            return [_out(r) for r in rows]

        return await self.backend.write(op)

    async def mark_delivered(self, message_id: str, receipt: bytes, now: float) -> bool:
        async def op(tx: Tx) -> bool:
            moved = await self._move(tx, message_id, "delivered", None, now,
                                     "receipt = ?, delivered_at = ?, lease_until = NULL",
                                     (receipt, now))
            if not moved:  # answered first: keep the receipt, do not move backwards
                await tx.execute("UPDATE outbound SET receipt = ?, delivered_at = ?, "
                                 "lease_until = NULL WHERE message_id = ? AND receipt IS NULL "
                                 "AND state IN ('answered', 'closed')", receipt, now, message_id)
            return moved
        return await self.backend.write(op)

    async def mark_retry(self, message_id: str, owner: str, next_at: float, error: str,
                         now: float) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute(
                "UPDATE outbound SET next_attempt_at = ?, lease_until = NULL, last_error = ?, "
                "updated_at = ? WHERE message_id = ? AND state = 'sending' AND lease_owner = ?",
                next_at, error[:500], now, message_id, owner)
        await self.backend.write(op)

    async def release(self, message_id: str, owner: str, now: float) -> None:
        """Give back a lease unused (e.g. a circuit opened before the attempt)."""
        async def op(tx: Tx) -> None:
            await tx.execute(
                "UPDATE outbound SET lease_until = NULL, attempts = attempts - 1, updated_at = ? "
                "WHERE message_id = ? AND state = 'sending' AND lease_owner = ?",
                now, message_id, owner)
        await self.backend.write(op)

    async def mark_failed(self, message_id: str, code: str, reason: str, now: float) -> bool:
        async def op(tx: Tx) -> bool:
            return await self._move(tx, message_id, "failed", f"{code}: {reason}", now,
                                    "error_code = ?, last_error = ?, lease_until = NULL",
                                    (code, reason[:500]))
        return await self.backend.write(op)

    async def expire_due(self, now: float) -> list[str]:
        async def op(tx: Tx) -> list[str]:
            rows = await tx.fetchall(
                "SELECT message_id, last_error FROM outbound WHERE state IN ('queued', "
                "'sending') AND expires_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
                now, now)
            for r in rows:
                reason = f"no receipt before expiry; last error: {r['last_error'] or 'none'}"
                await self._move(tx, r["message_id"], "expired", reason, now,
                                 "error_code = 'expired', last_error = ?", (reason[:500],))
            return [r["message_id"] for r in rows]
        return await self.backend.write(op)

    async def _move(self, tx: Tx, message_id: str, to: str, reason: str | None, now: float,
                    extra_sql: str = "", extra_args: tuple[Any, ...] = ()) -> bool:
        allowed = FORWARD[to]
        cur = await tx.fetchone("SELECT state FROM outbound WHERE message_id = ?", message_id)
        if cur is None or cur["state"] not in allowed:
            return False
        sets = f"state = ?, updated_at = ?{', ' + extra_sql if extra_sql else ''}"
        n = await tx.execute(
            f"UPDATE outbound SET {sets} WHERE message_id = ? AND state = ?",
            to, now, *extra_args, message_id, cur["state"])
        if n:
            await self._event(tx, message_id, cur["state"], to, reason, now)
        return bool(n)

    async def _event(self, tx: Tx, message_id: str, frm: str | None, to: str,
                     reason: str | None, now: float) -> None:
        await tx.execute("INSERT INTO outbound_events (message_id, at, from_state, to_state, "
                         "reason) VALUES (?, ?, ?, ?, ?)", message_id, now, frm, to, reason)

    async def get_outbound(self, message_id: str, with_body: bool = False
                           ) -> OutboundRow | None:
        cols = "*" if with_body else _OUT_COLUMNS

        async def op(tx: Tx) -> OutboundRow | None:
            row = await tx.fetchone(f"SELECT {cols} FROM outbound WHERE message_id = ?",
                                    message_id)
            return _out(row) if row else None
        return await self.backend.read(op)

    async def events(self, message_id: str) -> list[Row]:
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall("SELECT at, from_state, to_state, reason FROM "
                                     "outbound_events WHERE message_id = ? ORDER BY id",
                                     message_id)
        return await self.backend.read(op)

    async def list_outbound(self, *, state: str | None = None, recipient: str | None = None,
                            limit: int = 50, before: tuple[float, str] | None = None
                            ) -> list[OutboundRow]:
        """Newest first, keyset-paginated on (created_at, message_id)."""
        async def op(tx: Tx) -> list[OutboundRow]:
            sql = f"SELECT {_OUT_COLUMNS} FROM outbound WHERE 1 = 1"
            args: list[Any] = []
            if state:
                sql += " AND state = ?"
                args.append(state)
            if recipient:
                sql += " AND recipient = ?"
                args.append(recipient)
            if before is not None:
                sql += " AND (created_at < ? OR (created_at = ? AND message_id < ?))"
                args.extend([before[0], before[0], before[1]])
            sql += " ORDER BY created_at DESC, message_id DESC LIMIT ?"
            args.append(limit)
            return [_out(r) for r in await tx.fetchall(sql, *args)]
        return await self.backend.read(op)

    async def spool_pending(self) -> list[OutboundRow]:
        async def op(tx: Tx) -> list[OutboundRow]:
            rows = await tx.fetchall(
                f"SELECT {_OUT_COLUMNS} FROM outbound WHERE spool_name IS NOT NULL "
                f"AND spool_done = 0 AND state IN ('delivered', 'answered', 'closed', "
                f"'failed', 'expired') LIMIT 100")
            return [_out(r) for r in rows]
        return await self.backend.read(op)

    async def mark_spool_done(self, message_id: str) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute("UPDATE outbound SET spool_done = 1 WHERE message_id = ?",
                             message_id)
        await self.backend.write(op)

    async def counts(self) -> dict[str, int]:
        async def op(tx: Tx) -> dict[str, int]:
            rows = await tx.fetchall("SELECT state, COUNT(*) AS n FROM outbound GROUP BY state")
            return {r["state"]: int(r["n"]) for r in rows}
        return await self.backend.read(op)

    # ---- audit ---------------------------------------------------------------------------

    async def audit(self, actor: str, action: str, message_id: str | None = None,
                    detail: str | None = None, tx: Tx | None = None) -> None:
        async def op(t: Tx) -> None:
            await t.execute("INSERT INTO audit (at, actor, action, message_id, detail) "
                            "VALUES (?, ?, ?, ?, ?)", time.time(), actor, action, message_id,
                            detail)
        if tx is not None:
            await op(tx)
        else:
            await self.backend.write(op)


async def open_store(database: str, home: Path | None = None) -> Store:
    """Open the store named by the ``database`` setting (a SQLite path or a DSN)."""
    if database.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresBackend

        return await Store(PostgresBackend(database)).open()
    from gateway.store.sqlite import SqliteBackend

    path = Path(database)
    if home is not None and not path.is_absolute():
        path = home / path
    return await Store(SqliteBackend(path)).open()
