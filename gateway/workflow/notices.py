"""Schools' returns to their LA (School Attendance (Pupil Registration) (England) Regulations
2024; docs/school-notices.md): a new pupil, a deletion from the roll, continuous absence,
sickness.

A return comes from a school (a LAESTAB party) to its own LA's gateway, signed like any
message (``cme-gateway send`` or the school's spool folder); a school outside the area is
refused (``notice-outside-area``). In the transaction that stores it:

- its lateness is worked out and kept (``school_notices``): a new-pupil return is due by the
  end of the fifth day after the pupil was entered on the admission register (not needed at
  the start of the youngest year unless the LA asks: ``youngest_year_returns``); a deletion
  return no later than the deletion. A late one is flagged with how late it is, in school
  days, and told to the officers;
- a deletion whose destination is unknown (no future address and no destination school), or
  on a ground that needs the school and the LA to have jointly made reasonable enquiries,
  opens a case at once (category 7, "unknown": enquiries);
- absence and sickness returns are told to the officers (queue and e-mail).

A new pupil is then matched, in the background, against every watched child (a match sends
the updated Reply "now known at this school" to the enquiring LA through the monitoring loop)
and against every open case (a match is noted on the case and told to the officers).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from zoneinfo import ZoneInfo

from gateway.calendar import calendar_for
from gateway.core.errors import GatewayError
from gateway.core.parties import is_school, la_of
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival, Handled
from gateway.messages import grounds
from gateway.messages import model as m
from gateway.store import Tx
from gateway.store.cases import CaseState, NewCase
from gateway.workflow import notify

log = logging.getLogger(__name__)
K = m.NoticeKind
LONDON = ZoneInfo("Europe/London")
NEW_PUPIL_DAYS = 5  # "by the end of the fifth day after" entry on the admission register


# Grounds with no destination to know: "destination unknown" does not make the child missing.
NO_DESTINATION = frozenset({m.DeletionGround.DIED, m.DeletionGround.CEASED_COMPULSORY_AGE,
                            m.DeletionGround.IN_CUSTODY, m.DeletionGround.MEDICALLY_UNFIT,
                            m.DeletionGround.PERMANENTLY_EXCLUDED})
# Dates a return may give: from the pupil's birth to a little ahead of the day it is sent
# (an admission or deletion can be notified just before it happens).
AHEAD = dt.timedelta(days=60)


def _check(n: m.SchoolNotice, today: dt.date) -> None:
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
        if n.youngest_year_start and gw.settings.youngest_year_returns == "no":
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
            if n.kind is K.DELETION:
                assert n.deletion is not None
                d = n.deletion
                unknown = (d.future_address is None and d.destination_school is None
                           and d.ground not in NO_DESTINATION)
                joint = d.ground in grounds.JOINT_ENQUIRY_GROUNDS
                why = grounds.ground(d.ground)
                if unknown or joint:
                    case_id = await gw.store.cases.open(tx, NewCase(
                        category=int(m.Category.WHEREABOUTS_UNKNOWN),
                        reason=f"deletion from the roll of school {h.sender}: "
                               f"{d.ground.value} ({why.label()})"
                               + ("; destination unknown" if unknown else ""),
                        source=f"SchoolNotice from school {h.sender}", surname=p.surname,
                        forename=p.forename, upn=p.upn, nhs_number=p.nhs_number,
                        dob=p.dob.isoformat(), sex=p.gender, message_id=h.message_id,
                        state=CaseState.UNKNOWN, year_group=p.year_group,
                        details={k: v for k, v in {
                            "last_school": h.sender, "ground": d.ground.value,
                            "ground_regulation": why.citation_noted,
                            "ground_words": why.words,
                            "ground_met_on": d.ground_met_on.isoformat(),
                            "address_while_resident": _address(p.address),
                            "new_address": _address(d.future_address),
                            "telephone": next((x.telephone for x in n.parents
                                               if x.telephone), None),
                            "parent": n.parents[0].name if n.parents else None,
                            }.items() if v}), actor)
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
            if late or n.kind in (K.ABSENCE, K.SICKNESS) or case_id:
                await notify.queue(
                    gw, tx, "school-notice",
                    f"School {h.sender} returned {what} (message {h.message_id})"
                    + (f", {late} school days late" if late else "")
                    + (f"; case {case_id} opened" if case_id else ""),
                    gw.settings.addresses("notify_officers"), case_id=case_id,
                    message_id=h.message_id)

        if late:
            log.warning("late school return message=%s school=%s kind=%s late=%d",
                        h.message_id, h.sender, n.kind.value, late)
        return Handled(step=recorded)
