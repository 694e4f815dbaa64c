"""Cases: opened from a referral (a received Referral message, the API or the CLI), a lost-CTF
notice, or a child of an enquiry not known here; moved along the seed's flowchart by the
officer, with dated actions, notes, a key worker and half-termly reviews.

Safeguarding: a child on a child-protection plan or looked after is escalated at once
(``notify.safeguarding``): the case is urgent, first in every queue, and every officer and
manager is told.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from gateway.calendar import (
    EARLIEST_BIRTH_YEAR,
    birth_possible,
    calendar_for,
    half_termly_reviews,
    monitoring_ends,
)
from gateway.core.clock import local_date
from gateway.core.errors import GatewayError
from gateway.core.parties import HUB
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival, Handled
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import Tx
from gateway.store.cases import CaseRow, CaseState, NewCase
from gateway.store.watches import PENDING, WatchState
from gateway.workflow import notify

C = CaseState
LONDON = ZoneInfo("Europe/London")
# Characters XML 1.0 cannot carry: refused as bad input, before the Referral is built.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _address(a: m.Address | None) -> str | None:
    if a is None:
        return None
    return ", ".join([*a.lines, a.postcode or ""]).strip(", ") or None


def referral_case(r: m.Referral, source: str) -> NewCase:
    """The case of a CME Referral Form, every field kept."""
    c = r.child
    details: dict[str, Any] = {
        "referrer": r.referrer.name, "referrer_position": r.referrer.position,
        "referrer_telephone": r.referrer.telephone,
        "referrer_organisation": r.referrer.organisation,
        "looked_after": c.looked_after, "child_protection_plan": c.child_protection_plan,
        "ethnicity": c.ethnicity, "sen_stage": c.sen_stage,
        "address_while_resident": _address(c.address_while_resident),
        "new_address": _address(c.new_address),
        "telephone": (c.address_while_resident.telephone if c.address_while_resident
                      else None),
        "gp_details": c.gp_details, "reason_out_of_provision": r.reason_out_of_provision,
        "last_school": (f"{r.last_school.name} ({r.last_school.local_authority or ''})"
                        if r.last_school else None),
        "date_last_on_roll": r.date_last_on_roll.isoformat() if r.date_last_on_roll else None,
        "action_plan": r.action_plan, "other_details": r.other_details,
        "referral_date": r.referral_date.isoformat(), "signed_by": r.signed_by}
    return NewCase(category=int(r.category), reason=r.reason_out_of_provision or
                   f"referral: category {int(r.category)}", source=source,
                   surname=c.surname, forename=c.forename, upn=c.upn, nhs_number=c.nhs_number,
                   dob=c.dob.isoformat() if c.dob else None, sex=c.gender,
                   message_id=r.header.message_id, state=C.REFERRED,
                   year_group=c.year_group, opened_on=r.referral_date.isoformat(),
                   details={k: v for k, v in details.items() if v is not None})


def safeguarding_reasons(case: NewCase | CaseRow) -> list[str]:
    d = case.details if isinstance(case, NewCase) else case.detail_map()
    why = []
    if d.get("child_protection_plan"):
        why.append("child-protection plan")
    if d.get("looked_after"):
        why.append("looked after")
    return why


async def open_in(gw: Gateway, tx: Tx, case: NewCase, actor: str) -> str | None:
    """Open a case in the caller's transaction, escalating it at once when it must be."""
    case_id = await gw.store.cases.open(tx, case, actor)
    if case_id is None:
        return None
    await gw.store.audit.add(actor, "case-opened", case.message_id,
                             f"case {case_id}, category {case.category}", tx=tx)
    why = safeguarding_reasons(case)
    if why:
        await notify.safeguarding(gw, tx, case_id, ", ".join(why), actor)
    return case_id


async def open_case(gw: Gateway, case: NewCase, actor: str) -> str:
    async def op(tx: Tx) -> str | None:
        return await open_in(gw, tx, case, actor)
    case_id = await gw.store.backend.write(op)
    assert case_id is not None
    return case_id


def referral_from_form(gw: Gateway, form: dict[str, Any]) -> m.Referral:
    """A Referral (the seed's form) entered here by hand: through the CLI or the API. Built
    as the message model so both paths keep the same fields and checks."""
    def text(name: str, required: bool = False) -> str | None:
        v = form.get(name)
        if v is None or v == "":
            if required:
                raise GatewayError("bad-request", f"the referral needs {name}")
            return None
        if not isinstance(v, str) or len(v) > 500:
            raise GatewayError("bad-request", f"{name} must be text of at most 500 characters")
        if _NOT_XML.search(v):
            raise GatewayError("bad-request", f"{name} holds a control character, which a "
                               f"message cannot carry")
        if not v.strip():
            raise GatewayError("bad-request", f"{name} is blank: give it, or leave it out")
        return v

    def day(name: str) -> dt.date | None:
        v = text(name)
        try:
            return dt.date.fromisoformat(v) if v else None
        except ValueError:
            raise GatewayError("bad-request", f"{name} must be a date, YYYY-MM-DD") from None

    def flag(name: str) -> bool | None:
        v = form.get(name)
        if v is None or isinstance(v, bool):
            return v
        raise GatewayError("bad-request", f"{name} must be true or false")

    try:
        category = m.Category(int(form.get("category", 0)))
    except (ValueError, TypeError):
        raise GatewayError("bad-request", "category must be 1 to 9 (the referral form's "
                           "categories)") from None
    address, postcode, telephone = text("address"), text("postcode"), text("telephone")
    dob = day("dob")
    # today in England, as a school return's (the UTC date is a day behind after midnight BST)
    if dob is not None and not birth_possible(dob, local_date(gw.clock.time())):  # 1016
        raise GatewayError("bad-request", f"dob must be a date of birth from "
                           f"{EARLIEST_BIRTH_YEAR}, not in the future")
    child = m.ReferralChild(
        surname=text("surname", True) or "", forename=text("forename", True) or "",
        dob=dob, year_group=text("year_group"), gender=text("gender"),
        looked_after=flag("looked_after"), child_protection_plan=flag("child_protection_plan"),
        ethnicity=text("ethnicity"), sen_stage=text("sen_stage"), upn=text("upn"),
        nhs_number=text("nhs_number"),
        # (a postcode or the family's telephone without an address line is kept too)
        address_while_resident=m.Address(lines=(address,) if address else (),
                                         postcode=postcode, telephone=telephone)
        if address or postcode or telephone else None,
        gp_details=text("gp_details"))
    school = text("last_school")
    return m.Referral(
        header=gw.header(m.MessageType.REFERRAL, gw.party),
        referral_date=day("referral_date") or gw.clock.today(),
        referrer=m.Referrer(name=text("referrer", True) or "", position=text("referrer_position"),
                            telephone=text("referrer_telephone"),
                            organisation=text("referrer_organisation")),
        child=child, category=category, reason_out_of_provision=text("reason"),
        last_school=m.School(name=school) if school else None,
        date_last_on_roll=day("date_last_on_roll"), action_plan=text("action_plan"),
        other_details=text("other_details"))


async def open_referral(gw: Gateway, form: dict[str, Any], actor: str) -> str:
    """Open a case from a referral entered here (CLI or API); the form's fields are checked
    against the Referral schema, as a received one would be."""
    referral = referral_from_form(gw, form)
    schemas.validate(mx.build(referral))  # schema-invalid: what a Referral cannot carry
    case = dataclasses.replace(referral_case(referral, f"referral entered by {actor}"),
                               message_id=None)
    return await open_case(gw, case, actor)


class ReferralArrived:
    """A received Referral opens a case (state ``referred``) with the message, in the same
    transaction; a child on a child-protection plan or looked after is escalated at once."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.Referral)
        case = referral_case(message, f"Referral from {message.header.sender}")

        async def opened(tx: Tx) -> None:
            await open_in(gw, tx, case, f"party:{message.header.sender}")

        return Handled(step=opened)


class ClaimNoticed:
    """The hub tells this LA that another LA claimed a lost CTF of one of its schools: the
    child is located there. The case the CtfNotice opened moves to "located" along the
    flowchart (through "unknown" if it was only logged), with the notice linked; with no
    such case (the CtfNotice never came), one is opened, located."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.ClaimNotice)
        n = message
        if n.header.sender != HUB or gw.settings.role != "la":
            raise GatewayError("bad-request", "ClaimNotices come from the S2S hub to an LA")
        why = f"located by LA {n.claimed_by}: it claimed the lost CTF {n.transfer_id}"
        actor = f"party:{n.header.sender}"

        async def located(tx: Tx) -> None:
            ids = await gw.store.cases.for_transfer(tx, n.transfer_id)
            if not ids:
                p = n.pupil
                case_id = await gw.store.cases.open(tx, NewCase(
                    category=int(m.Category.WHEREABOUTS_UNKNOWN), reason=why,
                    source=f"S2S claim notice: transfer {n.transfer_id}", surname=p.surname,
                    forename=p.forename, upn=p.upn, dob=p.dob.isoformat() if p.dob else None,
                    sex=p.sex, message_id=n.header.message_id, state=C.LOCATED,
                    transfer_id=n.transfer_id), actor)
                ids = [case_id] if case_id else []
            for case_id in ids:
                await gw.store.cases.link(tx, case_id, n.header.message_id, "in")
                case = await gw.store.cases.load(tx, case_id)
                path = {C.REFERRED: (C.LOGGED, C.UNKNOWN, C.LOCATED),
                        C.LOGGED: (C.UNKNOWN, C.LOCATED), C.UNKNOWN: (C.LOCATED,),
                        C.WHEREABOUTS_UNKNOWN: (C.LOCATED,)}.get(case.state, ())
                for to in path:
                    await gw.store.cases.move(tx, case_id, to, actor, why)
                if not path:
                    await gw.store.cases.event(tx, case_id, actor, "note", detail=why)
            await gw.store.audit.add(actor, "claim-notice", n.header.message_id,
                                     f"transfer {n.transfer_id} claimed by LA {n.claimed_by}",
                                     tx=tx)

        return Handled(step=located)


async def move(gw: Gateway, case_id: str, to: CaseState, actor: str, why: str,
               override: bool = False) -> CaseRow:
    """Move a case along the flowchart. Placing a child sets the end of its term of
    monitoring (``monitoring_ends`` on the school calendar)."""
    until = None
    if to is C.PLACED:
        until = monitoring_ends(calendar_for(gw.settings), gw.clock.today()).isoformat()

    async def op(tx: Tx) -> CaseRow:
        return await move_in(gw, tx, case_id, to, actor, why, override, until)
    return await gw.store.backend.write(op)


async def move_in(gw: Gateway, tx: Tx, case_id: str, to: CaseState, actor: str, why: str,
                  override: bool = False, until: str | None = None) -> CaseRow:
    """``move`` in the caller's transaction: the move and its ``case-moved`` audit entry."""
    row = await gw.store.cases.move(tx, case_id, to, actor, why, override, until)
    await gw.store.audit.add(actor, "case-moved", None,
                             f"case {case_id}: {row.status}" +
                             (" (override)" if override else ""), tx=tx)
    return row


async def assign(gw: Gateway, case_id: str, key_worker: str, actor: str) -> CaseRow:
    """Give the case a key worker; a located child's case moves to key-worker-assigned."""
    if not key_worker.strip() or len(key_worker) > 200:
        raise GatewayError("bad-request", "name the key worker (at most 200 characters)")

    async def op(tx: Tx) -> CaseRow:
        await gw.store.cases.assign(tx, case_id, key_worker.strip(), actor)
        case = await gw.store.cases.load(tx, case_id)
        if case.state is C.LOCATED:
            case = await gw.store.cases.move(tx, case_id, C.KEY_WORKER_ASSIGNED, actor,
                                             f"key worker {key_worker.strip()}")
        await gw.store.audit.add(actor, "case-assigned", None, f"case {case_id}", tx=tx)
        return case
    return await gw.store.backend.write(op)


async def add_event(gw: Gateway, case_id: str, kind: str, text: str, actor: str,
                    due_on: dt.date | None = None) -> None:
    """A note, a dated action (``due_on``) or a review, on the case's timeline."""
    if kind not in ("note", "action", "review"):
        raise GatewayError("bad-request", "kind must be note, action or review")
    if not text.strip() or len(text) > 2000:
        raise GatewayError("bad-request", "write the text (at most 2,000 characters)")

    async def op(tx: Tx) -> None:
        await gw.store.cases.load(tx, case_id)
        await gw.store.cases.event(tx, case_id, actor, kind,
                                   due_on=due_on.isoformat() if due_on else None, detail=text)
        await gw.store.audit.add(actor, f"case-{kind}", None, f"case {case_id}", tx=tx)
    await gw.store.backend.write(op)


async def flag(gw: Gateway, case_id: str, why: str, actor: str) -> bool:
    """Flag a case for safeguarding after it was opened (a CP plan learnt later)."""
    async def op(tx: Tx) -> bool:
        await gw.store.cases.load(tx, case_id)
        return await notify.safeguarding(gw, tx, case_id, why, actor)
    return await gw.store.backend.write(op)


async def reviews_due(gw: Gateway, within_days: int = 14) -> list[dict[str, Any]]:
    """Open cases with a half-termly review due by ``within_days`` from today (or overdue:
    no review recorded since the review date), and monitoring that ends in that time.

    A case opened on a day the calendar does not hold (a referral dated in a school year not
    configured) is reviewed from the first half term the calendar holds after that day. When
    the calendar cannot say what is due today either, the case is listed as needing the
    calendar (``calendar_missing``), never left out."""
    cal = calendar_for(gw.settings)
    today = gw.clock.today()
    horizon = today + dt.timedelta(days=within_days)
    out: list[dict[str, Any]] = []
    for case in await gw.store.cases.find_open():
        opened = dt.date.fromisoformat(case.opened_on) if case.opened_on else today
        last_review = await gw.store.cases.last_event_at(case.case_id, "review")
        try:
            dates = half_termly_reviews(cal, opened)
        except GatewayError:  # a school year not held: the half terms the calendar holds
            dates = [d for d in map(cal.last_school_day, cal.blocks())
                     if d is not None and d > opened]
        done = (dt.datetime.fromtimestamp(last_review, dt.UTC).astimezone(LONDON).date()
                if last_review else None)
        # A review recorded in a half-term block covers that block's review: the one due is
        # the first whose block holds no recorded review. The first block runs from the day
        # the case opened; each later one from the day after the review date before it (a
        # review recorded on its due day is that block's, not the next one's).
        due = next((d for i, d in enumerate(dates)
                    if done is None or (done <= dates[i - 1] if i else done < opened)), None)
        if due is not None and due <= horizon:
            out.append({"case_id": case.case_id, "kind": "half-termly review",
                        "due": due.isoformat(), "overdue": due < today,
                        "urgent": bool(case.urgent), "state": case.status})
        elif not cal.covers(today):
            out.append({"case_id": case.case_id, "kind": "half-termly review: the school "
                        "calendar does not hold this school year; add its term dates "
                        "(docs/calendar.md)", "due": today.isoformat(), "overdue": False,
                        "urgent": bool(case.urgent), "state": case.status,
                        "calendar_missing": True})
        if case.monitor_until and case.state in (C.PLACED, C.MONITORED):
            end = dt.date.fromisoformat(case.monitor_until)
            if end <= horizon:
                out.append({"case_id": case.case_id, "kind": "end of monitoring",
                            "due": end.isoformat(), "overdue": end < today,
                            "urgent": bool(case.urgent), "state": case.status})
    for w in await gw.store.watches.listing((WatchState.WATCHING, *PENDING), 1_000_000):
        end = dt.date.fromisoformat(w.watched_until)
        if end <= horizon:
            # a finding still waiting for the officer holds the final reply back
            kind = ("monitoring ends (watched child)" if w.state == WatchState.WATCHING
                    else f"decide the {w.state} match: monitoring ends")
            out.append({"case_id": w.case_id, "kind": kind, "due": w.watched_until,
                        "overdue": end < today, "urgent": False, "state": w.state,
                        "watch_id": w.watch_id})
    out.sort(key=lambda r: (not r["urgent"], r["due"]))
    return out
