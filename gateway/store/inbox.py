"""The inbox: every message this gateway accepted, stored with the exact bytes received and
the answer it was given (a Receipt, or an LpdResult for a search)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.clock import SYSTEM, Clock
from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Row, Step, Tx, plain

_COLUMNS = ("message_id", "sender", "recipient", "message_type", "conversation_id",
            "in_reply_to", "created_at", "received_at", "digest", "body", "receipt",
            "replied_by")


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

    def summary(self) -> dict[str, Any]:
        """The row without the message and its answer (for listings)."""
        return {k: getattr(self, k) for k in _COLUMNS if k not in ("body", "receipt")}


@dataclass(frozen=True)
class AcceptResult:
    receipt: bytes
    duplicate: bool


def _row(row: Row) -> InboundRow:
    values = plain(row)
    fields: dict[str, Any] = {k: values.get(k, b"" if k in ("body", "receipt") else None)
                              for k in _COLUMNS}
    return InboundRow(**fields)


class Inbox:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def accept(self, row: InboundRow, step: Step | None = None, *,
                     group: bool = False) -> AcceptResult:
        """Durably store an inbound message, or recognise a resend of one.

        Same id and same digest: the original answer. Same id, other digest or sender:
        ``duplicate-conflict``. ``step(tx)`` (what the message causes) runs in the same
        transaction, for a new message only. ``group``: the write may share its transaction
        with other messages' (``Backend.write``); ``step`` must then be short and depend on
        the database alone (the inbound path's handlers; not a CTF's chunks)."""

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
            await self._clock(tx, row)
            if step is not None:
                await step(tx)
            return AcceptResult(row.receipt, duplicate=False)

        if group:
            return await self.backend.write(op, group=True, key=row.sender,
                                            order=row.message_id)
        return await self.backend.write(op)

    @staticmethod
    async def _clock(tx: Tx, row: InboundRow) -> None:
        """A partner's clock as its messages show it: how long before arriving each was
        created (transit and retries included; negative when the partner's clock is ahead).
        The smallest of the last day is the best estimate of the skew."""
        delay = row.received_at - row.created_at
        await tx.execute(
            "INSERT INTO partner_clock (party, last_delay, last_at, min_delay, min_since) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (party) DO UPDATE SET "
            "last_delay = excluded.last_delay, last_at = excluded.last_at, "
            "min_delay = CASE WHEN partner_clock.min_since < excluded.last_at - 86400 "
            "OR excluded.min_delay < partner_clock.min_delay THEN excluded.min_delay "
            "ELSE partner_clock.min_delay END, "
            "min_since = CASE WHEN partner_clock.min_since < excluded.last_at - 86400 "
            "THEN excluded.min_since ELSE partner_clock.min_since END",
            row.sender, delay, row.received_at, delay, row.received_at)

    async def clocks(self) -> dict[str, dict[str, float]]:
        """Each partner's clock (``_clock``): party -> last_delay, last_at, min_delay."""
        async def op(tx: Tx) -> dict[str, dict[str, float]]:
            rows = await tx.fetchall("SELECT * FROM partner_clock")
            return {r["party"]: {k: float(r[k]) for k in ("last_delay", "last_at",
                                                           "min_delay")} for r in rows}
        return await self.backend.read(op)

    async def get(self, message_id: str) -> InboundRow | None:
        async def op(tx: Tx) -> InboundRow | None:
            row = await tx.fetchone("SELECT * FROM inbound WHERE message_id = ?", message_id)
            return _row(row) if row else None
        return await self.backend.read(op)

    async def answers_to(self, conversation_id: str, message_id: str) -> list[InboundRow]:
        """Messages received in reply to ``message_id`` (oldest first, without bodies)."""
        async def op(tx: Tx) -> list[InboundRow]:
            rows = await tx.fetchall(
                "SELECT message_id, sender, recipient, message_type, conversation_id, "
                "in_reply_to, created_at, received_at, digest, replied_by FROM inbound "
                "WHERE conversation_id = ? AND in_reply_to = ? ORDER BY received_at",
                conversation_id, message_id)
            return [_row(r) for r in rows]
        return await self.backend.read(op)

    async def recent(self, limit: int = 50, message_type: str | None = None,
                   before: float | None = None) -> list[InboundRow]:
        """Newest first, without bodies."""
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
            return [_row(r) for r in await tx.fetchall(sql, *args)]
        return await self.backend.read(op)

    async def unspooled(self, limit: int = 100) -> list[InboundRow]:
        async def op(tx: Tx) -> list[InboundRow]:
            rows = await tx.fetchall("SELECT * FROM inbound WHERE spooled_at IS NULL "
                                     "ORDER BY received_at LIMIT ?", limit)
            return [_row(r) for r in rows]
        return await self.backend.read(op)

    async def mark_spooled(self, message_ids: Sequence[str]) -> None:
        now = self.clock.time()

        async def op(tx: Tx) -> None:
            for mid in message_ids:
                await tx.execute("UPDATE inbound SET spooled_at = ? WHERE message_id = ?",
                                 now, mid)
        await self.backend.write(op)

    async def unmatched(self, types: Sequence[str], limit: int = 50) -> list[InboundRow]:
        """Received messages of ``types`` not matched against local records yet."""
        async def op(tx: Tx) -> list[InboundRow]:
            marks = ", ".join("?" * len(types))
            rows = await tx.fetchall(
                f"SELECT * FROM inbound WHERE matched_at IS NULL "
                f"AND message_type IN ({marks}) ORDER BY received_at LIMIT ?", *types, limit)
            return [_row(r) for r in rows]
        return await self.backend.read(op)

    @staticmethod
    async def set_replied(tx: Tx, enquiry_id: str, reply_id: str) -> None:
        await tx.execute("UPDATE inbound SET replied_by = ? WHERE message_id = ?",
                         reply_id, enquiry_id)

    @staticmethod
    async def record_answers(tx: Tx, enquiry_id: str, outcomes: Sequence[tuple[str, str]],
                             reply_id: str, actor: str, now: float) -> None:
        """What a Reply answered for each child: (child ref, outcome); a later reply about
        the same child replaces its earlier answer."""
        for ref, outcome in outcomes:
            await tx.execute(
                "INSERT INTO enquiry_answers (enquiry_id, child_ref, outcome, reply_id, actor, "
                "at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (enquiry_id, child_ref) DO UPDATE "
                "SET outcome = excluded.outcome, reply_id = excluded.reply_id, "
                "actor = excluded.actor, at = excluded.at",
                enquiry_id, ref, outcome, reply_id, actor, now)

    async def answers(self, enquiry_id: str) -> dict[str, tuple[str, str]]:
        """The children of a received Enquiry answered so far: ref -> (outcome, reply id)."""
        async def op(tx: Tx) -> dict[str, tuple[str, str]]:
            rows = await tx.fetchall("SELECT child_ref, outcome, reply_id FROM "
                                     "enquiry_answers WHERE enquiry_id = ?", enquiry_id)
            return {r["child_ref"]: (r["outcome"], r["reply_id"]) for r in rows}
        return await self.backend.read(op)

    async def awaiting_reply(self, limit: int) -> list[dict[str, Any]]:
        """Received Enquiries with fewer children answered than matched (or no reply yet),
        oldest first: message_id, sender, received_at, matched, answered, possible."""
        async def op(tx: Tx) -> list[dict[str, Any]]:
            return await tx.fetchall(
                "SELECT * FROM (SELECT i.message_id, i.sender, i.received_at, i.replied_by, "
                "(SELECT COUNT(*) FROM match_results r WHERE r.message_id = i.message_id) "
                "AS matched, (SELECT COUNT(*) FROM enquiry_answers a WHERE a.enquiry_id = "
                "i.message_id) AS answered, (SELECT COUNT(*) FROM match_results r WHERE "
                "r.message_id = i.message_id AND r.best_band = 'possible') AS possible "
                "FROM inbound i WHERE i.message_type = 'Enquiry') x "
                "WHERE replied_by IS NULL OR answered < matched ORDER BY received_at LIMIT ?",
                limit)
        return await self.backend.read(op)

    async def answer_counts(self) -> dict[str, int]:
        """How many children this LA answered with each outcome."""
        async def op(tx: Tx) -> dict[str, int]:
            rows = await tx.fetchall("SELECT outcome, COUNT(*) AS n FROM enquiry_answers "
                                     "GROUP BY outcome ORDER BY outcome")
            return {r["outcome"]: int(r["n"]) for r in rows}
        return await self.backend.read(op)

    @staticmethod
    async def rematch_unanswered(tx: Tx) -> None:
        """Match again (after a records import) every received Enquiry with a child not
        answered yet, and every Referral whose case is not triaged yet."""
        await tx.execute(
            "UPDATE inbound SET matched_at = NULL WHERE (message_type = 'Enquiry' AND "
            "(replied_by IS NULL OR (SELECT COUNT(*) FROM enquiry_answers a WHERE "
            "a.enquiry_id = inbound.message_id) < (SELECT COUNT(*) FROM match_results r "
            "WHERE r.message_id = inbound.message_id))) OR (message_type = 'Referral' AND "
            "message_id IN (SELECT message_id FROM cases WHERE status = 'referred' AND "
            "message_id IS NOT NULL))")
