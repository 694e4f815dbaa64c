"""The CME workflow in process, on real stores and real signatures, with a manual clock:
cases along the flowchart, answering an enquiry from both addresses, monitoring kept alive
and re-matched (records import, CTF, referral), monitoring expiry, safeguarding e-mail through
a real SMTP server, reviews and the termly return."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import InboundRow
from gateway.store.cases import CaseState, NewCase
from gateway.store.transfers import TransferRow
from gateway.store.watches import WatchState
from gateway.web.app import inbound_for
from gateway.workflow import answering, monitoring, notify, reports
from gateway.workflow import cases as wf
from gateway.workflow.matching import MatchWorker
from gateway.workflow.monitoring import MonitorWorker
from tests.conftest import free_port, pair
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401 (a fixture)

C = CaseState
MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)  # autumn term 2026


@dataclasses.dataclass
class World:
    a: Gateway  # 355, the enquiring LA
    b: Gateway  # 352, the receiving LA
    clock: ManualClock


@pytest.fixture(params=["sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    """355 and 352; 352's store on SQLite, then on a real PostgreSQL server: the workflow's
    SQL is the same contract on both."""
    a_home, b_home = pair(tmp_path)
    clock = ManualClock(MONDAY)
    kw = {}
    if request.param == "postgres":
        kw["database"] = fresh_database(request.getfixturevalue("pg_dsn"))
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(**kw), clock)
    yield World(a, b, clock)
    await a.close()
    await b.close()


def child(ref: str, surname: str, forename: str, dob: dt.date, *, old: str = "M30 7LP",
          new: str | None = None, upn: str | None = None) -> m.EnquiryChild:
    return m.EnquiryChild(
        child_ref=ref, surname=surname, forename=forename, dob=dob, gender="F", upn=upn,
        address_while_resident=m.Address(("1 Old Street",), old),
        new_address=m.Address(("9 New Road",), new) if new else None)


async def send_enquiry(w: World, *children: m.EnquiryChild) -> str:
    mid = m.new_id()
    enquiry = m.Enquiry(
        header=m.Header(mid, mid, w.clock.now(), "355", "352", m.MessageType.ENQUIRY),
        enquiry_date=w.clock.today(), officer=m.Officer("Officer A"), children=children)
    await inbound_for(w.b).receive(w.a.sign(enquiry))
    return mid


async def import_records(gw: Gateway, *rows: dict[str, str]) -> None:
    """What ``workflow.records.import_records`` does after reading its file."""
    await gw.store.records.upsert(list(rows), gw.store.inbox.rematch_unanswered)


async def replies(gw: Gateway) -> list[m.Reply]:
    """The Replies queued, in the order queued (the manual clock stands still: the order of
    their "queued" events tells)."""
    rows = await gw.store.backend.read(lambda tx: tx.fetchall(
        "SELECT o.body FROM outbound o JOIN outbound_events e ON e.message_id = o.message_id "
        "AND e.to_state = 'queued' WHERE o.message_type = 'Reply' ORDER BY e.id"))
    out = []
    for r in rows:
        msg = mx.parse_stored(bytes(r["body"]))
        assert isinstance(msg, m.Reply)
        out.append(msg)
    return out


AMELIA = dt.date(2015, 3, 14)
ZOFIA = dt.date(2016, 5, 5)


# ---- cases along the flowchart ---------------------------------------------------------------

async def test_a_case_follows_the_flowchart_and_an_out_of_order_move_needs_an_override(
        world: World) -> None:
    gw = world.b
    case_id = await wf.open_referral(gw, {"surname": "Nowak", "forename": "Ola",
                                          "category": 1, "referrer": "Health visitor"}, "cli")
    for to in (C.LOGGED, C.UNKNOWN, C.LOCATED):
        await wf.move(gw, case_id, to, "officer", f"to {to}")
    with pytest.raises(GatewayError) as info:
        await wf.move(gw, case_id, C.CLOSED, "officer", "found")
    assert info.value.code == "case-transition"
    assert "key-worker-assigned" in info.value.detail
    with pytest.raises(GatewayError) as info:
        await wf.move(gw, case_id, C.PLACED, "officer", "   ")
    assert info.value.code == "bad-request"
    row = await wf.assign(gw, case_id, "Sam Key", "officer")
    assert row.state is C.KEY_WORKER_ASSIGNED and row.key_worker == "Sam Key"
    row = await wf.move(gw, case_id, C.PLACED, "officer", "Oak School from Monday")
    # one full term of monitoring after placement: the whole of the spring term 2027
    assert row.monitor_until == "2027-03-25"
    await wf.move(gw, case_id, C.MONITORED, "officer", "attending")
    with pytest.raises(GatewayError) as info:  # the term of monitoring has not ended
        await wf.move(gw, case_id, C.CLOSED, "officer", "attending well")
    assert info.value.code == "monitoring-not-ended" and "2027-03-25" in info.value.detail
    world.clock.set(dt.datetime(2027, 3, 25, 12, 0, tzinfo=dt.UTC))  # its last day
    row = await wf.move(gw, case_id, C.CLOSED, "officer", "a term of good attendance")
    assert row.closed_at is not None
    with pytest.raises(GatewayError):
        await wf.move(gw, case_id, C.LOGGED, "officer", "reopen")
    row = await wf.move(gw, case_id, C.LOGGED, "manager", "re-referred", override=True)
    events = await gw.store.cases.events(case_id)
    assert [e.to_state for e in events if e.kind in ("opened", "moved")] == [
        "referred", "logged", "unknown", "located", "key-worker-assigned", "placed",
        "monitored", "closed", "logged"]
    assert [e.override for e in events if e.kind == "moved"][-1] == 1
    assert all(e.detail for e in events if e.kind == "moved")


async def test_a_received_referral_opens_a_case_and_a_cp_flag_escalates_it(
        world: World) -> None:
    h = m.Header(m.new_id(), m.new_id(), world.clock.now(), "355", "352",
                 m.MessageType.REFERRAL)
    referral = m.Referral(
        header=h, referral_date=world.clock.today(),
        referrer=m.Referrer("Dr Jones", organisation="GP practice"),
        child=m.ReferralChild("Nowak", "Ola", dob=dt.date(2014, 2, 2),
                              child_protection_plan=True, year_group="7"),
        category=m.Category.WHEREABOUTS_UNKNOWN, reason_out_of_provision="family moved")
    await inbound_for(world.b).receive(world.a.sign(referral))
    [case] = await world.b.store.cases.find()
    assert case.state is C.REFERRED and case.urgent == 1
    assert case.message_id == h.message_id and case.category == 7
    assert case.detail_map()["referrer"] == "Dr Jones"
    [note] = await world.b.store.notifications.recent()
    assert note.kind == "safeguarding" and note.urgent and case.case_id in note.subject
    assert "Nowak" not in note.subject and "Ola" not in note.subject
    # urgent cases come first in the officer's list
    await wf.open_referral(world.b, {"surname": "Later", "forename": "Kid", "category": 1,
                                     "referrer": "School"}, "cli")
    first, second = await world.b.store.cases.find()
    assert first.case_id == case.case_id and not second.urgent


async def test_a_referral_form_with_bad_fields_is_refused_with_the_field_named(
        world: World) -> None:
    for form, word in (({"forename": "A", "category": 1, "referrer": "x"}, "surname"),
                       ({"surname": "A", "forename": "B", "category": 11, "referrer": "x"},
                        "category"),
                       ({"surname": "A", "forename": "B", "category": 1, "referrer": "x",
                         "dob": "2015-02-31"}, "dob")):
        with pytest.raises(GatewayError) as info:
            await wf.open_referral(world.b, form, "api")
        assert word in info.value.detail
    assert await world.b.store.cases.find() == []


# ---- answering, from both addresses ---------------------------------------------------------

async def test_an_enquiry_is_answered_from_the_new_address_and_unknown_children_watched(
        world: World) -> None:
    await import_records(world.b, {"record_id": "r1", "surname": "Kowalski",
                                   "forename": "Amelia", "dob": "2015-03-14", "sex": "F",
                                   "postcode": "M1 5QA", "address": "9 New Road",
                                   "laestab": "3524001", "on_roll_from": "2026-09-01"})
    mid = await send_enquiry(
        world, child("1", "Kowalski", "Amelia", AMELIA, old="SW1A 1AA", new="M1 5QA"),
        child("2", "Nowak", "Zofia", ZOFIA))
    assert await MatchWorker(world.b).tick() == 1
    proposals = {p.child_ref: p for p in await answering.propose(world.b, mid)}
    assert proposals["1"].outcome is m.Outcome.KNOWN_ON_ROLL
    assert proposals["1"].school and proposals["1"].school.laestab == "3524001"
    assert proposals["2"].outcome is m.Outcome.NOT_KNOWN_MONITORING
    # leaving a child out needs the officer's confirmation
    with pytest.raises(GatewayError) as info:
        await answering.answer(world.b, mid, [m.ChildOutcome("1", m.Outcome.KNOWN_ON_ROLL)])
    assert info.value.code == "reply-incomplete"
    outcomes = [m.ChildOutcome(p.child_ref, p.outcome, p.school) for p in proposals.values()]
    await answering.answer(world.b, mid, outcomes, actor="officer")
    [reply] = await replies(world.b)
    assert reply.header.in_reply_to == mid and reply.header.conversation_id == mid
    [watch] = await world.b.store.watches.active()
    assert watch.child_ref == "2" and watch.enquiry_id == mid
    assert watch.watched_until == "2027-03-25"  # the end of the next term
    case = await world.b.store.cases.get(watch.case_id or "")
    assert case is not None and case.state is C.UNKNOWN and case.surname == "Nowak"
    assert await answering.awaiting(world.b) == []


async def test_an_enquiry_that_came_before_the_records_is_matched_after_the_import(
        world: World) -> None:
    mid = await send_enquiry(world, child("1", "Kowalski", "Amelia", AMELIA, new="M1 5QA"))
    await MatchWorker(world.b).tick()
    [p] = await answering.propose(world.b, mid)
    assert p.band == "no-match"
    await import_records(world.b, {"record_id": "r1", "surname": "Kowalski",
                                   "forename": "Amelia", "dob": "2015-03-14", "sex": "F",
                                   "postcode": "M1 5QA", "laestab": "3524001"})
    assert await MatchWorker(world.b).tick() == 1
    [p] = await answering.propose(world.b, mid)
    assert p.band == "match" and p.outcome is m.Outcome.KNOWN_ON_ROLL


async def test_decisive_upn_matches_are_answered_automatically_when_set(
        tmp_path: Path) -> None:
    a_home, b_home = pair(tmp_path, extra='auto_reply = "decisive"')
    clock = ManualClock(MONDAY)
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(), clock)
    try:
        w = World(a, b, clock)
        await import_records(b, {"record_id": "r1", "upn": "Q352400115001",
                                 "surname": "Kowalski", "forename": "Amelia",
                                 "dob": "2015-03-14", "laestab": "3524001"})
        mid = await send_enquiry(w, child("1", "Kowalsky", "Millie", AMELIA,
                                          upn="Q352400115001"),
                                 child("2", "Nowak", "Zofia", ZOFIA))
        await MatchWorker(b).tick()
        [reply] = await replies(b)
        assert [(o.child_ref, o.outcome) for o in reply.outcomes] == [
            ("1", m.Outcome.KNOWN_ON_ROLL)]
        [waiting] = await answering.awaiting(b)
        assert waiting["enquiry_id"] == mid and waiting["waiting"] == 1
        # the child still waiting is matched again after the next import (the enquiry has a
        # reply already, but not for her)
        await import_records(b, {"record_id": "r2", "surname": "Nowak", "forename": "Zofia",
                                 "dob": "2016-05-05", "sex": "F", "postcode": "M30 7LP",
                                 "laestab": "3524003"})
        assert await MatchWorker(b).tick() == 1
        proposals = {p.child_ref: p for p in await answering.propose(b, mid)}
        assert proposals["2"].outcome is m.Outcome.KNOWN_ON_ROLL
        assert proposals["1"].answered == "known-on-roll"
    finally:
        await a.close()
        await b.close()


# ---- monitoring ------------------------------------------------------------------------------

async def watched(w: World, *children: m.EnquiryChild) -> str:
    mid = await send_enquiry(w, *children)
    await MatchWorker(w.b).tick()
    await answering.answer(w.b, mid, [m.ChildOutcome(c.child_ref,
                                                     m.Outcome.NOT_KNOWN_MONITORING)
                                      for c in children], actor="officer")
    return mid


async def test_a_watched_child_found_in_a_records_import_gets_an_updated_reply(
        world: World) -> None:
    mid = await watched(world, child("1", "Nowak", "Zofia", ZOFIA, new="M1 5QA"))
    worker = MonitorWorker(world.b)
    assert await worker.tick() == 0
    await import_records(world.b, {"record_id": "r9", "surname": "Nowak", "forename": "Zofia",
                                   "dob": "2016-05-05", "sex": "F", "postcode": "M1 5QA",
                                   "laestab": "3524002"})
    assert await worker.tick() == 1
    [watch] = await world.b.store.watches.listing()
    assert watch.state == WatchState.FOUND and watch.found_source == "records"
    assert len(await replies(world.b)) == 1  # approve mode: nothing sent yet
    notes = await world.b.store.notifications.recent()
    assert notes[0].kind == "watch-found"
    assert await worker.tick() == 0  # found once, not again
    await monitoring.report(world.b, watch.watch_id, "officer")
    first, update = await replies(world.b)
    assert update.header.in_reply_to == mid and update.header.conversation_id == mid
    [o] = update.outcomes
    assert o.outcome is m.Outcome.KNOWN_ON_ROLL and o.school and o.school.laestab == "3524002"
    case = await world.b.store.cases.get(watch.case_id or "")
    assert case is not None and case.state is C.LOCATED
    assert update.header.message_id in [mid_ for mid_, _, _ in
                                        await world.b.store.cases.messages(case.case_id)]
    with pytest.raises(GatewayError) as info:
        await monitoring.report(world.b, watch.watch_id, "officer")
    assert info.value.code == "watch-state"


async def test_in_auto_mode_a_ctf_match_sends_the_updated_reply_at_once(
        tmp_path: Path) -> None:
    a_home, b_home = pair(tmp_path, extra='monitoring_updates = "auto"')
    clock = ManualClock(MONDAY)
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(), clock)
    try:
        w = World(a, b, clock)
        await watched(w, child("1", "Nowak", "Zofia", ZOFIA))
        await receive_ctf(b, "Nowak", "Zofia", ZOFIA)
        assert await MonitorWorker(b).tick() == 1
        first, update = await replies(b)
        assert update.outcomes[0].outcome is m.Outcome.KNOWN_ON_ROLL
        assert update.outcomes[0].school and update.outcomes[0].school.laestab == "3524001"
        assert "Common Transfer File" in (update.outcomes[0].comments or "")
        [watch] = await b.store.watches.listing()
        assert watch.state == WatchState.REPORTED
    finally:
        await a.close()
        await b.close()


@dataclasses.dataclass(frozen=True)
class Pupil:
    index: int
    upn: str | None
    former_upn: str | None
    surname: str
    forename: str
    dob: dt.date
    sex: str | None
    postcode: str | None
    flags: tuple[str, ...] = ()


async def receive_ctf(gw: Gateway, surname: str, forename: str, dob: dt.date,
                      *others: Pupil) -> str:
    tid = m.new_id()
    pupils = [Pupil(0, None, None, surname, forename, dob, "F", None), *others]
    row = TransferRow(transfer_id=tid, sender="3554001", purpose="deliver", version="25.0",
                      source_lea="355", source_estab="4001", dest_lea="352",
                      dest_estab="4001", destination="school", for_school="3524001",
                      pupils=len(pupils), flagged=0, size_bytes=1, digest="0" * 64,
                      path="/nonexistent", received_at=gw.clock.time(), state="held")
    await gw.store.backend.write(lambda tx: gw.store.transfers.insert(tx, row, pupils))
    return tid


async def test_a_sibling_in_a_ctf_is_never_claimed_and_a_dismissed_candidate_stays_so(
        world: World) -> None:
    await watched(world, child("1", "Nowak", "Zofia", ZOFIA))
    worker = MonitorWorker(world.b)
    # her twin sister, not her: same surname, date of birth and sex
    tid = await receive_ctf(world.b, "Nowak", "Maja", ZOFIA)
    await worker.tick()
    [watch] = await world.b.store.watches.listing()
    assert watch.state == WatchState.POSSIBLE  # for the officer to look at, never claimed
    assert watch.found_ref == f"{tid}:0"
    await monitoring.dismiss(world.b, watch.watch_id, "checked with the school: her twin",
                             "officer")
    await world.b.store.backend.write(lambda tx: world.b.store.marks.put(
        tx, "watch:transfers", ""))  # look at every CTF again, as after a restart
    await worker.tick()
    [watch] = await world.b.store.watches.listing()
    assert watch.state == WatchState.WATCHING and watch.dismissed
    with pytest.raises(GatewayError) as info:
        await monitoring.dismiss(world.b, watch.watch_id, "again", "officer")
    assert info.value.code == "watch-state"
    # she herself arrives in another CTF: found
    await receive_ctf(world.b, "Nowak", "Zofia", ZOFIA)
    await worker.tick()
    [watch] = await world.b.store.watches.listing()
    assert watch.state == WatchState.FOUND


async def test_a_referral_entered_here_finds_a_watched_child_for_the_officer(
        world: World) -> None:
    await watched(world, child("1", "Nowak", "Zofia", ZOFIA))
    await wf.open_referral(world.b, {"surname": "Nowak", "forename": "Zofia",
                                     "dob": "2016-05-05", "category": 1,
                                     "referrer": "Housing officer"}, "cli")
    assert await MonitorWorker(world.b).tick() == 1
    [watch] = await world.b.store.watches.listing()
    assert watch.found_source == "case" and watch.state in ("found", "possible")
    await monitoring.report(world.b, watch.watch_id, "officer")
    update = (await replies(world.b))[-1]
    assert update.outcomes[0].outcome is m.Outcome.KNOWN_NOT_ON_ROLL


async def test_another_authoritys_enquiry_is_a_finding_but_the_same_authority_asking_again_is_not(
        world: World) -> None:
    await watched(world, child("1", "Nowak", "Zofia", ZOFIA))
    worker = MonitorWorker(world.b)
    await send_enquiry(world, child("1", "Nowak", "Zofia", ZOFIA))  # 355 asks again
    assert await worker.tick() == 0
    # 350 asks about her too: the officer is told (two authorities look for one child)
    mid = m.new_id()
    other = m.Enquiry(
        header=m.Header(mid, mid, world.clock.now(), "350", "352", m.MessageType.ENQUIRY),
        enquiry_date=world.clock.today(), officer=m.Officer("Officer C"),
        children=(child("1", "Nowak", "Zofia", ZOFIA),))
    await world.b.store.inbox.accept(InboundRow(
        message_id=mid, sender="350", recipient="352", message_type="Enquiry",
        conversation_id=mid, in_reply_to=None, created_at=world.clock.time(),
        received_at=world.clock.time(), digest="0" * 64, body=mx.to_bytes(mx.build(other)),
        receipt=b""))
    assert await worker.tick() == 1
    [watch] = await world.b.store.watches.listing()
    assert watch.found_source == "enquiry" and watch.found_ref.startswith(mid)
    assert len(await replies(world.b)) == 1  # never sent without the officer


async def test_monitoring_ends_with_a_final_reply(world: World) -> None:
    mid = await watched(world, child("1", "Nowak", "Zofia", ZOFIA))
    worker = MonitorWorker(world.b)
    world.clock.set(dt.datetime(2027, 3, 25, 12, 0, tzinfo=dt.UTC))  # the last day
    await worker.tick()
    assert len(await replies(world.b)) == 1
    world.clock.set(dt.datetime(2027, 3, 26, 9, 0, tzinfo=dt.UTC))
    await worker.tick()
    first, final = await replies(world.b)
    assert final.header.in_reply_to == mid
    assert final.outcomes[0].outcome is m.Outcome.NOT_KNOWN
    assert "monitoring ended" in (final.outcomes[0].comments or "")
    [watch] = await world.b.store.watches.listing()
    assert watch.state == WatchState.ENDED
    case = await world.b.store.cases.get(watch.case_id or "")
    assert case is not None and case.state is C.WHEREABOUTS_UNKNOWN
    await worker.tick()
    assert len(await replies(world.b)) == 2  # once


async def test_a_watch_beyond_the_calendar_is_estimated_not_refused(world: World) -> None:
    world.clock.set(dt.datetime(2027, 5, 10, 9, 0, tzinfo=dt.UTC))  # summer: no next term
    until, estimated = monitoring.watch_until(world.b, "test")
    assert estimated and until == (dt.date(2027, 5, 10) + dt.timedelta(days=112)).isoformat()


# ---- safeguarding e-mail through a real SMTP server -------------------------------------------

class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                              envelope.content.decode()))  # type: ignore[attr-defined]
        return "250 OK"


async def test_a_safeguarding_escalation_is_e_mailed_to_officers_and_managers(
        tmp_path: Path) -> None:
    port = free_port()
    mailbox = Inbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        _, b_home = pair(tmp_path, extra=f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
                                         f'smtp_from = "cme@352.example"\n'
                                         f'notify_officers = "officer@352.example"\n'
                                         f'notify_managers = "manager@352.example"')
        gw = await Gateway.open(b_home.settings(), ManualClock(MONDAY))
        try:
            case_id = await wf.open_referral(gw, {
                "surname": "Nowak", "forename": "Ola", "category": 7, "referrer": "Police",
                "looked_after": True}, "cli")
            assert await notify.send_due(gw) == 1
            assert await notify.send_due(gw) == 0  # sent once
        finally:
            await gw.close()
    finally:
        smtp.stop()
    [(to, text)] = mailbox.messages
    assert sorted(to) == ["manager@352.example", "officer@352.example"]
    assert case_id in text and "URGENT" in text and "looked after" in text
    assert "Nowak" not in text and "Ola" not in text


async def test_an_unreachable_smtp_server_keeps_the_notification_for_a_retry(
        tmp_path: Path) -> None:
    _, b_home = pair(tmp_path, extra=f'smtp_host = "127.0.0.1"\nsmtp_port = {free_port()}\n'
                                     f'smtp_from = "cme@352.example"\n'
                                     f'notify_officers = "officer@352.example"')
    gw = await Gateway.open(b_home.settings(), ManualClock(MONDAY))
    try:
        await wf.open_referral(gw, {"surname": "A", "forename": "B", "category": 7,
                                    "referrer": "Police", "child_protection_plan": True}, "cli")
        assert await notify.send_due(gw) == 0
        [n] = await gw.store.notifications.recent()
        assert n.sent_at is None and n.attempts == 1 and n.last_error
        [case] = await gw.store.cases.find()
        assert case.urgent  # the queue has it whatever happens to e-mail
    finally:
        await gw.close()


# ---- reviews and reports ---------------------------------------------------------------------

async def test_reviews_due_and_the_termly_return(world: World) -> None:
    gw = world.b
    c1 = await wf.open_referral(gw, {"surname": "A", "forename": "One", "category": 1,
                                     "referrer": "x", "year_group": "8"}, "cli")
    c2 = await wf.open_referral(gw, {"surname": "B", "forename": "Two", "category": 7,
                                     "referrer": "x"}, "cli")
    # autumn 2 ends on Friday 18 December: the half-termly review is due then
    due = await wf.reviews_due(gw, within_days=14)
    assert {(r["case_id"], r["due"]) for r in due} == {(c1, "2026-12-18"), (c2, "2026-12-18")}
    await wf.add_event(gw, c1, "review", "seen the family", "officer")
    world.clock.set(dt.datetime(2026, 12, 19, 9, 0, tzinfo=dt.UTC))
    due = await wf.reviews_due(gw, within_days=3)
    assert [r["case_id"] for r in due] == [c2] and due[0]["overdue"]
    # c1 placed in the spring term: it stops being missing education then
    world.clock.set(dt.datetime(2027, 1, 11, 9, 0, tzinfo=dt.UTC))
    for to in (C.LOGGED, C.UNKNOWN, C.LOCATED, C.KEY_WORKER_ASSIGNED, C.PLACED):
        await wf.move(gw, c1, to, "officer", "steps")
    autumn = await reports.termly_return(gw, "autumn 2026")
    assert autumn["totals"]["cme on census date"] == 2
    assert autumn["totals"]["became cme during term"] == 2
    spring = await reports.termly_return(gw, "Spring 2027")
    assert spring["totals"]["cme on census date"] == 1
    assert spring["totals"]["stopped being cme during term"] == 1
    assert spring["totals"]["stopped: placed"] == 1
    counts = await reports.counts(gw)
    assert counts["open cases by category"] == {"1 no provision": 1,
                                                "7 whereabouts unknown": 1}
    assert counts["open cases by year group"] == {"8": 1, "not given": 1}
    with pytest.raises(GatewayError) as info:
        await reports.termly_return(gw, "winter 1999")
    assert "autumn 2026" in info.value.detail
    assert "One" not in json.dumps(counts) and "One" not in json.dumps(spring)


async def test_a_new_case_opened_meanwhile_waits_for_the_lock(world: World) -> None:
    # two officers open cases at the same time: both are stored, each once
    ids = await asyncio.gather(*(wf.open_case(world.b, NewCase(
        category=1, reason="r", source="cli", surname=f"S{i}", forename="F"), "cli")
        for i in range(5)))
    assert len(set(ids)) == 5 and len(await world.b.store.cases.find()) == 5


async def test_a_claim_notice_with_no_case_opens_one_located_and_only_the_hub_may_send_it(
        world: World) -> None:
    from gateway.exchange.handlers import Arrival as Got
    from gateway.workflow.cases import ClaimNoticed

    tid = m.new_id()
    notice = m.ClaimNotice(
        header=m.Header(m.new_id(), m.new_id(), world.clock.now(), "S2S", "352",
                        m.MessageType.CLAIM_NOTICE), transfer_id=tid, claimed_by="350",
        date_claimed=world.clock.today(),
        pupil=m.PupilSummary("Nowak", "Zofia", dob=ZOFIA))
    handled = await ClaimNoticed().handle(world.b, notice, Got("0" * 64, world.clock.now()))
    assert handled.step is not None
    await world.b.store.backend.write(handled.step)
    [case] = await world.b.store.cases.find()
    assert case.state is C.LOCATED and "located by LA 350" in case.reason
    forged = dataclasses.replace(notice, header=dataclasses.replace(notice.header,
                                                                    sender="355"))
    with pytest.raises(GatewayError) as info:
        await ClaimNoticed().handle(world.b, forged, Got("0" * 64, world.clock.now()))
    assert info.value.code == "bad-request"


async def test_a_traveller_family_expected_here_is_watched_and_the_sender_told_on_arrival(
        world: World) -> None:
    mid = m.new_id()
    move = m.TravellerMove(
        header=m.Header(mid, mid, world.clock.now(), "355", "352",
                        m.MessageType.TRAVELLER_MOVE),
        notice_date=world.clock.today(), officer=m.Officer("Officer A"),
        expected_on=dt.date(2027, 1, 11), site="Barton Lane transit site",
        destination=m.Address(("Barton Lane",), "M30 0AA"),
        children=(child("1", "Lee", "Kezia", dt.date(2015, 9, 9)),
                  child("2", "Lee", "Nelson", dt.date(2017, 2, 2))))
    await inbound_for(world.b).receive(world.a.sign(move))
    watches = await world.b.store.watches.listing()
    assert {w.child_ref for w in watches} == {"1", "2"} and all(
        w.state == "watching" and w.enquirer == "355" for w in watches)
    cases = await world.b.store.cases.find()
    assert {c.forename for c in cases} == {"Kezia", "Nelson"}
    assert all(c.state is C.UNKNOWN and c.detail_map()["site"] for c in cases)
    # Kezia joins a school's roll in January
    await import_records(world.b, {"record_id": "r7", "surname": "Lee", "forename": "Kezia",
                                   "dob": "2015-09-09", "sex": "F", "postcode": "M30 0AA",
                                   "laestab": "3524005"})
    assert await MonitorWorker(world.b).tick() == 1
    [found] = [w for w in await world.b.store.watches.listing() if w.state == "found"]
    await monitoring.report(world.b, found.watch_id, "officer")
    [reply] = await replies(world.b)
    assert reply.header.in_reply_to == mid and reply.header.recipient == "355"
    assert reply.outcomes[0].outcome is m.Outcome.KNOWN_ON_ROLL
    assert reply.outcomes[0].school and reply.outcomes[0].school.laestab == "3524005"
