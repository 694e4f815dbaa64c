"""CME cases: one child each, with the fields of the seed's referral form, the category (1-9),
the flowchart state, the key worker, dated actions, notes, and every message about the child.

States follow the seed's Referral Process Flowchart (``CaseState``); ``NEXT`` lists the moves
the flowchart allows from each. Any other move is an *override*: allowed only when the caller
says so, and stored as one. Every move, note and action is a ``case_events`` row with who,
when and why: the case's timeline.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.core.clock import SYSTEM, Clock
from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Tx, sql_list


class CaseState(enum.StrEnum):
    REFERRED = "referred"
    LOGGED = "logged"
    EXISTING_PUPIL = "existing-pupil"          # on a roll: check attendance with the school
    RECEIVING_EDUCATION = "receiving-education"
    UNKNOWN = "unknown"                        # enquiries with key stakeholders
    LOCATED = "located"
    WHEREABOUTS_UNKNOWN = "whereabouts-unknown"
    KEY_WORKER_ASSIGNED = "key-worker-assigned"
    PLACED = "placed"
    MONITORED = "monitored"                    # one term after placement
    CLOSED = "closed"


C = CaseState
# The flowchart's arrows. ``closed`` is reachable from the states that end a path.
NEXT: dict[CaseState, tuple[CaseState, ...]] = {
    C.REFERRED: (C.LOGGED,),
    C.LOGGED: (C.EXISTING_PUPIL, C.UNKNOWN),
    C.EXISTING_PUPIL: (C.RECEIVING_EDUCATION, C.UNKNOWN),
    C.RECEIVING_EDUCATION: (C.CLOSED,),
    C.UNKNOWN: (C.LOCATED, C.WHEREABOUTS_UNKNOWN),
    C.WHEREABOUTS_UNKNOWN: (C.LOCATED, C.CLOSED),
    # Located on a roll (here or in another authority): receiving education. Located out of
    # school: a key worker.
    C.LOCATED: (C.KEY_WORKER_ASSIGNED, C.RECEIVING_EDUCATION),
    C.KEY_WORKER_ASSIGNED: (C.PLACED,),
    C.PLACED: (C.MONITORED,),
    C.MONITORED: (C.CLOSED,),
    C.CLOSED: (),
}
OPEN_STATES = tuple(s for s in CaseState if s is not C.CLOSED)
STATES = ", ".join(s.value for s in CaseState)

# Fields of the seed's CME Referral Form kept in ``details`` (JSON): what an officer reads.
DETAIL_FIELDS = ("referrer", "referrer_position", "referrer_telephone", "referrer_organisation",
                 "looked_after", "child_protection_plan", "ethnicity", "sen_stage",
                 "address_while_resident", "new_address", "telephone", "gp_details",
                 "reason_out_of_provision", "last_school", "date_last_on_roll", "action_plan",
                 "other_details", "enquirer", "child_ref")


def check_state(text: str) -> CaseState:
    try:
        return CaseState(text)
    except ValueError:
        raise GatewayError("bad-request", f"state {text[:40]!r}: use one of {STATES}") from None


@dataclass(frozen=True)
class NewCase:
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
    state: CaseState = C.LOGGED
    urgent: bool = False
    year_group: str | None = None
    opened_on: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    nhs_number: str | None = None


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    opened_at: float
    category: int
    reason: str
    source: str
    transfer_id: str | None
    message_id: str | None
    upn: str | None
    surname: str
    forename: str
    dob: str | None
    sex: str | None
    status: str
    urgent: int = 0
    key_worker: str | None = None
    details: str | None = None
    updated_at: float | None = None
    closed_at: float | None = None
    monitor_until: str | None = None
    year_group: str | None = None
    opened_on: str | None = None
    nhs_number: str | None = None

    @property
    def state(self) -> CaseState:
        return CaseState(self.status)

    def detail_map(self) -> dict[str, Any]:
        return json.loads(self.details) if self.details else {}

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["details"] = self.detail_map()
        d["urgent"] = bool(self.urgent)
        return d


@dataclass(frozen=True)
class CaseEvent:
    at: float
    actor: str
    kind: str  # opened, moved, note, action, message, assigned, flag
    from_state: str | None
    to_state: str | None
    override: int
    due_on: str | None
    detail: str | None


@dataclass(frozen=True)
class CaseFilter:
    states: Sequence[CaseState] = ()
    category: int | None = None
    urgent_only: bool = False
    open_only: bool = False
    limit: int = 100


class Cases:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def open(self, tx: Tx, case: NewCase, actor: str = "gateway") -> str | None:
        """Open a case; None if one is already open for the same transfer (a resend)."""
        case_id = str(uuid.uuid4())
        now = self.clock.time()
        row = await tx.fetchone(
            "INSERT INTO cases (case_id, opened_at, category, reason, source, transfer_id, "
            "message_id, upn, surname, forename, dob, sex, status, urgent, details, "
            "updated_at, year_group, opened_on, nhs_number) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (transfer_id) DO NOTHING RETURNING case_id",
            case_id, now, case.category, case.reason, case.source,
            case.transfer_id, case.message_id, case.upn, case.surname, case.forename,
            case.dob, case.sex, case.state.value, int(case.urgent),
            json.dumps(case.details) if case.details else None, now, case.year_group,
            case.opened_on or self.clock.today().isoformat(), case.nhs_number)
        if row is None:
            return None
        await self.event(tx, case_id, actor, "opened", None, case.state, detail=case.source)
        if case.message_id:
            await self.link(tx, case_id, case.message_id, "in")
        return str(row["case_id"])

    async def event(self, tx: Tx, case_id: str, actor: str, kind: str,
                    frm: CaseState | None = None, to: CaseState | None = None, *,
                    override: bool = False, due_on: str | None = None,
                    detail: str | None = None) -> None:
        await tx.execute(
            "INSERT INTO case_events (case_id, at, actor, kind, from_state, to_state, "
            "override, due_on, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            case_id, self.clock.time(), actor, kind, frm.value if frm else None,
            to.value if to else None, int(override), due_on, detail[:2000] if detail else None)

    async def link(self, tx: Tx, case_id: str, message_id: str, direction: str) -> None:
        """Link a message (``in`` received, ``out`` sent) to a case, once."""
        await tx.execute(
            "INSERT INTO case_messages (case_id, message_id, direction, at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (case_id, message_id) DO NOTHING",
            case_id, message_id, direction, self.clock.time())

    async def load(self, tx: Tx, case_id: str) -> CaseRow:
        row = await tx.fetchone("SELECT * FROM cases WHERE case_id = ?", case_id)
        if row is None:
            raise GatewayError("not-found", f"no case {case_id}")
        return CaseRow(**row)

    async def move(self, tx: Tx, case_id: str, to: CaseState, actor: str, why: str,
                   override: bool = False, monitor_until: str | None = None) -> CaseRow:
        """Move a case to ``to``. A move the flowchart does not draw, or closing a placed
        child's case before its term of monitoring ends (``monitor_until``), needs
        ``override`` (and is stored as one); a reason is always required."""
        if not why.strip():
            raise GatewayError("bad-request", "say why the case moves (a reason is required)")
        case = await self.load(tx, case_id)
        frm = case.state
        if to == frm:
            raise GatewayError("case-transition", f"the case is already {to.value}")
        allowed = to in NEXT[frm]
        if not allowed and not override:
            nxt = ", ".join(s.value for s in NEXT[frm]) or "nothing (it is closed)"
            raise GatewayError("case-transition",
                               f"{frm.value} -> {to.value} is not in the flowchart; from "
                               f"{frm.value} the case can go to {nxt}. Use an override, "
                               f"with a reason, to move it anyway")
        # The seed's flowchart: "CME Officer Tracks & Monitors for 1 term" after placement.
        early = (to is C.CLOSED and frm in (C.PLACED, C.MONITORED)
                 and case.monitor_until is not None
                 and self.clock.today().isoformat() < case.monitor_until)
        if early and not override:
            raise GatewayError("monitoring-not-ended",
                               f"the placement is monitored for one term, until "
                               f"{case.monitor_until}: close the case from that day, or use an "
                               f"override with a reason (for example, the family left the "
                               f"area) to close it now")
        now = self.clock.time()
        n = await tx.execute(
            "UPDATE cases SET status = ?, updated_at = ?, closed_at = ?, "
            "monitor_until = COALESCE(?, monitor_until) WHERE case_id = ? AND status = ?",
            to.value, now, now if to is C.CLOSED else None, monitor_until, case_id, frm.value)
        if not n:
            raise GatewayError("case-transition", "the case changed meanwhile: look again")
        await self.event(tx, case_id, actor, "moved", frm, to,
                         override=not allowed or early, detail=why)
        return await self.load(tx, case_id)

    async def recast(self, tx: Tx, case_id: str, category: int, reason: str,
                     details: dict[str, Any], upn: str | None = None,
                     nhs_number: str | None = None, sex: str | None = None,
                     year_group: str | None = None) -> None:
        """What a later return says the case is (an absence case the school's deletion
        return turns into a deletion case): its category, reason, and details added to
        those it has (a detail given is kept, one empty never removes one); the UPN, NHS
        number, sex and year group fill those the case lacks. The caller notes why on the
        timeline."""
        case = await self.load(tx, case_id)
        await tx.execute(
            "UPDATE cases SET category = ?, reason = ?, details = ?, updated_at = ?, "
            "upn = COALESCE(upn, ?), nhs_number = COALESCE(nhs_number, ?), "
            "sex = COALESCE(sex, ?), year_group = COALESCE(year_group, ?) "
            "WHERE case_id = ?", category, reason,
            json.dumps({**case.detail_map(), **{k: v for k, v in details.items() if v}}),
            self.clock.time(), upn or None, nhs_number or None, sex or None,
            year_group or None, case_id)

    async def assign(self, tx: Tx, case_id: str, key_worker: str, actor: str) -> None:
        await self.load(tx, case_id)
        await tx.execute("UPDATE cases SET key_worker = ?, updated_at = ? WHERE case_id = ?",
                         key_worker, self.clock.time(), case_id)
        await self.event(tx, case_id, actor, "assigned", detail=key_worker)

    async def flag_urgent(self, tx: Tx, case_id: str, actor: str, why: str) -> bool:
        """Mark a case urgent (safeguarding); False if it already was."""
        n = await tx.execute("UPDATE cases SET urgent = 1, updated_at = ? WHERE case_id = ? "
                             "AND urgent = 0", self.clock.time(), case_id)
        if n:
            await self.event(tx, case_id, actor, "flag", detail=why)
        return bool(n)

    async def get(self, case_id: str) -> CaseRow | None:
        async def op(tx: Tx) -> CaseRow | None:
            row = await tx.fetchone("SELECT * FROM cases WHERE case_id = ?", case_id)
            return CaseRow(**row) if row else None
        return await self.backend.read(op)

    async def events(self, case_id: str) -> list[CaseEvent]:
        async def op(tx: Tx) -> list[CaseEvent]:
            rows = await tx.fetchall(
                "SELECT at, actor, kind, from_state, to_state, override, due_on, detail "
                "FROM case_events WHERE case_id = ? ORDER BY id", case_id)
            return [CaseEvent(**r) for r in rows]
        return await self.backend.read(op)

    async def messages(self, case_id: str) -> list[tuple[str, str, float]]:
        async def op(tx: Tx) -> list[tuple[str, str, float]]:
            rows = await tx.fetchall("SELECT message_id, direction, at FROM case_messages "
                                     "WHERE case_id = ? ORDER BY at", case_id)
            return [(r["message_id"], r["direction"], r["at"]) for r in rows]
        return await self.backend.read(op)

    @staticmethod
    async def linked(tx: Tx, case_id: str) -> set[str]:
        rows = await tx.fetchall("SELECT message_id FROM case_messages WHERE case_id = ?",
                                 case_id)
        return {r["message_id"] for r in rows}

    @staticmethod
    async def for_transfer(tx: Tx, transfer_id: str) -> list[str]:
        """The cases of a CTF: opened for it, or linked to the Transfer that forwarded it
        (an LA's forward of its school's lost CTF is stored at the hub under the forward's
        id, which the hub's ClaimNotice names)."""
        rows = await tx.fetchall(
            "SELECT case_id FROM cases WHERE transfer_id = ? UNION "
            "SELECT case_id FROM case_messages WHERE message_id = ? AND direction = 'out'",
            transfer_id, transfer_id)
        return sorted({r["case_id"] for r in rows})

    async def for_message(self, tx: Tx, message_id: str) -> list[str]:
        rows = await tx.fetchall("SELECT case_id FROM case_messages WHERE message_id = ?",
                                 message_id)
        return [r["case_id"] for r in rows]

    async def find(self, f: CaseFilter = CaseFilter()) -> list[CaseRow]:
        """Urgent cases first, then newest first."""
        async def op(tx: Tx) -> list[CaseRow]:
            sql = "SELECT * FROM cases WHERE 1 = 1"
            args: list[Any] = []
            if f.states:
                sql += f" AND status IN ({sql_list([s.value for s in f.states])})"
            elif f.open_only:
                sql += f" AND status IN ({sql_list([s.value for s in OPEN_STATES])})"
            if f.category is not None:
                sql += " AND category = ?"
                args.append(f.category)
            if f.urgent_only:
                sql += " AND urgent = 1"
            sql += " ORDER BY urgent DESC, opened_at DESC LIMIT ?"
            args.append(f.limit)
            return [CaseRow(**r) for r in await tx.fetchall(sql, *args)]
        return await self.backend.read(op)

    async def find_open(self) -> list[CaseRow]:
        return await self.find(CaseFilter(open_only=True, limit=1_000_000))

    async def last_event_at(self, case_id: str, kind: str) -> float | None:
        async def op(tx: Tx) -> float | None:
            row = await tx.fetchone("SELECT MAX(at) AS t FROM case_events WHERE case_id = ? "
                                    "AND kind = ?", case_id, kind)
            return float(row["t"]) if row and row["t"] is not None else None
        return await self.backend.read(op)

    async def recent(self, limit: int = 100) -> list[CaseRow]:
        return await self.find(CaseFilter(limit=limit))

    async def all_for_report(self) -> list[CaseRow]:
        async def op(tx: Tx) -> list[CaseRow]:
            return [CaseRow(**r) for r in await tx.fetchall("SELECT * FROM cases")]
        return await self.backend.read(op)

    async def moves(self) -> list[tuple[str, float, str | None, str | None]]:
        """Every move of every case: (case id, at, from, to), oldest first (for reports)."""
        async def op(tx: Tx) -> list[tuple[str, float, str | None, str | None]]:
            rows = await tx.fetchall("SELECT case_id, at, from_state, to_state FROM "
                                     "case_events WHERE kind IN ('opened', 'moved') "
                                     "ORDER BY id")
            return [(r["case_id"], r["at"], r["from_state"], r["to_state"]) for r in rows]
        return await self.backend.read(op)
