"""Chasing, both sides of a conversation.

The enquiring LA's side: every Enquiry this gateway sent (``sent_enquiries``: when it went,
when its reply is due, the chasers sent, whether it was escalated) and each of its children
(``sent_children``: the child as this LA asked about them, for the officer's own status view,
and the outcome the partner gave). A later ``not-known`` never silently replaces an earlier
``known-...``: it is kept as *pending* and the child is flagged for the officer's review.

The receiving LA's side: the Chasers received about an enquiry (``chasers_received``), so the
officer answering it sees "chased N times, last on ...".

This is the LA's own outgoing data in its own database; log lines and audit details name
message ids and child references, never a child's details.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.core.clock import SYSTEM, Clock
from gateway.store.base import Backend, Tx

KNOWN = ("known-on-roll", "known-not-on-roll")


def _ref_order(ref: str) -> tuple[int, str]:
    """Child references in the order an officer expects: 1, 2, ..., 10, then any others."""
    return (int(ref), "") if ref.isdigit() and len(ref) < 10 else (10**10, ref)


@dataclass(frozen=True)
class SentChild:
    message_id: str
    child_ref: str
    surname: str
    forename: str
    middle_names: str | None = None
    dob: str | None = None
    school_last_attended: str | None = None
    outcome: str | None = None
    school: str | None = None  # JSON of the School the reply gave
    comments: str | None = None
    replied_by: str | None = None  # the party that answered
    replied_officer: str | None = None  # the replying officer's name
    reply_id: str | None = None
    replied_at: float | None = None
    previous_outcome: str | None = None  # the outcome before the last change ("now found")
    pending_outcome: str | None = None  # a later not-known, held for the officer's review
    pending_school: str | None = None
    pending_comments: str | None = None
    pending_officer: str | None = None
    pending_reply_id: str | None = None
    pending_at: float | None = None
    needs_review: int = 0

    def school_json(self) -> dict[str, Any] | None:
        return json.loads(self.school) if self.school else None

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["school"] = self.school_json()
        d["pending_school"] = json.loads(self.pending_school) if self.pending_school else None
        d["needs_review"] = bool(self.needs_review)
        return d


@dataclass(frozen=True)
class SentEnquiry:
    message_id: str
    recipient: str
    conversation_id: str
    sent_at: float
    sent_on: str
    due_on: str
    due_estimated: int
    chase_after: str
    chasers: int = 0
    last_chased_at: float | None = None
    overdue_at: float | None = None
    escalated_at: float | None = None
    escalation_reason: str | None = None


@dataclass(frozen=True)
class ChaserSent:
    chaser_id: str
    enquiry_id: str
    number: int
    sent_at: float
    actor: str


@dataclass(frozen=True)
class ChasedSummary:
    """What the receiving officer sees about chasers for one received enquiry."""

    times: int
    last_at: float | None
    last_number: int | None


@dataclass(frozen=True)
class Change:
    """A child's outcome changed by a later reply: ``review`` when it is held for the officer
    (a not-known after a known), else applied (e.g. found after not-known-monitoring)."""

    child_ref: str
    before: str
    after: str
    reply_id: str
    review: bool


class Chasing:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    # ---- the enquiring side -------------------------------------------------------------

    @staticmethod
    async def track(tx: Tx, enquiry: SentEnquiry, children: list[SentChild]) -> None:
        """Record a sent Enquiry and its children (in the transaction that queues it)."""
        await tx.execute(
            "INSERT INTO sent_enquiries (message_id, recipient, conversation_id, sent_at, "
            "sent_on, due_on, due_estimated, chase_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            enquiry.message_id, enquiry.recipient, enquiry.conversation_id, enquiry.sent_at,
            enquiry.sent_on, enquiry.due_on, enquiry.due_estimated, enquiry.chase_after)
        for c in children:
            await tx.execute(
                "INSERT INTO sent_children (message_id, child_ref, surname, forename, "
                "middle_names, dob, school_last_attended) VALUES (?, ?, ?, ?, ?, ?, ?)",
                c.message_id, c.child_ref, c.surname, c.forename, c.middle_names, c.dob,
                c.school_last_attended)

    @staticmethod
    async def record_reply(tx: Tx, enquiry_id: str, replier: str, reply_id: str,
                           outcomes: list[dict[str, Any]], now: float,
                           officer: str | None = None) -> list[Change] | None:
        """Each child's outcome from a Reply to our Enquiry. A ``not-known...`` after a
        ``known-...`` keeps the known outcome, holds the new one as pending and flags the
        child for review. Anything else updates the child (the outcome it replaces is kept
        as ``previous_outcome``); a later known clears a pending not-known. Returns each
        change of an outcome already given, for the audit log; None when the enquiry is not
        one this gateway tracks or the reply is not from its recipient."""
        sent = await tx.fetchone("SELECT recipient FROM sent_enquiries WHERE message_id = ?",
                                 enquiry_id)
        if sent is None or sent["recipient"] != replier:
            return None  # not ours, or from another party: it answers nothing
        changes: list[Change] = []
        for o in outcomes:
            cur = await tx.fetchone("SELECT outcome FROM sent_children WHERE message_id = ? "
                                    "AND child_ref = ?", enquiry_id, o["child_ref"])
            if cur is None:
                continue  # a child we did not ask about
            school = json.dumps(o["school"]) if o.get("school") else None
            if cur["outcome"] in KNOWN and o["outcome"] not in KNOWN:
                await tx.execute(
                    "UPDATE sent_children SET pending_outcome = ?, pending_school = ?, "
                    "pending_comments = ?, pending_officer = ?, pending_reply_id = ?, "
                    "pending_at = ?, needs_review = 1 WHERE message_id = ? AND child_ref = ?",
                    o["outcome"], school, o.get("comments"), officer, reply_id, now,
                    enquiry_id, o["child_ref"])
                changes.append(Change(o["child_ref"], cur["outcome"], o["outcome"], reply_id,
                                      review=True))
                continue
            changed = cur["outcome"] is not None and cur["outcome"] != o["outcome"]
            await tx.execute(
                "UPDATE sent_children SET outcome = ?, school = ?, comments = ?, "
                "replied_by = ?, replied_officer = ?, reply_id = ?, replied_at = ?, "
                "previous_outcome = CASE WHEN ? = 1 THEN outcome ELSE previous_outcome END, "
                "pending_outcome = NULL, pending_school = NULL, pending_comments = NULL, "
                "pending_officer = NULL, pending_reply_id = NULL, pending_at = NULL, "
                "needs_review = 0 WHERE message_id = ? AND child_ref = ?",
                o["outcome"], school, o.get("comments"), replier, officer, reply_id, now,
                1 if changed else 0, enquiry_id, o["child_ref"])
            if changed:
                changes.append(Change(o["child_ref"], cur["outcome"], o["outcome"], reply_id,
                                      review=False))
        return changes

    @staticmethod
    async def resolve_review(tx: Tx, enquiry_id: str, child_ref: str,
                             accept: bool) -> tuple[SentChild, SentChild] | None:
        """The officer's decision on a flagged child: accept the pending outcome (it becomes
        the outcome) or reject it (the known outcome stays). The child before and after;
        None when the child is not flagged."""
        row = await tx.fetchone("SELECT * FROM sent_children WHERE message_id = ? AND "
                                "child_ref = ? AND needs_review = 1", enquiry_id, child_ref)
        if row is None:
            return None
        if accept:
            await tx.execute(
                "UPDATE sent_children SET previous_outcome = outcome, outcome = "
                "pending_outcome, school = pending_school, comments = pending_comments, "
                "replied_officer = pending_officer, reply_id = pending_reply_id, replied_at = "
                "pending_at WHERE message_id = ? AND child_ref = ?", enquiry_id, child_ref)
        await tx.execute(
            "UPDATE sent_children SET pending_outcome = NULL, pending_school = NULL, "
            "pending_comments = NULL, pending_officer = NULL, pending_reply_id = NULL, "
            "pending_at = NULL, needs_review = 0 WHERE message_id = ? AND child_ref = ?",
            enquiry_id, child_ref)
        new = await tx.fetchone("SELECT * FROM sent_children WHERE message_id = ? AND "
                                "child_ref = ?", enquiry_id, child_ref)
        assert new is not None
        return SentChild(**row), SentChild(**new)

    async def get(self, enquiry_id: str) -> SentEnquiry | None:
        async def op(tx: Tx) -> SentEnquiry | None:
            row = await tx.fetchone("SELECT * FROM sent_enquiries WHERE message_id = ?",
                                    enquiry_id)
            return SentEnquiry(**row) if row else None
        return await self.backend.read(op)

    async def enquiries(self, ids: list[str]) -> dict[str, SentEnquiry]:
        if not ids:
            return {}

        async def op(tx: Tx) -> dict[str, SentEnquiry]:
            marks = ", ".join("?" * len(ids))
            rows = await tx.fetchall(f"SELECT * FROM sent_enquiries WHERE message_id IN "
                                     f"({marks})", *ids)
            return {r["message_id"]: SentEnquiry(**r) for r in rows}
        return await self.backend.read(op)

    async def children(self, ids: list[str]) -> dict[str, list[SentChild]]:
        """The children of each enquiry, in the order of their references."""
        if not ids:
            return {}

        async def op(tx: Tx) -> dict[str, list[SentChild]]:
            marks = ", ".join("?" * len(ids))
            rows = await tx.fetchall(f"SELECT * FROM sent_children WHERE message_id IN "
                                     f"({marks}) ORDER BY message_id, child_ref", *ids)
            out: dict[str, list[SentChild]] = {}
            for r in rows:
                out.setdefault(r["message_id"], []).append(SentChild(**r))
            for kids in out.values():
                kids.sort(key=lambda c: _ref_order(c.child_ref))
            return out
        return await self.backend.read(op)

    @staticmethod
    async def outcomes(tx: Tx, enquiry_id: str) -> list[dict[str, Any]] | None:
        """Each child's current outcome (``pending_outcome`` too while flagged for review),
        in the outbox's ``outcomes`` form; None for an enquiry this table does not track."""
        rows = await tx.fetchall("SELECT child_ref, outcome, school, comments, "
                                 "pending_outcome FROM sent_children WHERE message_id = ?",
                                 enquiry_id)
        if not rows:
            return None
        rows.sort(key=lambda r: _ref_order(r["child_ref"]))
        return [{"child_ref": r["child_ref"], "outcome": r["outcome"],
                 "school": json.loads(r["school"]) if r["school"] else None,
                 "comments": r["comments"], "pending_outcome": r["pending_outcome"]}
                for r in rows if r["outcome"] is not None]

    async def chasers(self, enquiry_id: str) -> list[ChaserSent]:
        async def op(tx: Tx) -> list[ChaserSent]:
            rows = await tx.fetchall("SELECT * FROM chasers_sent WHERE enquiry_id = ? "
                                     "ORDER BY number", enquiry_id)
            return [ChaserSent(**r) for r in rows]
        return await self.backend.read(op)

    async def recent(self, limit: int = 50) -> list[SentEnquiry]:
        async def op(tx: Tx) -> list[SentEnquiry]:
            rows = await tx.fetchall("SELECT * FROM sent_enquiries ORDER BY sent_at DESC, "
                                     "message_id DESC LIMIT ?", limit)
            return [SentEnquiry(**r) for r in rows]
        return await self.backend.read(op)

    async def needing_action(self, today: str, auto: bool, escalate_after: int,
                             limit: int = 100) -> list[SentEnquiry]:
        """Enquiries past their chase date (``chase_after`` before ``today``), delivered,
        not escalated, with a child still awaiting an answer, that need something done: a
        chaser (automatic chasing), escalation (enough chasers sent), or, when the officer
        chases, being noted overdue once."""
        async def op(tx: Tx) -> list[SentEnquiry]:
            rows = await tx.fetchall(
                "SELECT e.* FROM sent_enquiries e JOIN outbound o ON o.message_id = "
                "e.message_id WHERE e.escalated_at IS NULL AND e.chase_after < ? "
                "AND o.state IN ('delivered', 'answered', 'closed') "
                "AND (? = 1 OR e.chasers >= ? OR e.overdue_at IS NULL) "
                "AND EXISTS (SELECT 1 FROM sent_children c WHERE c.message_id = e.message_id "
                "AND c.outcome IS NULL) ORDER BY e.chase_after, e.message_id LIMIT ?",
                today, 1 if auto else 0, escalate_after, limit)
            return [SentEnquiry(**r) for r in rows]
        return await self.backend.read(op)

    @staticmethod
    async def record_chaser(tx: Tx, chaser: ChaserSent, chase_after: str) -> bool:
        """Count a chaser against its enquiry. False (nothing written) if another chaser was
        counted since the caller read ``chasers`` (two officers, or the worker and an
        officer, at once): the caller rolls back."""
        n = await tx.execute(
            "UPDATE sent_enquiries SET chasers = ?, last_chased_at = ?, chase_after = ?, "
            "overdue_at = COALESCE(overdue_at, ?) WHERE message_id = ? AND chasers = ?",
            chaser.number, chaser.sent_at, chase_after, chaser.sent_at, chaser.enquiry_id,
            chaser.number - 1)
        if not n:
            return False
        await tx.execute("INSERT INTO chasers_sent (chaser_id, enquiry_id, number, sent_at, "
                         "actor) VALUES (?, ?, ?, ?, ?)", chaser.chaser_id, chaser.enquiry_id,
                         chaser.number, chaser.sent_at, chaser.actor)
        return True

    @staticmethod
    async def mark_overdue(tx: Tx, enquiry_id: str, now: float) -> bool:
        n = await tx.execute("UPDATE sent_enquiries SET overdue_at = ? WHERE message_id = ? "
                             "AND overdue_at IS NULL", now, enquiry_id)
        return bool(n)

    @staticmethod
    async def mark_escalated(tx: Tx, enquiry_id: str, reason: str, now: float) -> bool:
        n = await tx.execute("UPDATE sent_enquiries SET escalated_at = ?, escalation_reason = "
                             "?, overdue_at = COALESCE(overdue_at, ?) WHERE message_id = ? "
                             "AND escalated_at IS NULL", now, reason[:500], now, enquiry_id)
        return bool(n)

    # ---- the receiving side -------------------------------------------------------------

    @staticmethod
    async def record_received(tx: Tx, message_id: str, enquiry_id: str, sender: str,
                              number: int, now: float) -> None:
        await tx.execute("INSERT INTO chasers_received (message_id, enquiry_id, sender, "
                         "number, received_at) VALUES (?, ?, ?, ?, ?)", message_id,
                         enquiry_id, sender, number, now)

    async def chased(self, enquiry_id: str) -> ChasedSummary:
        """How often a received enquiry has been chased, and when last."""
        async def op(tx: Tx) -> ChasedSummary:
            row = await tx.fetchone("SELECT COUNT(*) AS n, MAX(received_at) AS last_at, "
                                    "MAX(number) AS last_number FROM chasers_received "
                                    "WHERE enquiry_id = ?", enquiry_id)
            assert row is not None
            return ChasedSummary(int(row["n"]), row["last_at"], row["last_number"])
        return await self.backend.read(op)
