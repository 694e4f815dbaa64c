"""Schools' returns to their LA (School Attendance (Pupil Registration) (England) Regulations
2024; docs/school-notices.md): a new pupil, a deletion from the roll, continuous absence,
sickness.

A return comes from a school (a LAESTAB party) to its own LA's gateway, signed like any
message (``cme-gateway send`` or the school's spool folder); a school outside the area is
refused (``notice-outside-area``). In the transaction that stores it:

- its lateness is worked out and kept (``school_notices``): a new-pupil return is due by the
  end of the fifth day after the pupil was entered on the admission register (not needed for
  a youngest-year pupil starting on the first day of the school year, reg. 13(2), unless the
  LA asks: ``youngest_year_returns``); a deletion
  return no later than the deletion. A late one is flagged with how late it is, in school
  days, and told to the officers;
- a deletion whose destination is unknown (no future address and no destination school), or
  on a ground that needs the school and the LA to have jointly made reasonable enquiries,
  opens a case at once (category 7, "unknown": enquiries); a ground that does not fit the
  pupil's date of birth (ceased compulsory school age) and custody (category 8) open one
  too; exclusion, medical unfitness and elective home education are told to the officers
  (home education drafts a Children Not in School register entry when the register is on);
- absence and sickness returns are told to the officers (queue and e-mail); an absence
  return opens a case ("existing pupil") with a dated action for the joint enquiries.

A new pupil is then matched, in the background, against every watched child (a match sends
the updated Reply "now known at this school" to the enquiring LA through the monitoring loop)
and against every open case (a match is noted on the case and told to the officers).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from gateway.calendar import (
    EARLIEST_BIRTH_YEAR,
    birth_possible,
    calendar_for,
    compulsory_until,
    of_compulsory_age,
    removal_from_roll_from,
)
from gateway.core.errors import GatewayError
from gateway.core.parties import is_school, la_of
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival, Handled
from gateway.matching import normalise as nz
from gateway.messages import grounds
from gateway.messages import model as m
from gateway.store import Tx
from gateway.store.cases import NEXT, CaseState, NewCase
from gateway.workflow import cases as wf
from gateway.workflow import cnis, notify

log = logging.getLogger(__name__)
K = m.NoticeKind
LONDON = ZoneInfo("Europe/London")
NEW_PUPIL_DAYS = 5  # "by the end of the fifth day after" entry on the admission register
# The state an absence return opens its case in (on a roll: check attendance with the school)
ABSENCE_STATE = CaseState.EXISTING_PUPIL


G = m.DeletionGround
# Grounds with no destination to know, or whose destination is known by the ground itself
# (still registered at the other schools, 9(1)(c); the school the LA's amended attendance
# order names, 9(1)(d); educated at home, 9(1)(f)): "destination unknown" does not make the
# child missing.
NO_DESTINATION = frozenset({G.DIED, G.CEASED_COMPULSORY_AGE, G.IN_CUSTODY, G.MEDICALLY_UNFIT,
                            G.PERMANENTLY_EXCLUDED, G.DUAL_REGISTRATION_ENDED,
                            G.ATTENDANCE_ORDER_AMENDED, G.EDUCATED_OTHERWISE})
# Grounds with no destination on which the officer is told all the same: the child is out of
# school and the LA must know where their education comes from. What the officer is asked.
TELL_OFFICER = {
    G.PERMANENTLY_EXCLUDED: "permanently excluded: confirm the child's alternative provision "
                            "with the Admissions and Exclusions Team, which tracks excluded "
                            "pupils",
    G.MEDICALLY_UNFIT: "medically unfit to attend: confirm the education the LA arranges",
    G.EDUCATED_OTHERWISE: "elective home education: a parent will educate the child "
                          "otherwise than at school",
}
# Dates a return may give: from the pupil's birth to a little ahead of the day it is sent
# (an admission or deletion can be notified just before it happens).
AHEAD = dt.timedelta(days=60)


def _check(n: m.SchoolNotice, today: dt.date) -> None:
    if not birth_possible(n.pupil.dob, today):  # a mistyped year (1016 for 2016)
        raise GatewayError("notice-incomplete", f"the pupil's DOB cannot be a date of birth: "
                           f"give one from {EARLIEST_BIRTH_YEAR}, not in the future")
    if n.kind is K.NEW_PUPIL and n.admitted_on is None:
        raise GatewayError("notice-incomplete", "a new-pupil return needs AdmittedOn")
    if n.kind is K.DELETION:
        if n.deletion is None:
            raise GatewayError("notice-incomplete", "a deletion return needs Deletion")
        if not any(p.telephone for p in n.parents):
            raise GatewayError("notice-incomplete", "a deletion return needs a parent with "
                               "at least one telephone number")
        d = n.deletion
        if d.deleted_on is not None and d.deleted_on < d.ground_met_on:
            raise GatewayError("notice-incomplete", "DeletedOn is before GroundMetOn")
    if n.kind in (K.ABSENCE, K.SICKNESS) and n.absence is None:
        raise GatewayError("notice-incomplete", f"a {n.kind.value} return needs Absence")
    dates = [n.admitted_on, n.deletion.ground_met_on if n.deletion else None,
             n.deletion.deleted_on if n.deletion else None,
             n.absence.absent_since if n.absence else None]
    for day in (x for x in dates if x is not None):
        if not n.pupil.dob <= day <= today + AHEAD:
            raise GatewayError("notice-incomplete", "a date of the return is before the "
                               "pupil's birth or too far ahead")


def lateness(gw: Gateway, n: m.SchoolNotice, received: dt.date
             ) -> tuple[dt.date, dt.date | None, int | None]:
    """(the day the return is about, the day it was due, school days late or None)."""
    if n.kind is K.NEW_PUPIL:
        assert n.admitted_on is not None
        event = n.admitted_on
        if (n.youngest_year_start and gw.settings.youngest_year_returns == "no"
                and _starts_school_year(gw, event)):
            return event, None, None  # not required: the LA does not ask for these
        due: dt.date | None = event + dt.timedelta(days=NEW_PUPIL_DAYS)
    elif n.kind is K.DELETION:
        assert n.deletion is not None
        event = n.deletion.ground_met_on
        # "as soon as the ground is met": by the next school day (a day to send it), and in
        # any case no later than the deletion itself
        due = _next_school_day(gw, event)
        if n.deletion.deleted_on is not None:
            due = min(due, n.deletion.deleted_on)
    else:
        assert n.absence is not None
        return n.absence.absent_since, None, None
    if due is None or received <= due:
        return event, due, None if due is None else 0
    try:
        late = calendar_for(gw.settings).school_days(due + dt.timedelta(days=1), received)
    except GatewayError:  # the calendar does not hold those days: count weekdays
        late = sum(1 for i in range((received - due).days)
                   if (due + dt.timedelta(days=i + 1)).weekday() < 5)
    return event, due, late


def _starts_school_year(gw: Gateway, day: dt.date) -> bool:
    """A start on the first day of the school year (reg. 13(2): only a pupil placed in the
    youngest year *and* starting on that day needs no return unless the LA asks): from 1
    September up to the first school day of the year on the calendar. When the calendar does
    not hold that year, the first ten days of September."""
    try:
        cal = calendar_for(gw.settings)
        first = cal.first_school_day(cal.year(day).terms[0])
    except GatewayError:
        first = None
    if first is None:
        return day.month == 9 and day.day <= 10
    return dt.date(first.year, 9, 1) <= day <= first


def _ceased_age_misfits(gw: Gateway, n: m.SchoolNotice) -> bool:
    """A deletion on "ceased compulsory school age" (9(1)(l): past it before the school next
    meets) for a pupil still of compulsory school age, by date of birth, on the first school
    day after the deletion: the ground cannot be true."""
    d = n.deletion
    if d is None or d.ground is not G.CEASED_COMPULSORY_AGE:
        return False
    meets = _next_school_day(gw, d.deleted_on or d.ground_met_on)
    return compulsory_until(n.pupil.dob) >= meets


def _enquiries_due(gw: Gateway, absent_since: dt.date) -> dt.date:
    """The first day the school could delete the pupil on 9(1)(i) (20 school days of
    continuous absence), by which the joint reasonable enquiries are to be made; four weeks
    when the calendar does not hold those days."""
    try:
        return removal_from_roll_from(calendar_for(gw.settings), absent_since)
    except GatewayError:
        return absent_since + dt.timedelta(days=28)


def _next_school_day(gw: Gateway, day: dt.date) -> dt.date:
    try:
        return calendar_for(gw.settings).add_school_days(day, 1)
    except GatewayError:  # not on the calendar: the next weekday
        nxt = day + dt.timedelta(days=1)
        while nxt.weekday() >= 5:
            nxt += dt.timedelta(days=1)
        return nxt


def _address(a: m.Address | None) -> str | None:
    if a is None:
        return None
    return ", ".join([*a.lines, a.postcode or ""]).strip(", ") or None


OpenCase = Callable[..., Awaitable[str | None]]


async def _home_education(gw: Gateway, tx: Tx, n: m.SchoolNotice, actor: str,
                          open_case: OpenCase, reason: str, ground: dict[str, str | None]
                          ) -> str | None:
    """Elective home education with the Children Not in School register on: a draft entry
    (s.436B: not a registered pupil) and a case to check it (category 9, "logged"), as for an
    entry another LA sends. None, and nothing made, when the child is not of compulsory
    school age today or the return lacks what an entry needs."""
    d, p = n.deletion, n.pupil
    assert d is not None
    entry = m.RegisterEntry(
        surname=p.surname, forename=p.forename, dob=p.dob,
        address=d.future_address or p.address or m.Address(),
        eligibility=m.Eligibility.NOT_REGISTERED, upn=p.upn, nhs_number=p.nhs_number,
        parents=tuple(m.RegisterParent(name=x.name, address=x.address, provides_education=True)
                      for x in n.parents))
    if not of_compulsory_age(p.dob, gw.clock.today()):
        return None
    try:
        data = cnis.as_data(cnis.entry_from(cnis.as_data(entry)))
    except GatewayError:
        return None
    case_id = await open_case(m.Category.OTHER, CaseState.LOGGED,
                              reason + "; elective home education: check the Children Not "
                                       "in School register's draft entry", **ground)
    entry_id = await gw.store.register.add(
        tx, data, actor, f"deletion return from school {n.header.sender}", state=cnis.E.DRAFT,
        reason=f"elective home education (deletion return {n.header.message_id})",
        case_id=case_id)
    await gw.store.audit.add(actor, "cnis-drafted", n.header.message_id,
                             f"draft entry {entry_id}, case {case_id}", tx=tx)
    return case_id


async def _open_absence(tx: Tx, n: m.SchoolNotice) -> str | None:
    """The open absence case (``_absence_case``) of this return's pupil from its school: the
    same surname, forename and date of birth, and not another pupil by UPN or NHS number
    (when the case and the return both give one, they are the same)."""
    p = n.pupil
    rows = await tx.fetchall(
        "SELECT case_id, upn, nhs_number FROM cases WHERE source = ? AND surname = ? "
        "AND forename = ? AND dob = ? AND status <> 'closed' "
        "AND reason LIKE 'continuous absence%' ORDER BY opened_at DESC LIMIT 20",
        f"SchoolNotice from school {n.header.sender}", p.surname, p.forename,
        p.dob.isoformat())
    for row in rows:
        if not _other_pupil(row["upn"], p.upn, row["nhs_number"], p.nhs_number):
            return str(row["case_id"])
    return None


def _other_pupil(upn_a: str | None, upn_b: str | None, nhs_a: str | None,
                 nhs_b: str | None) -> bool:
    """Whether identifiers show two returns are about two pupils: two valid UPNs of the
    same kind (both permanent, or both temporary: one school gives one pupil one) that
    differ, or two valid NHS numbers that differ. A temporary UPN beside a permanent one
    (the temporary one is replaced when the permanent one is known, routinely for newly
    arrived pupils) or a UPN with a wrong check letter says nothing either way, as in
    matching (docs/matching.md)."""
    a, b = nz.upn(upn_a), nz.upn(upn_b)
    if a and b and a != b and a[-1].isalpha() == b[-1].isalpha():
        return True
    x, y = nz.nhs_number(nhs_a), nz.nhs_number(nhs_b)
    return bool(x and y and x != y)


async def _absence_case(gw: Gateway, tx: Tx, n: m.SchoolNotice, actor: str,
                        open_case: OpenCase) -> str | None:
    """10 school days' continuous absence without permission: the school and the LA are to
    make reasonable enquiries together before any deletion on 9(1)(i) (statutory-notes,
    "Whereabouts unknown"). The child is on a roll: a case at "existing pupil" (the
    flowchart's "check with school to confirm attendance"), category 9, with a dated action
    due the day the school could first delete on 9(1)(i). A further return about the same
    child from the same school, while that case is open, is noted on it."""
    a, h = n.absence, n.header
    assert a is not None
    due = _enquiries_due(gw, a.absent_since)
    what = (f"{a.school_days} school days' continuous absence without permission since "
            f"{a.absent_since.isoformat()} (school {h.sender}, return {h.message_id})")
    known = await _open_absence(tx, n)
    if known is not None:
        await gw.store.cases.event(tx, known, actor, "note", detail=f"a further return: {what}")
        await gw.store.cases.link(tx, known, h.message_id, "in")
        return known
    case_id = await open_case(
        m.Category.OTHER, ABSENCE_STATE,
        f"continuous absence without permission from school {h.sender}: joint reasonable "
        f"enquiries with the school", absent_since=a.absent_since.isoformat())
    if case_id is not None:
        await gw.store.cases.event(
            tx, case_id, "gateway", "action", due_on=due.isoformat(),
            detail=f"{what}: make reasonable enquiries jointly with the school to establish "
                   f"where the child is, before it may delete on reg. 9(1)(i) (from "
                   f"{due.isoformat()})")
    return case_id


async def _absence_deleted(gw: Gateway, tx: Tx, case_id: str, actor: str, n: m.SchoolNotice,
                           category: m.Category, state: CaseState, reason: str,
                           details: dict[str, str]) -> str | None:
    """A deletion return about a pupil with an open absence case from the same school: that
    case becomes the deletion's (its category, reason and ground, and every detail the
    return gives: the parent, the telephone, the UPN), noted and audited. A case still in
    the state the absence return opened it in moves to the state a deletion case opens in
    (along the flowchart when it can: existing pupil -> unknown; otherwise as an override,
    with the return as its reason), audited as any move. One the officer has moved on is
    left where it is: what the officer is told (None when it moved)."""
    message_id, p = n.header.message_id, n.pupil
    case = await gw.store.cases.load(tx, case_id)
    await gw.store.cases.recast(tx, case_id, int(category), reason, details, upn=p.upn,
                                nhs_number=p.nhs_number, sex=p.gender,
                                year_group=p.year_group)
    await gw.store.audit.add(actor, "case-recast", message_id,
                             f"case {case_id}: category {int(category)}, the absence case "
                             f"carries on as the deletion's", tx=tx)
    await gw.store.cases.event(tx, case_id, actor, "note",
                               detail=f"deleted from the roll: {reason} (return "
                                      f"{message_id}): the absence case carries on as the "
                                      f"deletion's")
    await gw.store.cases.link(tx, case_id, message_id, "in")
    if case.state is not ABSENCE_STATE:
        return (f"the pupil's absence case {case_id} carries on as the deletion's; it is "
                f"{case.status} as moved, not {state.value}: check it against the deletion")
    if state is not case.state:
        await wf.move_in(gw, tx, case_id, state, actor, f"deleted from the roll: {reason}",
                         override=state not in NEXT[case.state])
    return None


class SchoolNoticeArrived:
    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.SchoolNotice)
        n, h = message, message.header
        if not is_school(h.sender) or la_of(h.sender) != gw.party:
            raise GatewayError("notice-outside-area",
                               f"school {h.sender} is not in LA {gw.party}'s area")
        received = arrival.now.astimezone(LONDON).date()  # the day it came, in England
        _check(n, received)
        event, due, late = lateness(gw, n, received)
        actor = f"school:{h.sender}"
        p = n.pupil

        async def recorded(tx: Tx) -> None:
            earlier = await gw.store.school_notices.resend_of(tx, h.sender, h.conversation_id)
            if earlier is not None:  # a resend (new message id, same conversation)
                await gw.store.audit.add(actor, f"school-notice-{n.kind.value}", h.message_id,
                                         f"a resend of {earlier}: recorded already", tx=tx)
                return
            case_id = None
            told = None  # what the officer is told, when no case says it (never the child)

            # the pupil's absence case from this school, which a deletion (the 20 school
            # days of 9(1)(i) after the 10-day return, or any other ground) carries on
            absence = await _open_absence(tx, n) if n.kind is K.DELETION else None

            async def open_case(category: m.Category, state: CaseState, reason: str,
                                **ground: str | None) -> str | None:
                nonlocal told
                details = {k: v for k, v in {
                    "last_school": h.sender,
                    "address_while_resident": _address(p.address),
                    "telephone": next((x.telephone for x in n.parents if x.telephone), None),
                    "parent": n.parents[0].name if n.parents else None,
                    **ground}.items() if v}
                if absence is not None:  # one case for the child: the absence case moves
                    left = await _absence_deleted(gw, tx, absence, actor, n, category, state,
                                                  reason, details)
                    if left:
                        told = f"{told}; {left}" if told else left
                    return absence
                return await gw.store.cases.open(tx, NewCase(
                    category=int(category), reason=reason,
                    source=f"SchoolNotice from school {h.sender}", surname=p.surname,
                    forename=p.forename, upn=p.upn, nhs_number=p.nhs_number,
                    dob=p.dob.isoformat(), sex=p.gender, message_id=h.message_id,
                    state=state, year_group=p.year_group, details=details), actor)

            if n.kind is K.DELETION:
                assert n.deletion is not None
                d = n.deletion
                misfit = _ceased_age_misfits(gw, n)
                unknown = (d.future_address is None and d.destination_school is None
                           and (d.ground not in NO_DESTINATION or misfit))
                joint = d.ground in grounds.JOINT_ENQUIRY_GROUNDS
                why = grounds.ground(d.ground)
                reason = (f"deletion from the roll of school {h.sender}: {d.ground.value} "
                          f"({why.label()})")
                ground = {"ground": d.ground.value, "ground_regulation": why.citation_noted,
                          "ground_words": why.words,
                          "ground_met_on": d.ground_met_on.isoformat(),
                          "new_address": _address(d.future_address)}
                if misfit:
                    told = (f"the ground {why.reference} (ceased compulsory school age) does "
                            f"not fit the pupil's date of birth: of compulsory school age "
                            f"when the school next meets")
                    reason += ("; the ground does not fit the date of birth: of compulsory "
                               "school age when the school next meets")
                if unknown or joint:
                    case_id = await open_case(
                        m.Category.WHEREABOUTS_UNKNOWN, CaseState.UNKNOWN,
                        reason + ("; destination unknown" if unknown else ""), **ground)
                elif misfit:  # a destination is given, but the child left on no true ground
                    case_id = await open_case(m.Category.OTHER, CaseState.LOGGED, reason,
                                              **ground)
                elif d.ground is G.IN_CUSTODY:  # the referral form's category 8
                    case_id = await open_case(
                        m.Category.IN_CUSTODY, CaseState.LOGGED,
                        reason + "; confirm where the child is detained and the education "
                                 "provided there", **ground)
                elif d.ground in TELL_OFFICER and (
                        d.ground is G.EDUCATED_OTHERWISE
                        or (d.future_address is None and d.destination_school is None)):
                    told = f"ground {why.reference}, {TELL_OFFICER[d.ground]}"
                    if d.ground is G.EDUCATED_OTHERWISE and gw.settings.cnis_register == "on":
                        case_id = await _home_education(gw, tx, n, actor, open_case, reason,
                                                        ground)
                        if case_id is None:
                            told += ("; no Children Not in School register entry was made "
                                     "(not of compulsory school age, or the return lacks "
                                     "what an entry needs): add it by hand if the child is "
                                     "eligible")
                if absence is not None and case_id is None:  # a deletion opening no case
                    case_id = absence
                    await gw.store.cases.event(tx, absence, actor, "note",
                                               detail=f"deleted from the roll: {reason} "
                                                      f"(return {h.message_id})")
                    await gw.store.cases.link(tx, absence, h.message_id, "in")
            elif n.kind is K.ABSENCE:
                assert n.absence is not None
                case_id = await _absence_case(gw, tx, n, actor, open_case)
            await tx.execute(
                "INSERT INTO school_notices (message_id, school, kind, received_at, event_on, "
                "due_on, late_school_days, case_id, detail, conversation_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                h.message_id, h.sender, n.kind.value, arrival.now.timestamp(),
                event.isoformat(), due.isoformat() if due else None, late, case_id,
                json.dumps({"ground": n.deletion.ground.value,
                            "ground_regulation": grounds.ground(n.deletion.ground).reference}
                           if n.deletion else {}),
                h.conversation_id)
            await gw.store.audit.add(actor, f"school-notice-{n.kind.value}", h.message_id,
                                     (f"late by {late} school days; " if late else "")
                                     + (f"case {case_id}" if case_id else "recorded"), tx=tx)
            what = {K.NEW_PUPIL: "a new pupil", K.DELETION: "a deletion from the roll",
                    K.ABSENCE: "10 school days' absence without permission",
                    K.SICKNESS: "15 days' absence through illness"}[n.kind]
            if late or n.kind in (K.ABSENCE, K.SICKNESS) or case_id or told:
                await notify.queue(
                    gw, tx, "school-notice",
                    f"School {h.sender} returned {what} (message {h.message_id})"
                    + (f", {late} school days late" if late else "")
                    + (f"; {told}" if told else "")
                    + (f"; case {case_id}" if case_id else ""),
                    gw.settings.addresses("notify_officers"), case_id=case_id,
                    message_id=h.message_id)

        if late:
            log.warning("late school return message=%s school=%s kind=%s late=%d",
                        h.message_id, h.sender, n.kind.value, late)
        return Handled(step=recorded)
