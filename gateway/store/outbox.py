"""The outbox: every message this gateway signed and sends, with its delivery state.

States move forward only (``OutboxState``; the SQL below is written from the same enum)::

    queued -> sending -> delivered -> answered -> closed
    queued|sending -> failed (a signed Error from the partner)
    queued|sending -> expired (no receipt before the expiry: a dead letter)
    queued|sending -> cancelled (by an officer, while no delivery attempt holds it)

Every transition is an UPDATE guarded by the states it may come from, so a late or repeated
update (a second sender, a stale lease) can never move a message backwards, and each one
appends a row to ``outbound_events``: the history the status page shows.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Row, Step, Tx, plain, sql_list
from gateway.store.transfers import Transfers


class OutboxState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    ANSWERED = "answered"
    CLOSED = "closed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


S = OutboxState
OPEN_STATES = (S.QUEUED, S.SENDING)
# Delivery is over (the spool folder moves the file to sent/ or failed/).
FINAL_STATES = (S.DELIVERED, S.ANSWERED, S.CLOSED, S.FAILED, S.EXPIRED, S.CANCELLED)
DELIVERED_STATES = (S.DELIVERED, S.ANSWERED, S.CLOSED)
FORWARD: dict[OutboxState, tuple[OutboxState, ...]] = {
    S.SENDING: OPEN_STATES,
    S.DELIVERED: (S.SENDING,),
    # A reply proves delivery, even if our receipt bookkeeping has not caught up yet.
    S.ANSWERED: (S.QUEUED, S.SENDING, S.DELIVERED),
    S.CLOSED: (S.ANSWERED,),
    S.FAILED: OPEN_STATES,
    S.EXPIRED: OPEN_STATES,
    S.CANCELLED: OPEN_STATES,
}
_OPEN_SQL = sql_list(OPEN_STATES)

_COLUMNS = ("message_id, recipient, message_type, conversation_id, in_reply_to, created_at, "
            "state, attempts, next_attempt_at, lease_until, lease_owner, expires_at, "
            "last_error, error_code, digest, delivered_at, answered_at, answered_by, "
            "outcomes, spool_name, spool_done, updated_at, payload_path")


@dataclass(frozen=True)
class OutboundRow:
    message_id: str
    recipient: str
    message_type: str
    conversation_id: str
    in_reply_to: str | None
    created_at: float
    state: OutboxState
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
        d["state"] = self.state.value
        d["outcomes"] = json.loads(self.outcomes) if self.outcomes else None
        return d


@dataclass(frozen=True)
class OutboxEvent:
    at: float
    from_state: str | None
    to_state: str
    reason: str | None


def _row(row: Row) -> OutboundRow:
    values = plain(row)
    values["state"] = OutboxState(values["state"])
    return OutboundRow(**values)


class Outbox:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def enqueue(self, row: OutboundRow, step: Step | None = None) -> None:
        """Queue a signed message. ``step(tx)`` runs in the same transaction: the change
        that caused the message and the message itself commit together."""

        async def op(tx: Tx) -> None:
            await self.insert(tx, row)
            if step is not None:
                await step(tx)

        await self.backend.write(op)

    async def insert(self, tx: Tx, row: OutboundRow) -> None:
        """Queue ``row`` inside a transaction that the caller owns."""
        inserted = await tx.fetchone(
            "INSERT INTO outbound (message_id, recipient, message_type, conversation_id, "
            "in_reply_to, created_at, state, attempts, next_attempt_at, expires_at, body, "
            "digest, spool_name, payload_path, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            row.message_id, row.recipient, row.message_type, row.conversation_id,
            row.in_reply_to, row.created_at, S.QUEUED.value, row.next_attempt_at,
            row.expires_at, row.body, row.digest, row.spool_name, row.payload_path,
            row.created_at)
        if inserted is None:
            raise GatewayError("duplicate-conflict",
                               f"message {row.message_id} is already in the outbox")
        await self._event(tx, row.message_id, None, S.QUEUED, None, row.created_at)

    async def claim_due(self, now: float, owner: str, lease_seconds: float, limit: int,
                        exclude: Sequence[str] = (), only: str | None = None
                        ) -> list[OutboundRow]:
        """Lease up to ``limit`` due messages to ``owner``. A lease that runs out (its owner
        crashed) makes the message due again, and the receiver's de-duplication absorbs the
        resend."""

        async def op(tx: Tx) -> list[OutboundRow]:
            where = "next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
            args: list[Any] = [now, now]
            if exclude:
                where += f" AND recipient NOT IN ({', '.join('?' * len(exclude))})"
                args.extend(exclude)
            if only is not None:
                where += " AND recipient = ?"
                args.append(only)
            # Each open state is read in due order straight from the index on (state,
            # next_attempt_at), stopping after ``limit`` rows; only those (at most twice
            # ``limit``) are merged and sorted. With ``state IN (...) ORDER BY
            # next_attempt_at`` PostgreSQL read and sorted every due row on each claim (a
            # sequential scan and an on-disk sort: 39 ms a claim with 50,000 queued, so a
            # backlog drained at a few hundred messages a second; now 0.13 ms).
            arms = " UNION ALL ".join(
                f"SELECT message_id, next_attempt_at FROM (SELECT message_id, next_attempt_at "
                f"FROM outbound WHERE state = '{state}' AND {where} ORDER BY next_attempt_at "
                f"LIMIT ?{tx.dialect.skip_locked}) AS due_{state}" for state in OPEN_STATES)
            # The due rows are picked once, in a materialised CTE: a plain ``IN (SELECT ...
            # LIMIT ...)`` sub-select may be re-run by PostgreSQL's planner (the inner side of
            # a nested loop) and claim more than ``limit``. On PostgreSQL the pick locks its
            # rows and skips rows another claimer holds (``FOR UPDATE SKIP LOCKED``); a row
            # another claimer committed meanwhile is re-checked against ``where`` on its new
            # version, so its fresh lease excludes it (a row one arm locked but the merge
            # left out stays locked only until this transaction ends). On SQLite the write
            # lock serialises claimers. Portable: SQLite 3.35+ and PostgreSQL 12+.
            rows = await tx.fetchall(
                f"WITH due AS MATERIALIZED ({arms} ORDER BY next_attempt_at LIMIT ?) "
                f"UPDATE outbound SET state = '{S.SENDING}', lease_until = ?, lease_owner = ?, "
                f"attempts = attempts + 1, updated_at = ? "
                f"WHERE message_id IN (SELECT message_id FROM due) RETURNING *",
                *[*args, limit] * len(OPEN_STATES), limit, now + lease_seconds, owner, now)
            await self._events(tx, [r["message_id"] for r in rows if r["attempts"] == 1],
                               S.QUEUED, S.SENDING, None, now)
            return [_row(r) for r in rows]

        return await self.backend.write(op)

    async def mark_delivered(self, message_id: str, receipt: bytes, now: float) -> bool:
        return (await self.mark_delivered_many([(message_id, receipt)], now))[0]

    async def mark_delivered_many(self, receipts: Sequence[tuple[str, bytes]], now: float
                                  ) -> list[bool]:
        """Record the verified receipts of several messages in one transaction (one commit,
        one round trip to the store): the sender's deliveries that end together are written
        together. For each, True when it moved ``sending -> delivered``; a message answered
        first keeps its state and gains the receipt (never moved backwards)."""

        async def op(tx: Tx) -> list[bool]:
            moved: list[bool] = []
            for message_id, receipt in receipts:
                # Only ``sending`` may become ``delivered`` (FORWARD), so the guard is the
                # state itself: no read of the row first.
                row = await tx.fetchone(
                    f"UPDATE outbound SET state = '{S.DELIVERED}', updated_at = ?, receipt = ?, "
                    f"delivered_at = ?, lease_until = NULL WHERE message_id = ? "
                    f"AND state = '{S.SENDING}' RETURNING message_id", now, receipt, now,
                    message_id)
                moved.append(row is not None)
                if row is None:  # answered first: keep the receipt, do not move backwards
                    await tx.execute(
                        f"UPDATE outbound SET receipt = ?, delivered_at = ?, lease_until = NULL "
                        f"WHERE message_id = ? AND receipt IS NULL AND state IN "
                        f"({sql_list((S.ANSWERED, S.CLOSED))})", receipt, now, message_id)
            await self._events(tx, [mid for (mid, _), ok in zip(receipts, moved, strict=True)
                                    if ok], S.SENDING, S.DELIVERED, None, now)
            return moved
        return await self.backend.write(op)

    async def mark_retry(self, message_id: str, owner: str, next_at: float, error: str,
                         now: float) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute(
                f"UPDATE outbound SET next_attempt_at = ?, lease_until = NULL, last_error = ?, "
                f"updated_at = ? WHERE message_id = ? AND state = '{S.SENDING}' "
                f"AND lease_owner = ?", next_at, error[:500], now, message_id, owner)
        await self.backend.write(op)

    async def mark_failed(self, message_id: str, code: str, reason: str, now: float) -> bool:
        async def op(tx: Tx) -> bool:
            moved = await self._move(tx, message_id, S.FAILED, f"{code}: {reason}", now,
                                     "error_code = ?, last_error = ?, lease_until = NULL",
                                     (code, reason[:500]))
            if moved:
                await self._ctf_not_delivered(tx, message_id, code, now)
            return moved
        return await self.backend.write(op)

    async def expire_due(self, now: float) -> list[str]:
        async def op(tx: Tx) -> list[str]:
            rows = await tx.fetchall(
                f"SELECT message_id, last_error FROM outbound WHERE state IN ({_OPEN_SQL}) "
                f"AND expires_at <= ? AND (lease_until IS NULL OR lease_until < ?)", now, now)
            for r in rows:
                reason = f"no receipt before expiry; last error: {r['last_error'] or 'none'}"
                if await self._move(tx, r["message_id"], S.EXPIRED, reason, now,
                                    "error_code = 'expired', last_error = ?", (reason[:500],)):
                    await self._ctf_not_delivered(tx, r["message_id"], "expired", now)
            return [r["message_id"] for r in rows]
        return await self.backend.write(op)

    @staticmethod
    async def _ctf_not_delivered(tx: Tx, message_id: str, code: str, now: float) -> None:
        """A Transfer that sent a CTF this gateway stored (a forward, an LPD claim's
        delivery) will not be delivered: its transfer record says so, in the same commit
        (``Transfers.not_delivered``). Nothing for any other message, or for a file that
        ``ctf post`` sent (no transfer of this gateway's names it)."""
        row = await tx.fetchone("SELECT payload_path, recipient FROM outbound "
                                "WHERE message_id = ?", message_id)
        if row is None or row["payload_path"] is None:
            return
        await Transfers.not_delivered(tx, row["payload_path"], message_id, row["recipient"],
                                      code, now)

    async def cancel(self, tx: Tx, message_id: str, reason: str, now: float) -> bool:
        """Cancel a message not yet delivered, unless a delivery attempt holds it right now
        (its lease): what is on the wire cannot be called back. False when it cannot be."""
        cur = await tx.fetchone("SELECT lease_until FROM outbound WHERE message_id = ?",
                                message_id)
        if cur is None or (cur["lease_until"] is not None and cur["lease_until"] >= now):
            return False
        moved = await self._move(tx, message_id, S.CANCELLED, reason, now,
                                 "error_code = 'cancelled', lease_until = NULL")
        if moved:
            await self._ctf_not_delivered(tx, message_id, "cancelled", now)
        return moved

    async def answer(self, tx: Tx, enquiry_id: str, replier: str, reply_id: str,
                     outcomes: str, now: float) -> None:
        """Link a Reply to our Enquiry. A later reply (e.g. "now found" for one child) updates
        the outcomes of the children it names; the others keep theirs."""
        cur = await tx.fetchone("SELECT state, recipient, outcomes FROM outbound "
                                "WHERE message_id = ?", enquiry_id)
        if cur is None or cur["recipient"] != replier:
            return  # not ours, or from another party: stored, but it answers nothing
        if cur["outcomes"]:
            merged = {o["child_ref"]: o for o in json.loads(cur["outcomes"])}
            merged.update({o["child_ref"]: o for o in json.loads(outcomes)})
            outcomes = json.dumps(list(merged.values()))
        if cur["state"] == S.ANSWERED:
            await tx.execute("UPDATE outbound SET outcomes = ?, answered_by = ?, updated_at = ? "
                             "WHERE message_id = ?", outcomes, reply_id, now, enquiry_id)
            await self._event(tx, enquiry_id, S.ANSWERED, S.ANSWERED, f"reply {reply_id}", now)
            return
        await self._move(tx, enquiry_id, S.ANSWERED, f"reply {reply_id}", now,
                         "answered_at = ?, answered_by = ?, outcomes = ?",
                         (now, reply_id, outcomes))

    @staticmethod
    async def set_outcomes(tx: Tx, message_id: str, outcomes: str) -> None:
        """Replace the outcomes shown with an enquiry (by those merged child by child)."""
        await tx.execute("UPDATE outbound SET outcomes = ? WHERE message_id = ?", outcomes,
                         message_id)

    async def _move(self, tx: Tx, message_id: str, to: OutboxState, reason: str | None,
                    now: float, extra_sql: str = "", extra_args: tuple[Any, ...] = ()) -> bool:
        allowed = FORWARD[to]
        cur = await tx.fetchone("SELECT state FROM outbound WHERE message_id = ?", message_id)
        if cur is None or cur["state"] not in allowed:
            return False
        sets = f"state = ?, updated_at = ?{', ' + extra_sql if extra_sql else ''}"
        n = await tx.execute(
            f"UPDATE outbound SET {sets} WHERE message_id = ? AND state = ?",
            to.value, now, *extra_args, message_id, cur["state"])
        if n:
            await self._event(tx, message_id, OutboxState(cur["state"]), to, reason, now)
        return bool(n)

    @staticmethod
    async def _event(tx: Tx, message_id: str, frm: OutboxState | None, to: OutboxState,
                     reason: str | None, now: float) -> None:
        await tx.execute("INSERT INTO outbound_events (message_id, at, from_state, to_state, "
                         "reason) VALUES (?, ?, ?, ?, ?)", message_id, now,
                         frm.value if frm else None, to.value, reason)

    # Rows a multi-row events INSERT carries at most: a few statement texts, each prepared
    # once (asyncpg caches prepared statements per connection, sqlite3 per text).
    EVENTS_PER_INSERT = 32

    @classmethod
    async def _events(cls, tx: Tx, message_ids: Sequence[str], frm: OutboxState,
                      to: OutboxState, reason: str | None, now: float) -> None:
        """``_event`` for several messages making the same move, in multi-row INSERTs."""
        for i in range(0, len(message_ids), cls.EVENTS_PER_INSERT):
            chunk = message_ids[i:i + cls.EVENTS_PER_INSERT]
            await tx.execute(
                "INSERT INTO outbound_events (message_id, at, from_state, to_state, reason) "
                "VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)),
                *[v for mid in chunk for v in (mid, now, frm.value, to.value, reason)])

    async def get(self, message_id: str, with_body: bool = False) -> OutboundRow | None:
        cols = "*" if with_body else _COLUMNS

        async def op(tx: Tx) -> OutboundRow | None:
            row = await tx.fetchone(f"SELECT {cols} FROM outbound WHERE message_id = ?",
                                    message_id)
            return _row(row) if row else None
        return await self.backend.read(op)

    async def events(self, message_id: str) -> list[OutboxEvent]:
        async def op(tx: Tx) -> list[OutboxEvent]:
            rows = await tx.fetchall("SELECT at, from_state, to_state, reason FROM "
                                     "outbound_events WHERE message_id = ? ORDER BY id",
                                     message_id)
            return [OutboxEvent(**r) for r in rows]
        return await self.backend.read(op)

    async def recent(self, *, state: OutboxState | None = None, recipient: str | None = None,
                   limit: int = 50, before: tuple[float, str] | None = None,
                   message_type: str | None = None, created_from: float | None = None,
                   created_until: float | None = None, message_id: str | None = None,
                   with_body: bool = False) -> list[OutboundRow]:
        """Newest first, keyset-paginated on (created_at, message_id); created_from is
        inclusive, created_until exclusive."""
        async def op(tx: Tx) -> list[OutboundRow]:
            cols = f"{_COLUMNS}, body" if with_body else _COLUMNS
            sql = f"SELECT {cols} FROM outbound WHERE 1 = 1"
            args: list[Any] = []
            if state:
                sql += " AND state = ?"
                args.append(OutboxState(state).value)
            if recipient:
                sql += " AND recipient = ?"
                args.append(recipient)
            if message_type:
                sql += " AND message_type = ?"
                args.append(message_type)
            if created_from is not None:
                sql += " AND created_at >= ?"
                args.append(created_from)
            if created_until is not None:
                sql += " AND created_at < ?"
                args.append(created_until)
            if message_id:
                sql += " AND message_id = ?"
                args.append(message_id)
            if before is not None:
                sql += " AND (created_at < ? OR (created_at = ? AND message_id < ?))"
                args.extend([before[0], before[0], before[1]])
            sql += " ORDER BY created_at DESC, message_id DESC LIMIT ?"
            args.append(limit)
            return [_row(r) for r in await tx.fetchall(sql, *args)]
        return await self.backend.read(op)

    async def spool_pending(self) -> list[OutboundRow]:
        """Messages that came from the spool folder whose delivery is over."""
        async def op(tx: Tx) -> list[OutboundRow]:
            # Through the partial index of migration 13 (the few spooled messages not yet
            # moved). ``state || ''`` keeps the planner off the state indexes, which would
            # walk every delivered message: 132 ms of CPU a sweep at 100,000 messages.
            rows = await tx.fetchall(
                f"SELECT {_COLUMNS} FROM outbound WHERE spool_name IS NOT NULL "
                f"AND spool_done = 0 AND state || '' IN ({sql_list(FINAL_STATES)}) LIMIT 100")
            return [_row(r) for r in rows]
        return await self.backend.read(op)

    async def mark_spool_done(self, message_id: str) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute("UPDATE outbound SET spool_done = 1 WHERE message_id = ?",
                             message_id)
        await self.backend.write(op)

    async def recipients(self) -> list[str]:
        """Every party this gateway has sent to (for the outbox page's filter)."""
        async def op(tx: Tx) -> list[str]:
            rows = await tx.fetchall("SELECT DISTINCT recipient FROM outbound ORDER BY recipient")
            return [r["recipient"] for r in rows]
        return await self.backend.read(op)

    async def link_resend(self, tx: Tx, message_id: str, resent_from: str, actor: str,
                          now: float) -> None:
        """Record that ``message_id`` is a resend (a new id) of ``resent_from``."""
        await tx.execute("INSERT INTO outbound_resends (message_id, resent_from, at, actor) "
                         "VALUES (?, ?, ?, ?)", message_id, resent_from, now, actor)

    async def resends(self, message_id: str) -> tuple[str | None, list[str]]:
        """What ``message_id`` was resent from (or None), and the resends made of it."""
        async def op(tx: Tx) -> tuple[str | None, list[str]]:
            up = await tx.fetchone("SELECT resent_from FROM outbound_resends WHERE "
                                   "message_id = ?", message_id)
            down = await tx.fetchall("SELECT message_id FROM outbound_resends WHERE "
                                     "resent_from = ? ORDER BY at", message_id)
            return (up["resent_from"] if up else None, [r["message_id"] for r in down])
        return await self.backend.read(op)

    async def partner_summary(self) -> list[dict[str, Any]]:
        """Per partner: open messages (queue depth), the last delivery, and the last three
        failures (a message failed or expired, or still retrying with an error) with their
        reasons."""
        async def op(tx: Tx) -> list[dict[str, Any]]:
            depth = await tx.fetchall(
                f"SELECT recipient, COUNT(*) AS n FROM outbound WHERE state IN ({_OPEN_SQL}) "
                f"GROUP BY recipient")
            ok = await tx.fetchall("SELECT recipient, MAX(delivered_at) AS at FROM outbound "
                                   "WHERE delivered_at IS NOT NULL GROUP BY recipient")
            out: dict[str, dict[str, Any]] = {
                r["recipient"]: {} for r in await tx.fetchall(
                    "SELECT DISTINCT recipient FROM outbound")}
            for r in depth:
                out.setdefault(r["recipient"], {})["queue_depth"] = int(r["n"])
            for r in ok:
                out.setdefault(r["recipient"], {})["last_success_at"] = r["at"]
            for party, info in out.items():
                bad = await tx.fetchall(
                    f"SELECT updated_at, error_code, last_error FROM outbound WHERE "
                    f"recipient = ? AND last_error IS NOT NULL AND state IN "
                    f"({sql_list((S.QUEUED, S.SENDING, S.FAILED, S.EXPIRED))}) "
                    f"ORDER BY updated_at DESC LIMIT 3", party)
                info["recent_errors"] = [{"at": b["updated_at"], "code": b["error_code"],
                                          "error": b["last_error"]} for b in bad]
                if bad:
                    info["last_failure_at"] = bad[0]["updated_at"]
                    info["last_error_code"] = bad[0]["error_code"]
                    info["last_error"] = bad[0]["last_error"]
            return [{"party": p, **info} for p, info in sorted(out.items())]
        return await self.backend.read(op)

    async def counts(self) -> dict[OutboxState, int]:
        async def op(tx: Tx) -> dict[OutboxState, int]:
            rows = await tx.fetchall("SELECT state, COUNT(*) AS n FROM outbound GROUP BY state")
            return {OutboxState(r["state"]): int(r["n"]) for r in rows}
        return await self.backend.read(op)
