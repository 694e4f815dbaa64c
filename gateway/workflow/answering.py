"""Answering a received Enquiry (the receiving LA): a proposed outcome per child from the match
against local records, the officer's approval or edit, and what the reply causes.

- ``propose``: per child, the best candidate from both addresses (while resident and new),
  and the outcome it suggests: ``known-on-roll`` with the school (a ``match`` to a record on
  a roll today), ``known-not-on-roll`` (a ``match`` to a record that is not on a roll), or
  ``not-known-monitoring`` (no match; a ``possible`` is shown to the officer as a reason to
  look, never answered as known by the gateway).
- ``answer``: queue the Reply (every child, or a partial reply the officer confirmed); each
  child answered ``not-known-monitoring`` opens a case ("unknown") and is watched until the
  end of the next school term (``monitoring.watch_until``).
- ``auto_answer``: with ``auto_reply = "decisive"``, the children whose UPN matched exactly
  one record on a roll are answered at once; everyone else waits for the officer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.replies import Asking, answered, received_enquiry, reply
from gateway.matching import MATCH, NO_MATCH, POSSIBLE
from gateway.messages import model as m
from gateway.store import OutboundRow, Tx
from gateway.store.cases import CaseState, NewCase
from gateway.store.records import LocalRecord
from gateway.workflow import monitoring
from gateway.workflow.queries import child_queries, on_roll, school_of

log = logging.getLogger(__name__)
Out = m.Outcome


@dataclass(frozen=True)
class Proposal:
    child_ref: str
    outcome: m.Outcome
    band: str
    school: m.School | None
    record_id: str | None
    explanation: dict[str, str]
    decisive: bool
    answered: str | None  # the outcome already sent for this child, if any
    note: str
    name: str = ""  # "SURNAME, Forename (born ...)", as the enquiry gives it

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["outcome"] = self.outcome.value
        return d


def outcome_for(band: str, record: LocalRecord | None, today: dt.date
                ) -> tuple[m.Outcome, m.School | None]:
    if band == MATCH and record is not None:
        if on_roll(record, today):
            return Out.KNOWN_ON_ROLL, school_of(record.laestab)
        return Out.KNOWN_NOT_ON_ROLL, None
    return Out.NOT_KNOWN_MONITORING, None


async def propose(gw: Gateway, enquiry_id: str) -> list[Proposal]:
    """A proposed outcome for each child of a received Enquiry (matched in the background;
    a child not matched yet is proposed ``not-known-monitoring`` with a note saying so)."""
    enquiry, _, _ = await received_enquiry(gw, enquiry_id)
    results = {r.child_ref: r for r in await gw.store.records.results(enquiry_id)}
    best = {ref: r.candidates[0] for ref, r in results.items() if r.candidates}
    records = await gw.store.records.by_ids({c["record_id"] for c in best.values()})
    done = await answered(gw, enquiry_id)
    today = gw.clock.today()
    out = []
    for child in enquiry.children:
        ref = child.child_ref
        cand = best.get(ref)
        band = cand["band"] if cand else NO_MATCH
        record = records.get(cand["record_id"]) if cand else None
        outcome, school = outcome_for(band, record, today)
        explanation = dict(cand.get("explanation", {})) if cand else {}
        decisive = bool(cand and band == MATCH and "decisive" in explanation.get("upn", ""))
        if ref not in results:
            note = "not matched yet: the local records have not been searched for this child"
        elif band == POSSIBLE:
            note = (f"possible match to record {cand['record_id'] if cand else ''}: check it "
                    f"before answering known")
        elif band == MATCH:
            note = f"matches record {cand['record_id'] if cand else ''}"
        else:
            note = "no local record matches"
        out.append(Proposal(child_ref=ref, outcome=outcome, band=band, school=school,
                            record_id=record.record_id if record else None,
                            explanation=explanation, decisive=decisive,
                            answered=done[ref][0] if ref in done else None, note=note,
                            name=f"{child.surname}, {child.forename}"
                                 + (f" (born {child.dob.isoformat()})" if child.dob else "")))
    return out


def _case_for(enquiry: Asking, child: m.EnquiryChild, enquirer: str) -> NewCase:
    addr = child.new_address or child.address_while_resident
    return NewCase(
        category=int(m.Category.WHEREABOUTS_UNKNOWN),
        reason="enquiry from another authority: the child is not known here",
        source=f"Enquiry from {enquirer}", surname=child.surname, forename=child.forename,
        upn=child.upn, nhs_number=child.nhs_number,
        dob=child.dob.isoformat() if child.dob else None, sex=child.gender,
        message_id=enquiry.header.message_id, state=CaseState.UNKNOWN,
        details={k: v for k, v in {
            "enquirer": enquirer, "child_ref": child.child_ref,
            "new_address": _address(child.new_address),
            "address_while_resident": _address(child.address_while_resident),
            "last_school": child.school_last_attended.name if child.school_last_attended
            else None, "gp_details": child.gp_details, "ethnicity": child.ethnicity,
            "other_details": child.remarks,
            "telephone": addr.telephone if addr else None}.items() if v})


def _address(a: m.Address | None) -> str | None:
    if a is None:
        return None
    return ", ".join([*a.lines, a.postcode or ""]).strip(", ") or None


async def answer(gw: Gateway, enquiry_id: str, outcomes: list[m.ChildOutcome],
                 comments: str | None = None, actor: str = "cli",
                 partial: bool = False) -> OutboundRow:
    """Queue the Reply the officer approved. Each child answered ``not-known-monitoring`` is
    watched (and gets a case); a child answered known stops being watched."""
    enquiry, enquirer, conversation = await received_enquiry(gw, enquiry_id)
    children = {c.child_ref: c for c in enquiry.children}
    watching = [o.child_ref for o in outcomes if o.outcome is Out.NOT_KNOWN_MONITORING]
    until, estimated = monitoring.watch_until(gw, enquiry_id)
    existing = {w.child_ref: w for w in await gw.store.watches.for_enquiry(enquiry_id)}
    not_this = await _not_this_child(gw, enquiry_id, outcomes)

    async def caused(tx: Tx, reply_id: str) -> None:
        for ref in watching:
            child = children[ref]
            old = existing.get(ref)
            case_id = old.case_id if old else None
            if case_id is None:
                case_id = await gw.store.cases.open(tx, _case_for(enquiry, child, enquirer),
                                                    actor)
            if case_id:
                await gw.store.cases.link(tx, case_id, reply_id, "out")
                await gw.store.cases.event(tx, case_id, actor, "note",
                                           detail=f"answered not known but monitoring "
                                                  f"until {until}")
            old_dismissed = old.dismissed_refs() if old else set()
            await gw.store.watches.add(tx, enquiry_id, ref, enquirer, conversation, case_id,
                                       until, estimated,
                                       {"queries": [q.to_dict() for q in child_queries(child)]},
                                       not_this[ref] | old_dismissed)
            await gw.store.audit.add(actor, "watch", enquiry_id,
                                     f"child {ref} watched until {until}", tx=tx)
        for o in outcomes:  # answered otherwise: any watch of the child is over
            old = existing.get(o.child_ref)
            if o.outcome is not Out.NOT_KNOWN_MONITORING and old is not None:
                await gw.store.watches.close(tx, old.watch_id, reply_id)

    return await reply(gw, enquiry_id, outcomes, comments, actor, partial=partial,
                       step=caused)


async def _not_this_child(gw: Gateway, enquiry_id: str, outcomes: list[m.ChildOutcome]
                          ) -> dict[str, set[str]]:
    """For each child of the enquiry, the local records a watch must never propose: the
    candidates the officer was shown and did not answer known with (a child answered "not
    known but monitoring" in spite of them is not that record), and the records matched to
    the other children of the enquiry (a twin answered known is not the other twin)."""
    results = {r.child_ref: r for r in await gw.store.records.results(enquiry_id)}
    seen = {ref: {f"records:records:{c['record_id']}" for c in r.candidates
                  if c["band"] in (MATCH, POSSIBLE)} for ref, r in results.items()}
    every = set().union(*seen.values()) if seen else set()
    return {o.child_ref: every for o in outcomes}


async def approved(gw: Gateway, enquiry_id: str) -> list[m.ChildOutcome]:
    """The proposal, as the officer approves it: the children not answered yet. Refused while
    a child has not been matched yet (its proposal would be a guess), or when every child is
    answered already (approving again must never undo a "now known" update)."""
    proposals = await propose(gw, enquiry_id)
    waiting = [p for p in proposals if p.answered is None]
    if not waiting:
        raise GatewayError("invalid-state", "every child of this enquiry is answered already; "
                           "to change an answer, give the child's outcome")
    if any(p.band == NO_MATCH and p.note.startswith("not matched") for p in waiting):
        raise GatewayError("invalid-state", "the local records have not been searched for "
                           "every child yet; try again in a moment")
    return [m.ChildOutcome(p.child_ref, p.outcome, p.school) for p in waiting]


async def auto_answer(gw: Gateway, enquiry_id: str) -> OutboundRow | None:
    """With ``auto_reply = "decisive"``: answer at once the children whose UPN decided the
    match and who are on a roll today (and not answered yet). A partial reply: the others
    stay in the officer's queue."""
    if gw.settings.auto_reply != "decisive":
        return None
    outcomes = [m.ChildOutcome(child_ref=p.child_ref, outcome=p.outcome, school=p.school,
                               comments="answered automatically: the UPN matches a pupil on "
                                        "roll")
                for p in await propose(gw, enquiry_id)
                if p.decisive and p.outcome is Out.KNOWN_ON_ROLL and p.answered is None]
    if not outcomes:
        return None
    row = await answer(gw, enquiry_id, outcomes, actor="auto-reply", partial=True)
    log.info("auto-replied enquiry=%s reply=%s children=%d", enquiry_id, row.message_id,
             len(outcomes))
    return row


async def awaiting(gw: Gateway, limit: int = 100) -> list[dict[str, Any]]:
    """Received enquiries with children not answered yet: the officer's queue (oldest
    first), with how many children wait and how many are possible matches."""
    out = []
    for r in await gw.store.inbox.awaiting_reply(limit):
        enquiry, _, _ = await received_enquiry(gw, r["message_id"])
        waiting = len(enquiry.children) - int(r["answered"])
        if waiting > 0:
            out.append({"enquiry_id": r["message_id"], "from": r["sender"],
                        "received_at": r["received_at"], "children": len(enquiry.children),
                        "waiting": waiting, "possible": int(r["possible"]),
                        "matched": int(r["matched"]) >= len(enquiry.children)})
    return out


def outcomes_from(decisions: list[dict[str, Any]]) -> list[m.ChildOutcome]:
    """Child outcomes from plain data ({child_ref, outcome, school?, comments?})."""
    out = []
    for d in decisions:
        try:
            school = d.get("school")
            out.append(m.ChildOutcome(child_ref=str(d["child_ref"]),
                                      outcome=m.Outcome(d["outcome"]),
                                      school=m.School(**school) if school else None,
                                      comments=d.get("comments")))
        except (KeyError, ValueError, TypeError):
            raise GatewayError("bad-request", "each outcome needs child_ref and outcome (one "
                               "of " + ", ".join(o.value for o in Out) + ")") from None
    return out
