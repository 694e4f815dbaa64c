"""Schools' returns to their LA: refused from outside the area, lateness in school days, a
deletion with an unknown destination or on a joint-enquiry ground opening a case, and a new
pupil finding a watched child (the enquiring LA gets the updated reply) and an open case."""

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
from gateway.store.cases import CaseState
from gateway.web.app import inbound_for
from gateway.workflow import cases as wf
from gateway.workflow import monitoring
from gateway.workflow.monitoring import MonitorWorker
from tests.conftest import make_home, pair
from tests.test_workflow import ZOFIA, World, child, replies, watched

MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
K = m.NoticeKind


@dataclasses.dataclass
class Schools:
    w: World
    ours: Gateway  # 3524001, in 352's area
    other: Gateway  # 3554001, in 355's area


@pytest.fixture
async def schools(tmp_path: Path) -> AsyncIterator[Schools]:
    a_home, b_home = pair(tmp_path)
    homes = [make_home(tmp_path, s, {"352": f"{b_home.url}/v1/messages"})
             for s in ("3524001", "3554001")]
    for h in homes:
        b_home.trust(h)
    clock = ManualClock(MONDAY)
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(), clock)
    ours = await Gateway.open(homes[0].settings(), clock)
    other = await Gateway.open(homes[1].settings(), clock)
    yield Schools(World(a, b, clock), ours, other)
    for g in (a, b, ours, other):
        await g.close()


def notice(school: Gateway, kind: m.NoticeKind, **kw: object) -> m.SchoolNotice:
    pupil = m.NoticePupil("Nowak", "Zofia", ZOFIA, gender="F", year_group="5",
                          address=m.Address(("9 New Road",), "M1 5QA"))
    return m.SchoolNotice(header=school.header(m.MessageType.SCHOOL_NOTICE, "352"), kind=kind,
                          notice_date=school.clock.today(), pupil=pupil, **kw)  # type: ignore[arg-type]


PARENT = m.NoticeParent("Anna Nowak", telephone="0161 000 0001")


async def test_a_school_outside_the_area_and_an_incomplete_return_are_refused(
        schools: Schools) -> None:
    b = schools.w.b
    with pytest.raises(GatewayError) as info:
        await inbound_for(b).receive(schools.other.sign(
            notice(schools.other, K.NEW_PUPIL, admitted_on=dt.date(2026, 12, 7))))
    assert info.value.code == "notice-outside-area"
    with pytest.raises(GatewayError) as info:
        await inbound_for(b).receive(schools.ours.sign(notice(schools.ours, K.NEW_PUPIL)))
    assert info.value.code == "notice-incomplete"
    deletion = m.Deletion(m.DeletionGround.REGISTERED_ELSEWHERE, dt.date(2026, 12, 4))
    with pytest.raises(GatewayError) as info:  # no parent telephone
        await inbound_for(b).receive(schools.ours.sign(
            notice(schools.ours, K.DELETION, deletion=deletion)))
    assert info.value.code == "notice-incomplete"
    assert await b.store.school_notices.recent() == []


async def test_a_late_new_pupil_return_is_flagged_in_school_days(schools: Schools) -> None:
    b = schools.w.b
    # admitted Monday 23 Nov: due by Saturday 28 Nov; received Monday 7 Dec = 6 school days
    # late (30 Nov to 7 Dec)
    await inbound_for(b).receive(schools.ours.sign(
        notice(schools.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 11, 23))))
    # admitted Wednesday 2 Dec: due by Monday 7 Dec: in time
    await inbound_for(b).receive(schools.ours.sign(
        notice(schools.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 12, 2))))
    # the youngest year's start: not required here, never late
    await inbound_for(b).receive(schools.ours.sign(
        notice(schools.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 9, 2),
               youngest_year_start=True)))
    rows = {r.event_on: r for r in await b.store.school_notices.recent()}
    assert rows["2026-11-23"].due_on == "2026-11-28"
    assert rows["2026-11-23"].late_school_days == 6
    assert rows["2026-12-02"].late_school_days == 0
    assert rows["2026-09-02"].due_on is None and rows["2026-09-02"].late_school_days is None
    [late] = await b.store.school_notices.recent(late_only=True)
    assert late.event_on == "2026-11-23"
    notes = await b.store.notifications.recent()
    assert [n.kind for n in notes] == ["school-notice"] and "6 school days late" in \
        notes[0].subject


@pytest.mark.parametrize("ground,known,opens", [
    (m.DeletionGround.REGISTERED_ELSEWHERE, True, False),
    (m.DeletionGround.REGISTERED_ELSEWHERE, False, True),   # destination unknown
    (m.DeletionGround.WHEREABOUTS_UNKNOWN, True, True),     # joint enquiries
    (m.DeletionGround.ABSENT_20_SCHOOL_DAYS, True, True),
    (m.DeletionGround.NOT_RETURNED_AFTER_LEAVE, True, True),
])
async def test_a_deletion_opens_a_case_when_the_child_may_be_missing(
        schools: Schools, ground: m.DeletionGround, known: bool, opens: bool) -> None:
    b = schools.w.b
    deletion = m.Deletion(ground, dt.date(2026, 12, 4), deleted_on=dt.date(2026, 12, 8),
                          destination_school=m.School("Elm School", "3554002") if known
                          else None)
    await inbound_for(b).receive(schools.ours.sign(
        notice(schools.ours, K.DELETION, deletion=deletion, parents=(PARENT,))))
    cases = await b.store.cases.find()
    assert bool(cases) is opens
    if opens:
        [case] = cases
        assert case.category == 7 and case.state is CaseState.UNKNOWN
        assert case.detail_map()["telephone"] == "0161 000 0001"
    [row] = await b.store.school_notices.recent()
    assert row.late_school_days == 0  # before the deletion: in time


async def test_a_new_pupil_finds_a_watched_child_and_an_open_case(schools: Schools) -> None:
    w = schools.w
    mid = await watched(w, child("1", "Nowak", "Zofia", ZOFIA))
    other = await wf.open_referral(w.b, {"surname": "Nowak", "forename": "Zofia",
                                         "dob": "2016-05-05", "category": 1,
                                         "referrer": "Health visitor"}, "cli")
    worker = MonitorWorker(w.b)
    await worker.tick()  # the referral entered here is seen first
    [watch] = await w.b.store.watches.listing()
    if watch.state != "watching":  # the referral found her: dismiss, to test the return
        await monitoring.dismiss(w.b, watch.watch_id, "the referral, not a school", "officer")
    await inbound_for(w.b).receive(schools.ours.sign(
        notice(schools.ours, K.NEW_PUPIL, admitted_on=dt.date(2026, 12, 7))))
    assert await worker.tick() >= 1
    [watch] = await w.b.store.watches.listing()
    assert watch.state == "found" and watch.found_source == "school"
    await monitoring.report(w.b, watch.watch_id, "officer")
    update = (await replies(w.b))[-1]
    assert update.header.in_reply_to == mid
    o = update.outcomes[0]
    assert o.outcome is m.Outcome.KNOWN_ON_ROLL and o.school and o.school.laestab == "3524001"
    assert "new-pupil return" in (o.comments or "")
    events = await w.b.store.cases.events(other)
    assert any("new pupil at school 3524001" in (e.detail or "") for e in events)
