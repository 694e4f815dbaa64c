"""The second engineer's review of schools' returns, kept as regression tests (each failed
on the change as committed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.web.app import inbound_for
from gateway.workflow import cases as wf
from gateway.workflow import monitoring
from gateway.workflow.monitoring import MonitorWorker
from tests.conftest import make_home, pair
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401
from tests.test_school_notices import MONDAY, PARENT, K, Schools, notice
from tests.test_workflow import ZOFIA, World, child, replies, watched


async def _open(tmp_path: Path, clock: ManualClock, **b_kw: object
                ) -> tuple[Schools, list[Gateway]]:
    a_home, b_home = pair(tmp_path)
    homes = [make_home(tmp_path, s, {"352": f"{b_home.url}/v1/messages"})
             for s in ("3524001", "3554001")]
    for h in homes:
        b_home.trust(h)
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(**b_kw), clock)
    ours = await Gateway.open(homes[0].settings(), clock)
    other = await Gateway.open(homes[1].settings(), clock)
    return Schools(World(a, b, clock), ours, other), [a, b, ours, other]


@pytest.fixture(params=["sqlite", "postgres"])
async def schools(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Schools]:
    kw = {}
    if request.param == "postgres":
        kw["database"] = fresh_database(request.getfixturevalue("pg_dsn"))
    s, gws = await _open(tmp_path, ManualClock(MONDAY), **kw)
    yield s
    for g in gws:
        await g.close()


def resend(n: m.SchoolNotice) -> m.SchoolNotice:
    """The same return sent again with a new message id, in the same conversation (what a
    school's spool or `cme-gateway send` does after a lost receipt)."""
    return dataclasses.replace(n, header=dataclasses.replace(n.header,
                                                             message_id=m.new_id()))


# ---- 1. a resent deletion opens a second case ----------------------------------------------

async def test_a_resent_deletion_opens_one_case(schools: Schools) -> None:
    b = schools.w.b
    n = notice(schools.ours, K.DELETION, parents=(PARENT,), deletion=m.Deletion(
        m.DeletionGround.WHEREABOUTS_UNKNOWN, dt.date(2026, 12, 4)))
    await inbound_for(b).receive(schools.ours.sign(n))
    await inbound_for(b).receive(schools.ours.sign(resend(n)))
    assert len(await b.store.cases.find()) == 1
    assert len(await b.store.notifications.recent()) == 1


# ---- 2. a resent new-pupil return notes the open case (and tells the officers) again -------

async def test_a_resent_new_pupil_return_notes_the_case_once(schools: Schools) -> None:
    w = schools.w
    case_id = await wf.open_referral(w.b, {"surname": "Nowak", "forename": "Zofia",
                                           "dob": "2016-05-05", "category": 1,
                                           "referrer": "Health visitor"}, "cli")
    worker = MonitorWorker(w.b)
    await worker.tick()
    n = notice(schools.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 12, 7))
    await inbound_for(w.b).receive(schools.ours.sign(n))
    await inbound_for(w.b).receive(schools.ours.sign(resend(n)))
    await worker.tick()
    notes = [e for e in await w.b.store.cases.events(case_id)
             if "new pupil" in (e.detail or "")]
    assert len(notes) == 1
    found = [x for x in await w.b.store.notifications.recent() if x.kind == "case-found"]
    assert len(found) == 1


async def test_a_retried_arrival_does_not_note_a_case_twice(schools: Schools,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """match_watches is idempotent (set_found); match_cases is not: an arrival that fails
    part-way through its cases is retried from the start and re-notes the first ones."""
    w = schools.w
    first = await wf.open_referral(w.b, {"surname": "Nowak", "forename": "Zofia",
                                         "dob": "2016-05-05", "category": 1,
                                         "referrer": "Health visitor"}, "cli")
    second = await wf.open_referral(w.b, {"surname": "Nowak", "forename": "Zofia",
                                          "dob": "2016-05-05", "category": 1,
                                          "referrer": "School nurse"}, "cli")
    worker = MonitorWorker(w.b)
    await worker.tick()
    await inbound_for(w.b).receive(schools.ours.sign(
        notice(schools.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 12, 7))))
    real = w.b.store.cases.link
    calls = {"n": 0}

    async def flaky(tx, case_id, message_id, direction):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database busy")
        await real(tx, case_id, message_id, direction)

    monkeypatch.setattr(w.b.store.cases, "link", flaky)
    await worker.tick()  # the second case fails: the arrival is tried again
    await worker.tick()
    for cid in (first, second):
        notes = [e for e in await w.b.store.cases.events(cid)
                 if "new pupil" in (e.detail or "")]
        assert len(notes) == 1


# ---- 3. a deletion without DeletedOn is never late -----------------------------------------

async def test_a_deletion_return_weeks_after_the_ground_was_met_is_late(
        schools: Schools) -> None:
    """Due "as soon as the ground is met, and no later than the deletion": leaving out
    DeletedOn must not make a return that comes 4 weeks after the ground "in time"/"no
    deadline"."""
    b = schools.w.b
    await inbound_for(b).receive(schools.ours.sign(notice(
        schools.ours, K.DELETION, parents=(PARENT,), deletion=m.Deletion(
            m.DeletionGround.REGISTERED_ELSEWHERE, dt.date(2026, 11, 6),
            destination_school=m.School("Elm School", "3554002")))))
    [row] = await b.store.school_notices.recent()
    assert row.due_on is not None and row.late_school_days and row.late_school_days > 0
    assert len(await b.store.school_notices.recent(late_only=True)) == 1


# ---- 4. inputs that give a 500 ---------------------------------------------------------------

async def test_an_admission_date_at_the_end_of_the_calendar_is_refused_not_a_500(
        schools: Schools) -> None:
    b = schools.w.b
    with pytest.raises(GatewayError):  # today: OverflowError (date + 5 days) -> HTTP 500
        await inbound_for(b).receive(schools.ours.sign(
            notice(schools.ours, K.NEW_PUPIL, admitted_on=dt.date(9999, 12, 30))))


async def test_a_deletion_before_its_ground_was_met_is_refused(schools: Schools) -> None:
    b = schools.w.b
    with pytest.raises(GatewayError) as info:
        await inbound_for(b).receive(schools.ours.sign(notice(
            schools.ours, K.DELETION, parents=(PARENT,), deletion=m.Deletion(
                m.DeletionGround.REGISTERED_ELSEWHERE, dt.date(2026, 12, 4),
                deleted_on=dt.date(2026, 1, 1),
                destination_school=m.School("Elm School", "3554002")))))
    assert info.value.code == "notice-incomplete"


# ---- 5. lateness on the UTC date, not England's --------------------------------------------

async def test_lateness_uses_the_date_in_england(tmp_path: Path) -> None:
    """Admitted Wed 2 Jun 2027: due by the end of Mon 7 Jun. Received 23:30 UTC on 7 Jun,
    which is 00:30 BST on Tue 8 Jun in England: one school day late."""
    s, gws = await _open(tmp_path, ManualClock(dt.datetime(2027, 6, 7, 23, 30, tzinfo=dt.UTC)))
    try:
        await inbound_for(s.w.b).receive(s.ours.sign(
            notice(s.ours, K.NEW_PUPIL, admitted_on=dt.date(2027, 6, 2))))
        [row] = await s.w.b.store.school_notices.recent()
        assert row.late_school_days == 1
    finally:
        for g in gws:
            await g.close()


# ---- 6. twins: one new pupil found as two watched children, the wrong one sent at once -----

async def test_a_twins_return_does_not_find_the_other_twin(tmp_path: Path) -> None:
    s, gws = await _open(tmp_path, ManualClock(MONDAY), monitoring_updates="auto")
    try:
        w = s.w
        # 355 asks about twins Anna and Anne; 352 does not know them and watches both
        await watched(w, child("1", "Nowak", "Anna", ZOFIA), child("2", "Nowak", "Anne", ZOFIA))
        before = len(await replies(w.b))
        pupil = m.NoticePupil("Nowak", "Anne", ZOFIA, gender="F")
        n = dataclasses.replace(notice(s.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 12, 7)),
                                pupil=pupil)
        await inbound_for(w.b).receive(s.ours.sign(n))
        await MonitorWorker(w.b).tick()
        states = {x.child_ref: x.state for x in await w.b.store.watches.listing()}
        assert states["1"] not in ("found", "reported"), states  # Anna is not this pupil
        # one pupil fits both twins nearly as well: neither is claimed automatically; the
        # officer decides, and the reply names only the child approved
        assert states["2"] == "possible", states
        assert (await replies(w.b))[before:] == []
        [anne] = [x for x in await w.b.store.watches.listing() if x.child_ref == "2"]
        await monitoring.report(w.b, anne.watch_id, "officer")
        sent = (await replies(w.b))[before:]
        assert [o.child_ref for r in sent for o in r.outcomes] == ["2"]
    finally:
        for g in gws:
            await g.close()


# ---- 7. a deletion on the ground "died" opens a whereabouts-unknown case -------------------

@pytest.mark.parametrize("ground", [m.DeletionGround.DIED,
                                    m.DeletionGround.CEASED_COMPULSORY_AGE])
async def test_a_deletion_with_no_destination_to_know_opens_no_missing_case(
        schools: Schools, ground: m.DeletionGround) -> None:
    b = schools.w.b
    n = notice(schools.ours, K.DELETION, parents=(PARENT,),
               deletion=m.Deletion(ground, dt.date(2026, 12, 4)))
    if ground is m.DeletionGround.CEASED_COMPULSORY_AGE:  # a pupil who is past it (born 2010)
        n = dataclasses.replace(n, pupil=dataclasses.replace(n.pupil, dob=dt.date(2010, 6, 1),
                                                             year_group="12"))
    await inbound_for(b).receive(schools.ours.sign(n))
    assert await b.store.cases.find() == []
