"""Second engineer's statutory review (rev3b, 5 December): reproducers of D1 to D9, each
asserting the correct behaviour, with controls and hand-counted deadlines kept as evidence.

Sync tests wrapping asyncio.run (the reviewer's harness, kept as written). SQLite only.
Calendars in tests/data/calendars-2026-28/: the shipped 2026-27 and a hand-written 2027-28."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from gateway.calendar import load_calendar
from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.store.cases import CaseState
from gateway.web.app import inbound_for
from gateway.workflow import cases as wf
from gateway.workflow.monitoring import MonitorWorker
from tests.conftest import make_home, pair
from tests.test_school_notices import MONDAY, PARENT, K, Schools, notice
from tests.test_workflow import World, import_records

C = CaseState
G = m.DeletionGround
CAL = Path(__file__).parent / "data" / "calendars-2026-28"  # 2026-27 (shipped) and 2027-28


def run(body: Callable[[Schools], Awaitable[None]], tmp_path: Path, **settings: str) -> None:
    async def main() -> None:
        a_home, b_home = pair(tmp_path)
        homes = [make_home(tmp_path, s, {"352": f"{b_home.url}/v1/messages"})
                 for s in ("3524001", "3554001")]
        for h in homes:
            b_home.trust(h)
        clock = ManualClock(MONDAY)  # Monday 7 December 2026
        gws = [await Gateway.open(a_home.settings(), clock),
               await Gateway.open(b_home.settings(**settings), clock),
               await Gateway.open(homes[0].settings(), clock),
               await Gateway.open(homes[1].settings(), clock)]
        try:
            await body(Schools(World(gws[0], gws[1], clock), gws[2], gws[3]))
        finally:
            for g in gws:
                await g.close()
    asyncio.run(main())


async def deletion(s: Schools, ground: G, dob: dt.date | None = None, **kw: object) -> None:
    n = notice(s.ours, K.DELETION, parents=(PARENT,),
               deletion=m.Deletion(ground, dt.date(2026, 12, 4), **kw))  # type: ignore[arg-type]
    if dob is not None:
        n = type(n)(**{**n.__dict__, "pupil": type(n.pupil)(**{**n.pupil.__dict__, "dob": dob})})
    await inbound_for(s.w.b).receive(s.ours.sign(n))


# ---- D1: a half-termly review recorded on its due day swallows the next one ---------------

def test_d1_a_review_done_on_its_due_day_does_not_cancel_the_next_half_terms_review(
        tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        gw, clock = s.w.b, s.w.clock
        case = await wf.open_referral(gw, {"surname": "A", "forename": "One", "category": 1,
                                           "referrer": "x"}, "cli")
        # due Friday 18 Dec 2026 (end of autumn 2); the officer reviews that very day
        clock.set(dt.datetime(2026, 12, 18, 11, 0, tzinfo=dt.UTC))
        await wf.add_event(gw, case, "review", "reviewed on the due day", "officer")
        # Monday 8 Feb 2027: spring 1 ends Friday 12 Feb, its review is due in 4 days
        clock.set(dt.datetime(2027, 2, 8, 9, 0, tzinfo=dt.UTC))
        due = await wf.reviews_due(gw, within_days=14)
        assert [(r["case_id"], r["due"]) for r in due] == [(case, "2027-02-12")], due
    run(body, tmp_path)


# ---- D2: a case opened on a day the calendar does not hold never gets a review -------------

def test_d2_a_referral_dated_last_school_year_still_gets_half_termly_reviews(
        tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        gw = s.w.b
        # a referral form dated in the summer holiday before 2026-27 (arrived late)
        case = await wf.open_referral(gw, {"surname": "A", "forename": "One", "category": 7,
                                           "referrer": "x", "referral_date": "2026-08-20"},
                                      "cli")
        due = await wf.reviews_due(gw, within_days=14)  # today: Mon 7 Dec 2026
        assert case in [r["case_id"] for r in due], \
            "no review ever comes due (GatewayError swallowed: dates = [])"
    run(body, tmp_path)


# ---- D3: a placed child's case closes the day it is placed (no term of monitoring) ---------

def test_d3_a_placed_case_cannot_close_before_its_term_of_monitoring_ends(
        tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        gw = s.w.b
        case = await wf.open_referral(gw, {"surname": "A", "forename": "One", "category": 1,
                                           "referrer": "x"}, "cli")
        for to in (C.LOGGED, C.UNKNOWN, C.LOCATED, C.KEY_WORKER_ASSIGNED, C.PLACED):
            await wf.move(gw, case, to, "officer", "steps")
        row = await gw.store.cases.get(case)
        assert row is not None and row.monitor_until == "2027-03-25"
        await wf.move(gw, case, C.MONITORED, "officer", "monitoring")
        closed = False
        code = None
        try:
            await wf.move(gw, case, C.CLOSED, "officer", "done")  # same day, no override
            closed = True
        except GatewayError as exc:
            code = exc.code
        assert not closed, "closed on 7 Dec 2026 although monitoring runs to 25 Mar 2027"
        assert code == "monitoring-not-ended", code
    run(body, tmp_path)


# ---- D4: deletion "ceased compulsory school age" for a 10-year-old is silently accepted ----

def test_d4_ceased_compulsory_age_for_a_child_still_of_that_age_is_not_dropped(
        tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.CEASED_COMPULSORY_AGE)  # ZOFIA: born 5 May 2016, Year 5
        cases = await b.store.cases.find()
        notes = [n for n in await b.store.notifications.recent() if n.kind == "school-notice"]
        assert cases or notes, "a Year 5 pupil deleted as 'past compulsory school age': " \
                               "no case, nobody told"
    run(body, tmp_path)


# ---- D5: permanent exclusion / custody with no destination: no case, nobody told ----------

@pytest.mark.parametrize("ground", [G.PERMANENTLY_EXCLUDED, G.IN_CUSTODY])
def test_d5_excluded_or_detained_child_with_no_destination_reaches_the_officer(
        tmp_path: Path, ground: G) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, ground)
        cases = await b.store.cases.find()
        notes = [n for n in await b.store.notifications.recent() if n.kind == "school-notice"]
        assert cases or notes, f"{ground.value}: recorded, no case, no notification"
    run(body, tmp_path)


# ---- D6: elective home education opens a "whereabouts unknown" case -----------------------

def test_d6_home_education_deletion_is_not_a_whereabouts_unknown_case(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.EDUCATED_OTHERWISE)
        for c in await b.store.cases.find():
            assert not (c.category == 7 and "destination unknown" in c.reason), \
                (c.category, c.status, c.reason)
        # the register is off: no entry, but the officer is told it is home education
        notes = [n.subject for n in await b.store.notifications.recent()
                 if n.kind == "school-notice"]
        assert any("elective home education" in n for n in notes), notes
    run(body, tmp_path)


# ---- D7: a child with an open deletion case found in a records import: nobody told --------

def test_d7_an_open_case_is_matched_against_a_records_import(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.ABSENT_20_SCHOOL_DAYS)  # joint enquiries: opens a case
        [case] = await b.store.cases.find()
        worker = MonitorWorker(b)
        await worker.tick()
        await import_records(b, {"record_id": "r9", "surname": "Nowak", "forename": "Zofia",
                                 "dob": "2016-05-05", "sex": "F", "postcode": "M1 5QA",
                                 "laestab": "3524002"})
        await worker.tick()
        events = [e.detail or "" for e in await b.store.cases.events(case.case_id)]
        notes = [n.kind for n in await b.store.notifications.recent()]
        assert any("new pupil" in e or "match" in e for e in events) or "case-found" in notes, \
            "the missing child is now on a roll here and nobody is told"
    run(body, tmp_path)


# ---- calendar arithmetic cross-checked by hand (these pass: kept as evidence) --------------

def test_hand_counted_deadlines() -> None:
    cal = load_calendar(CAL)
    from gateway.calendar import ctf_due_by, long_term_non_attender_from, removal_from_roll_from
    d = dt.date
    assert ctf_due_by(cal, d(2026, 10, 16)) == d(2026, 11, 16)   # half term + INSET 2 Nov
    assert ctf_due_by(cal, d(2027, 4, 19)) == d(2027, 5, 11)     # 3 May bank holiday
    assert ctf_due_by(cal, d(2028, 2, 22)) == d(2028, 3, 14)     # 29 Feb 2028 counted
    assert removal_from_roll_from(cal, d(2026, 11, 30)) == d(2027, 1, 12)  # Christmas, INSET
    assert long_term_non_attender_from(cal, d(2026, 11, 30)) == d(2027, 1, 26)


# ---- controls (pass): show D1 and D7 are the edge, not the set-up ---------------------------

def test_control_d1_a_review_the_day_before_leaves_the_next_one_due(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        gw, clock = s.w.b, s.w.clock
        case = await wf.open_referral(gw, {"surname": "A", "forename": "One", "category": 1,
                                           "referrer": "x"}, "cli")
        clock.set(dt.datetime(2026, 12, 17, 11, 0, tzinfo=dt.UTC))
        await wf.add_event(gw, case, "review", "reviewed the day before", "officer")
        clock.set(dt.datetime(2027, 2, 8, 9, 0, tzinfo=dt.UTC))
        due = await wf.reviews_due(gw, within_days=14)
        assert [(r["case_id"], r["due"]) for r in due] == [(case, "2027-02-12")]
    run(body, tmp_path)


def test_control_d7_the_same_child_in_a_new_pupil_return_is_noted(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.ABSENT_20_SCHOOL_DAYS)
        await inbound_for(b).receive(s.ours.sign(
            notice(s.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 12, 7))))
        await MonitorWorker(b).tick()
        assert "case-found" in [n.kind for n in await b.store.notifications.recent()]
    run(body, tmp_path)


# ---- D8: "youngest year start" exempts any admission date the school sends ----------------

def test_d8_youngest_year_exemption_needs_a_start_on_the_first_day_of_the_school_year(
        tmp_path: Path) -> None:
    """Reg. 13(2) SI 2024/208: exempt only if placed in the most junior class AND the starting
    day is the first day of the school year. A reception child admitted on 23 Nov is not."""
    async def body(s: Schools) -> None:
        b = s.w.b
        await inbound_for(b).receive(s.ours.sign(
            notice(s.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 11, 23),
                   youngest_year_start=True)))
        [row] = await b.store.school_notices.recent()
        assert row.due_on == "2026-11-28" and row.late_school_days == 6, row
    run(body, tmp_path)


# ---- D9: a 10-day continuous-absence return starts nothing (joint enquiries come first) ----

def test_d9_an_absence_return_starts_the_joint_enquiries(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await inbound_for(b).receive(s.ours.sign(notice(
            s.ours, K.ABSENCE, absence=m.Absence(dt.date(2026, 11, 23), 11))))
        assert await b.store.cases.find(), "only a notification: no case, no dated action " \
                                           "for the joint enquiries"
    run(body, tmp_path)


# ---- further tests of the fixes (not the reviewer's) ---------------------------------------

def test_d4_the_case_and_the_notification_say_the_ground_does_not_fit(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.CEASED_COMPULSORY_AGE)
        [case] = await b.store.cases.find()
        assert case.category == 7 and "does not fit the date of birth" in case.reason
        [note] = await b.store.notifications.recent()
        assert note.kind == "school-notice" and note.case_id == case.case_id
        assert "does not fit the pupil's date of birth" in note.subject
        assert "2016" not in note.subject  # never the date of birth itself
    run(body, tmp_path)


def test_d5_custody_is_a_category_8_case_and_exclusion_is_told(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.IN_CUSTODY)
        [case] = await b.store.cases.find()
        assert case.category == 8 and case.status == "logged"
        await deletion(s, G.PERMANENTLY_EXCLUDED)
        assert len(await b.store.cases.find()) == 1
        notes = [n.subject for n in await b.store.notifications.recent()
                 if n.kind == "school-notice"]
        assert any("Admissions and Exclusions Team" in n for n in notes), notes
    run(body, tmp_path)


def test_d6_home_education_is_told_and_drafts_a_register_entry_when_it_is_on(
        tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.EDUCATED_OTHERWISE)
        [case] = await b.store.cases.find()
        assert case.category == 9 and "elective home education" in case.reason
        [entry] = await b.store.register.listing()
        assert entry.state == "draft" and entry.case_id == case.case_id
        await deletion(s, G.DUAL_REGISTRATION_ENDED)  # 9(1)(c): still on the other rolls
        assert len(await b.store.cases.find()) == 1
    run(body, tmp_path, cnis_register="on")


def test_d9_a_further_absence_return_is_noted_on_the_same_case(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        for days in (11, 16):
            await inbound_for(b).receive(s.ours.sign(notice(
                s.ours, K.ABSENCE, absence=m.Absence(dt.date(2026, 11, 23), days))))
        [case] = await b.store.cases.find()
        assert case.status == "existing-pupil"
        events = await b.store.cases.events(case.case_id)
        # 20 school days from Monday 23 Nov are behind the pupil on Monday 21 Dec... which
        # is the Christmas holiday: the first school day after them
        [action] = [e for e in events if e.kind == "action"]
        assert action.due_on == "2027-01-05", action
        assert any(e.kind == "note" and "a further return" in (e.detail or "")
                   for e in events)
    run(body, tmp_path)


def test_d7_a_records_import_notes_an_open_case_once_and_only_on_a_roll(
        tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s, G.ABSENT_20_SCHOOL_DAYS)
        [case] = await b.store.cases.find()
        worker = MonitorWorker(b)
        child = {"record_id": "r9", "surname": "Nowak", "forename": "Zofia",
                 "dob": "2016-05-05", "sex": "F", "postcode": "M1 5QA"}
        await import_records(b, child)  # on no roll: the old record says nothing new
        await worker.tick()
        assert "case-found" not in [n.kind for n in await b.store.notifications.recent()]
        for other in ("r10", "r11"):  # the next imports hold the child on a roll, each time
            await import_records(b, {**child, "laestab": "3524002"},
                                 {**child, "record_id": other, "surname": "Other"})
            await worker.tick()
        found = [n for n in await b.store.notifications.recent() if n.kind == "case-found"]
        assert len(found) == 1 and "3524002" in found[0].subject, found
        notes = [e.detail for e in await b.store.cases.events(case.case_id)
                 if e.actor == "monitoring"]
        assert notes == ["match to a pupil in this authority's records at school 3524002 "
                         "(record r9 at school 3524002): check, and move the case"], notes
    run(body, tmp_path)
