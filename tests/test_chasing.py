"""Chasing overdue replies (the enquiring LA) and receiving Chasers (the receiving LA).

Two in-process gateways (real aiohttp servers on loopback, real signatures, real SQLite) share
one ``ManualClock`` set inside the shipped 2026-27 school calendar: deadlines, chasers and
escalation are reached by moving it, never by sleeping, and nothing depends on today's date.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.cli.chasing import enquiry_lines
from gateway.core.clock import LONDON, ManualClock
from gateway.core.errors import GatewayError
from gateway.crypto import keys as k
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.exchange.replies import reply
from gateway.exchange.sender import Sender
from gateway.messages import model as m
from gateway.web.app import create_app
from gateway.web.keys import GATEWAY
from gateway.workflow.chasing import ChaseWorker, chase, review, views, when
from tests.conftest import Home, pair


def london(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=LONDON)


@dataclass
class Side:
    home: Home
    server: TestServer
    gw: Gateway
    sender: Sender


@dataclass
class World:
    a: Side  # 355, the enquiring LA
    b: Side  # 352, the receiving LA
    clock: ManualClock

    async def deliver(self, side: Side, mid: str, states: tuple[str, ...] = ("delivered",),
                      ) -> str:
        for _ in range(10):
            await side.sender.tick()
            await side.sender.drain()
            row = await side.gw.store.outbox.get(mid)
            assert row is not None
            if row.state in states:
                return row.state
            self.clock.advance(0.2)
        raise AssertionError(f"{mid} stuck in {row.state}: {row.last_error}")

    async def chasers_out(self) -> list[str]:
        rows = await self.a.gw.store.outbox.recent(limit=50)
        return [r.message_id for r in rows if r.message_type == "Chaser"]


async def _side(home: Home, clock: ManualClock, session: aiohttp.ClientSession,
                extra: dict[str, object]) -> Side:
    server = TestServer(create_app(home.settings(**extra), background=False, clock=clock),
                        port=home.port)
    await server.start_server()
    gw = server.app[GATEWAY]
    return Side(home, server, gw, Sender(gw, session, rng=random.Random(1)))


def dated_keys(*homes: Home) -> None:
    """Certificates valid over the school year the tests' clock runs in (not from today)."""
    for home in homes:
        key = k.generate_key("ec")
        cert = k.make_certificate(home.party, key, days=730,
                                  not_before=dt.datetime(2026, 8, 1, tzinfo=dt.UTC))
        k.write_private(home.path / "keys/gateway.key", k.key_pem(key))
        k.write_public(home.path / "keys/gateway.pem", k.cert_pem(cert))
    for home in homes:
        for other in homes:
            if other is not home:
                home.trust(other)


async def make_world(tmp_path, **extra: object) -> AsyncIterator[World]:
    a, b = pair(tmp_path, extra="retry_base_seconds = 0.01\nretry_max_seconds = 0.05\n")
    dated_keys(a, b)
    clock = ManualClock(london(2026, 11, 27))  # Friday 27 November 2026, 09:00
    session = aiohttp.ClientSession()
    sa = await _side(a, clock, session, extra)
    sb = await _side(b, clock, session, {})
    try:
        yield World(sa, sb, clock)
    finally:
        for side in (sa, sb):
            await side.sender.drain()
            await side.server.close()
        await session.close()


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:
    async for w in make_world(tmp_path):
        yield w


@pytest.fixture
async def manual_world(tmp_path) -> AsyncIterator[World]:
    async for w in make_world(tmp_path, chasing="manual"):
        yield w


def children() -> tuple[m.EnquiryChild, ...]:
    return (m.EnquiryChild(child_ref="1", surname="Kowalczyk", forename="Amelia",
                           dob=dt.date(2015, 3, 14),
                           school_last_attended=m.School("Peel Green Primary", "3552001")),
            m.EnquiryChild(child_ref="2", surname="Kowalczyk", forename="Jakub",
                           dob=dt.date(2017, 6, 2)))


async def send_enquiry(w: World, deliver: bool = True) -> str:
    gw = w.a.gw
    msg = m.Enquiry(header=gw.header(m.MessageType.ENQUIRY, "352"),
                    enquiry_date=gw.clock.today(), officer=m.Officer(name="Jane Hughes"),
                    children=children())
    await queue(gw, msg)
    if deliver:
        await w.deliver(w.a, msg.header.message_id)
    return msg.header.message_id


async def answer(w: World, mid: str, *outcomes: m.ChildOutcome) -> None:
    row = await reply(w.b.gw, mid, list(outcomes), partial=True)  # the partner may answer some
    await w.deliver(w.b, row.message_id)


def at(w: World, when_: dt.datetime) -> None:
    w.clock.set(when_)


# ---- due dates ---------------------------------------------------------------------------

async def test_enquiry_is_tracked_with_its_children_and_due_date(world: World) -> None:
    mid = await send_enquiry(world, deliver=False)
    sent = await world.a.gw.store.chasing.get(mid)
    assert sent is not None
    # sent Friday 27 November 2026; 10 school days later is Friday 11 December
    assert (sent.sent_on, sent.due_on, sent.due_estimated) == ("2026-11-27", "2026-12-11", 0)
    kids = (await world.a.gw.store.chasing.children([mid]))[mid]
    assert [(c.child_ref, c.forename, c.dob, c.school_last_attended, c.outcome)
            for c in kids] == [("1", "Amelia", "2015-03-14", "Peel Green Primary (3552001)",
                                None), ("2", "Jakub", "2017-06-02", None, None)]


async def test_due_date_outside_the_calendar_is_estimated_and_logged_by_id_only(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    at(world, london(2027, 7, 19))  # 2 school days of 2026-27 left, then 2027-28 (not held)
    with caplog.at_level(logging.WARNING):
        mid = await send_enquiry(world, deliver=False)
    sent = await world.a.gw.store.chasing.get(mid)
    assert sent is not None and sent.due_estimated == 1
    assert sent.due_on == "2027-08-02"  # 14 calendar days: 10 school weeks' worth, estimated
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(mid in line and "estimated" in line for line in warned), warned
    assert not any("Kowalczyk" in line or "Amelia" in line for line in caplog.messages)
    view = (await views(world.a.gw.store, world.a.gw.settings, [mid], world.clock.time()))[mid]
    assert view["due_estimated"] is True and not view["overdue"]
    at(world, london(2027, 8, 10))  # overdue, but in the summer holiday: no school day yet
    view = (await views(world.a.gw.store, world.a.gw.settings, [mid], world.clock.time()))[mid]
    assert (view["overdue"], view["overdue_school_days"], view["overdue_estimated"]) == (
        True, 0, False)
    assert "OVERDUE (no school day since it was due; reply due Mon 2 Aug 2027 (estimated))" \
        in enquiry_lines(view, manual=False)[0]
    at(world, london(2027, 9, 10))  # 2027-28 is not held: weekdays from 3 August, estimated
    view = (await views(world.a.gw.store, world.a.gw.settings, [mid], world.clock.time()))[mid]
    assert (view["overdue_school_days"], view["overdue_estimated"]) == (29, True)
    assert "OVERDUE by about 29 school days" in enquiry_lines(view, manual=False)[0]


# ---- automatic chasing, escalation, replies -----------------------------------------------

async def test_overdue_enquiry_is_chased_then_escalated_then_answered(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    w = world
    mid = await send_enquiry(w)
    worker = ChaseWorker(w.a.gw)
    at(w, london(2026, 12, 11, 16))  # the due day itself: not overdue yet
    assert await worker.tick() == {"chased": [], "escalated": [], "overdue": []}

    at(w, london(2026, 12, 14, 8))  # Monday after: overdue by 1 school day
    view = (await views(w.a.gw.store, w.a.gw.settings, [mid], w.clock.time()))[mid]
    assert view["overdue"] and view["overdue_school_days"] == 1
    assert (await worker.tick())["chased"] == [mid]
    assert (await worker.tick())["chased"] == []  # once: the next is an interval away
    (c1,) = await w.chasers_out()
    await w.deliver(w.a, c1)
    chased = await w.b.gw.store.chasing.chased(mid)
    assert (chased.times, chased.last_number) == (1, 1)
    assert chased.last_at == pytest.approx(w.clock.time(), abs=5)
    body = (await w.b.gw.store.inbox.get(c1)).body
    assert b"<ChaserNumber>1</ChaserNumber>" in body and b"<ChildRef>2</ChildRef>" in body
    audit = await w.b.gw.store.audit.entries("chaser-received")
    assert audit[0].message_id == mid and c1 in (audit[0].detail or "")

    # next chaser 5 school days after 14 Dec: 15-18 Dec, then the Christmas holiday, 4 Jan
    # INSET: due after Tuesday 5 January 2027
    at(w, london(2027, 1, 5, 17))
    assert (await worker.tick())["chased"] == []
    at(w, london(2027, 1, 6, 8))
    assert (await worker.tick())["chased"] == [mid]
    c2 = [c for c in await w.chasers_out() if c != c1][0]
    await w.deliver(w.a, c2)
    assert (await w.b.gw.store.chasing.chased(mid)).times == 2

    at(w, london(2027, 1, 14, 8))  # 2 chasers and another interval: escalate, do not chase
    with caplog.at_level(logging.WARNING):
        done = await worker.tick()
    assert done == {"chased": [], "escalated": [mid], "overdue": []}
    assert any(mid in r.getMessage() and "escalated" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    assert (await worker.tick())["escalated"] == []  # once
    assert len(await w.chasers_out()) == 2
    view = (await views(w.a.gw.store, w.a.gw.settings, [mid], w.clock.time()))[mid]
    assert view["escalated"] and view["chasers"] == 2 and view["awaiting"] == ["1", "2"]
    assert [e.message_id for e in await w.a.gw.store.audit.entries("escalate")] == [mid]

    # 352 answers at last: one on roll, one watched
    at(w, london(2027, 1, 14, 10, 30))
    await answer(w, mid, m.ChildOutcome("1", m.Outcome.KNOWN_ON_ROLL,
                                        m.School("Oak School", "3524001")),
                 m.ChildOutcome("2", m.Outcome.NOT_KNOWN_MONITORING))
    view = (await views(w.a.gw.store, w.a.gw.settings, [mid], w.clock.time()))[mid]
    kids = {c["child_ref"]: c for c in view["children"]}
    assert kids["1"]["outcome"] == "known-on-roll" and kids["1"]["replied_by"] == "352"
    assert kids["1"]["school"]["laestab"] == "3524001"
    assert kids["2"]["outcome"] == "not-known-monitoring"
    assert not view["overdue"] and view["awaiting"] == [] and view["waiting_since"] is None
    assert when(kids["1"]["replied_at"]) == "Thu 14 Jan 2027 10:30"


async def test_later_not_known_never_overwrites_known_without_review(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    w = world
    mid = await send_enquiry(w)
    oak = m.School("Oak School", "3524001")
    await answer(w, mid, m.ChildOutcome("1", m.Outcome.KNOWN_ON_ROLL, oak),
                 m.ChildOutcome("2", m.Outcome.NOT_KNOWN_MONITORING))
    with caplog.at_level(logging.WARNING):
        await answer(w, mid, m.ChildOutcome("1", m.Outcome.NOT_KNOWN),
                     m.ChildOutcome("2", m.Outcome.KNOWN_NOT_ON_ROLL))
    kids = {c.child_ref: c for c in (await w.a.gw.store.chasing.children([mid]))[mid]}
    # child 1: the known outcome stays, the not-known waits for the officer
    assert (kids["1"].outcome, kids["1"].pending_outcome, kids["1"].needs_review) == (
        "known-on-roll", "not-known", 1)
    assert kids["1"].school_json()["name"] == "Oak School"
    # child 2: found after "not known but monitoring": an ordinary update, shown as such
    assert (kids["2"].outcome, kids["2"].needs_review, kids["2"].previous_outcome) == (
        "known-not-on-roll", 0, "not-known-monitoring")
    assert kids["2"].replied_officer == w.b.gw.officer().name
    flagged = await w.a.gw.store.audit.entries("review-needed")
    assert [(e.message_id, e.actor) for e in flagged] == [(mid, "partner 352")]
    found = await w.a.gw.store.audit.entries("outcome-changed")
    assert [e.detail for e in found] == [
        f"child 2: not-known-monitoring -> known-not-on-roll (reply {kids['2'].reply_id})"]
    assert any(mid in r.getMessage() and "review" in r.getMessage() for r in caplog.records)
    view = (await views(w.a.gw.store, w.a.gw.settings, [mid], w.clock.time()))[mid]
    assert view["needs_review"] == ["1"]
    # the outbox shows the same, merged child by child, not the latest reply alone
    row = await w.a.gw.store.outbox.get(mid)
    assert row is not None and row.outcomes is not None
    assert [(o["child_ref"], o["outcome"], o["pending_outcome"])
            for o in json.loads(row.outcomes)] == [
        ("1", "known-on-roll", "not-known"), ("2", "known-not-on-roll", None)]

    with pytest.raises(GatewayError) as info:
        await review(w.a.gw, mid, "1", accept=False, actor="cli", reason=" ")
    assert info.value.code == "bad-request"
    kept = await review(w.a.gw, mid, "1", accept=False, actor="cli",
                        reason="Oak School confirmed attendance by phone")
    assert (kept.outcome, kept.pending_outcome, kept.needs_review) == ("known-on-roll", None, 0)
    with pytest.raises(GatewayError) as info:  # nothing left to review
        await review(w.a.gw, mid, "1", accept=True, actor="cli", reason="x")
    assert info.value.code == "not-found"
    # flagged again, and this time the officer accepts it
    await answer(w, mid, m.ChildOutcome("1", m.Outcome.NOT_KNOWN))
    took = await review(w.a.gw, mid, "1", accept=True, actor="cli", reason="left Oak School")
    assert (took.outcome, took.school, took.needs_review) == ("not-known", None, 0)
    decisions = [e.action for e in await w.a.gw.store.audit.entries()]
    assert "review-accepted" in decisions and "review-rejected" in decisions


async def test_reply_from_another_party_or_about_other_children_changes_nothing(
        world: World) -> None:
    w = world
    mid = await send_enquiry(w)
    async def record(tx):  # a Reply's step, as if from 999 and about a child we never sent
        return await w.a.gw.store.chasing.record_reply(
            tx, mid, "999", m.new_id(), [{"child_ref": "1", "outcome": "known-on-roll"}], 0)
    assert await w.a.gw.store.backend.write(record) is None
    async def stranger(tx):
        return await w.a.gw.store.chasing.record_reply(
            tx, mid, "352", m.new_id(), [{"child_ref": "9", "outcome": "known-on-roll"}], 0)
    await w.a.gw.store.backend.write(stranger)
    kids = (await w.a.gw.store.chasing.children([mid]))[mid]
    assert [c.outcome for c in kids] == [None, None]


async def test_partial_reply_chases_only_the_unanswered_child(world: World) -> None:
    w = world
    mid = await send_enquiry(w)
    await answer(w, mid, m.ChildOutcome("1", m.Outcome.NOT_KNOWN))
    at(w, london(2026, 12, 14, 8))
    assert (await ChaseWorker(w.a.gw).tick())["chased"] == [mid]
    (c1,) = await w.chasers_out()
    body = (await w.a.gw.store.outbox.get(c1, with_body=True)).body
    assert b"<ChildRef>2</ChildRef>" in body and b"<ChildRef>1</ChildRef>" not in body
    await answer(w, mid, m.ChildOutcome("2", m.Outcome.NOT_KNOWN))
    row = await w.a.gw.store.outbox.get(mid)
    assert row is not None and row.outcomes is not None
    assert [o["child_ref"] for o in json.loads(row.outcomes)] == ["1", "2"]
    at(w, london(2027, 1, 20, 8))
    assert await ChaseWorker(w.a.gw).tick() == {"chased": [], "escalated": [], "overdue": []}
    with pytest.raises(GatewayError) as info:
        await chase(w.a.gw, mid, actor="cli")
    assert info.value.code == "enquiry-not-chaseable"


# ---- manual chasing ----------------------------------------------------------------------

async def test_manual_chasing_lists_then_the_officer_chases_then_escalation(
        manual_world: World) -> None:
    w = manual_world
    mid = await send_enquiry(w)
    worker = ChaseWorker(w.a.gw)
    at(w, london(2026, 12, 14, 8))
    assert await worker.tick() == {"chased": [], "escalated": [], "overdue": [mid]}
    assert await worker.tick() == {"chased": [], "escalated": [], "overdue": []}  # noted once
    assert await w.chasers_out() == []
    assert [e.message_id for e in await w.a.gw.store.audit.entries("overdue")] == [mid]
    row = await chase(w.a.gw, mid, actor="cli", comments="Please reply today.")
    await w.deliver(w.a, row.message_id)
    at(w, london(2026, 12, 15, 8))
    row2 = await chase(w.a.gw, mid, actor="cli")  # an officer may chase again when they wish
    await w.deliver(w.a, row2.message_id)
    assert (await w.b.gw.store.chasing.chased(mid)).times == 2
    assert [c.actor for c in await w.a.gw.store.chasing.chasers(mid)] == ["cli", "cli"]
    at(w, london(2027, 1, 6, 17))  # 5 school days after the 2nd chaser of 15 Dec: 6 Jan
    assert (await worker.tick())["escalated"] == []
    at(w, london(2027, 1, 7, 8))  # 2 chasers and the interval over: escalated even in manual
    assert (await worker.tick())["escalated"] == [mid]


async def test_chase_refusals(world: World) -> None:
    w = world
    with pytest.raises(GatewayError) as info:
        await chase(w.a.gw, m.new_id(), actor="cli")
    assert info.value.code == "not-found"
    mid = await send_enquiry(w, deliver=False)  # queued, not delivered
    with pytest.raises(GatewayError) as info:
        await chase(w.a.gw, mid, actor="cli")
    assert info.value.code == "enquiry-not-chaseable"
    at(w, london(2026, 12, 14, 8))
    assert (await ChaseWorker(w.a.gw).tick())["chased"] == []  # the worker does not either


# ---- receiving Chasers ---------------------------------------------------------------------

async def test_a_chaser_about_an_enquiry_never_received_is_refused(world: World) -> None:
    w = world
    mid = await send_enquiry(w)
    gw = w.a.gw
    cases = {
        "unknown enquiry": (m.new_id(), None, ("1",)),
        "other conversation": (mid, m.new_id(), ("1",)),
        "child not asked about": (mid, None, ("7",)),
    }
    for what, (about, conversation, refs) in cases.items():
        header = gw.header(m.MessageType.CHASER, "352", conversation_id=conversation or mid,
                           in_reply_to=about)
        chaser = m.Chaser(header=header, chaser_number=1, date_sent=gw.clock.today(),
                          officer=m.Officer(name="Jane Hughes"),
                          enquiry_date=dt.date(2026, 11, 27), reply_due=dt.date(2026, 12, 11),
                          awaiting=refs)
        row = await queue(gw, chaser)
        assert await w.deliver(w.a, row.message_id, ("failed",)) == "failed", what
        failed = await gw.store.outbox.get(row.message_id)
        assert failed is not None and failed.error_code == "chaser-unknown-enquiry", what
    assert (await w.b.gw.store.chasing.chased(mid)).times == 0


def test_chasing_settings_are_checked(tmp_path) -> None:
    from tests.conftest import make_home
    home = make_home(tmp_path, "355")
    for bad in ({"chasing": "sometimes"}, {"reply_due_school_days": 0},
                {"chase_interval_school_days": 0}, {"chasers_before_escalation": -1},
                {"chase_check_seconds": 0}):
        with pytest.raises(GatewayError) as info:
            home.settings(**bad)
        assert info.value.code == "config-invalid", bad
    s = home.settings()
    assert (s.chasing, s.reply_due_school_days, s.chase_interval_school_days,
            s.chasers_before_escalation) == ("auto", 10, 5, 2)


# ---- operator API --------------------------------------------------------------------------

@pytest.fixture
async def api_world(tmp_path) -> AsyncIterator[World]:
    async for w in make_world(tmp_path, api_token="tok"):
        yield w


async def test_operator_api_lists_chases_and_reviews(api_world: World) -> None:
    w = api_world
    mid = await send_enquiry(w)
    base = f"http://127.0.0.1:{w.a.home.port}/v1/admin/enquiries"
    auth = {"Authorization": "Bearer tok"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(base) as resp:
            listing = await resp.json()
        assert [i["message_id"] for i in listing["items"]] == [mid]
        assert listing["items"][0]["children"][0]["forename"] == "Amelia"
        async with http.get(f"{base}/{mid}") as resp:
            one = await resp.json()
        assert one["due_on"] == "2026-12-11" and one["chasers_sent"] == []
        async with http.get(f"{base}/{m.new_id()}") as resp:
            assert resp.status == 404
        async with http.post(f"{base}/{mid}/chase", json={"comments": "Any news?"}) as resp:
            assert resp.status == 202, await resp.text()
            chaser = await resp.json()
        async with http.post(f"{base}/{mid}/chase", json={"comments": "\x01"}) as resp:
            assert resp.status == 400
        async with http.post(f"{base}/{mid}/children/1/review",
                             json={"decision": "maybe", "reason": "x"}) as resp:
            assert resp.status == 400
        async with http.post(f"{base}/{mid}/children/1/review",
                             json={"decision": "accept", "reason": "x"}) as resp:
            assert resp.status == 404  # child 1 is not flagged
    await w.deliver(w.a, chaser["message_id"])
    assert (await w.b.gw.store.chasing.chased(mid)).times == 1
    reads = [e.action for e in await w.a.gw.store.audit.entries()]
    assert "read-enquiries" in reads and "read-enquiry" in reads and "chase" in reads
