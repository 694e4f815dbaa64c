"""The second engineer's reproducers for the workflow change, kept as regression tests (each
failed before its fix)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import InboundRow
from gateway.store.watches import WatchState
from gateway.workflow import answering, monitoring, reports
from gateway.workflow import cases as wf
from gateway.workflow.matching import MatchWorker
from gateway.workflow.monitoring import MonitorWorker
from tests.conftest import pair
from tests.pgserver import pg_dsn  # noqa: F401 (a fixture)
from tests.test_workflow import (
    MONDAY,
    ZOFIA,
    World,
    child,
    import_records,
    receive_ctf,
    replies,
    send_enquiry,
    watched,
    world,  # noqa: F401 (a fixture)
)

ZOFIA_REC = {"record_id": "r9", "surname": "Nowak", "forename": "Zofia",
             "dob": "2016-05-05", "sex": "F", "postcode": "M1 5QA", "address": "9 New Road",
             "laestab": "3524002"}


async def _auto(tmp_path: Path) -> World:
    a_home, b_home = pair(tmp_path, extra='monitoring_updates = "auto"')
    clock = ManualClock(MONDAY)
    return World(await Gateway.open(a_home.settings(), clock),
                 await Gateway.open(b_home.settings(), clock), clock)


async def test_officer_rejected_match_is_not_sent_automatically_by_monitoring(
        tmp_path: Path) -> None:
    """The proposal matched record r9; the officer checked and answered 'not known but
    monitoring' (not this child / must not disclose). The very next worker tick re-matches the
    watch against the same records and, in auto mode, tells the enquirer the school."""
    w = await _auto(tmp_path)
    try:
        await import_records(w.b, ZOFIA_REC)
        mid = await send_enquiry(w, child("1", "Nowak", "Zofia", ZOFIA, new="M1 5QA"))
        await MatchWorker(w.b).tick()
        [p] = await answering.propose(w.b, mid)
        assert p.band == "match" and p.record_id == "r9"
        await answering.answer(w.b, mid, [m.ChildOutcome("1", m.Outcome.NOT_KNOWN_MONITORING)],
                               actor="officer")
        await MonitorWorker(w.b).tick()  # no new records at all
        sent = await replies(w.b)
        assert [o.outcome for r in sent for o in r.outcomes] == [
            m.Outcome.NOT_KNOWN_MONITORING], "the officer's rejected record was sent anyway"
    finally:
        await w.a.close()
        await w.b.close()


async def test_twin_already_answered_known_is_not_claimed_for_the_other_twin(
        world: World) -> None:  # noqa: F811
    """Twins in one enquiry; records hold only Zofia. Zofia answered known-on-roll, Maja
    watched. Maja's watch must not be proposed Zofia's record."""
    await import_records(world.b, ZOFIA_REC)
    mid = await send_enquiry(world, child("1", "Nowak", "Zofia", ZOFIA, new="M1 5QA"),
                             child("2", "Nowak", "Maja", ZOFIA, new="M1 5QA"))
    await MatchWorker(world.b).tick()
    props = {p.child_ref: p for p in await answering.propose(world.b, mid)}
    await answering.answer(world.b, mid, [
        m.ChildOutcome("1", props["1"].outcome, props["1"].school),
        m.ChildOutcome("2", m.Outcome.NOT_KNOWN_MONITORING)], actor="officer")
    await MonitorWorker(world.b).tick()
    [watch] = await world.b.store.watches.listing()
    assert watch.child_ref == "2"
    assert watch.state == WatchState.WATCHING, (watch.state, watch.found_ref, watch.found_band)


async def test_a_second_enquiry_from_the_same_la_does_not_find_the_watched_child(
        world: World) -> None:  # noqa: F811
    """LA 355 re-sends its enquiry about Zofia (a new message). The watch of its first
    enquiry is 'found' through the enquirer's own question, proposed as known-not-on-roll."""
    await watched(world, child("1", "Nowak", "Zofia", ZOFIA))
    await send_enquiry(world, child("1", "Nowak", "Zofia", ZOFIA))
    await MonitorWorker(world.b).tick()
    first = [w_ for w_ in await world.b.store.watches.listing()][0]
    assert first.state == WatchState.WATCHING, (first.state, first.found_source,
                                                first.found())


async def test_an_arrival_is_not_lost_when_a_tick_fails(world: World,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """Marks are advanced before the arrivals are matched: one failing tick (a busy
    database, a bug on one pupil) drops every arrival it had read."""
    await watched(world, child("1", "Nowak", "Zofia", ZOFIA))
    worker = MonitorWorker(world.b)
    await worker.tick()
    await receive_ctf(world.b, "Nowak", "Zofia", ZOFIA)
    real = monitoring.match_watches
    calls = {"n": 0}

    async def flaky(gw, arrival, matcher=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        return await real(gw, arrival, matcher)
    monkeypatch.setattr(monitoring, "match_watches", flaky)
    await worker.tick()  # logged; the mark stays before the CTF
    [watch] = await world.b.store.watches.listing()
    assert watch.state == WatchState.WATCHING
    await worker.tick()
    [watch] = await world.b.store.watches.listing()
    assert watch.state == WatchState.FOUND, "the CTF holding the watched child was skipped"


async def test_approving_the_proposal_again_does_not_undo_a_now_known_update(
        world: World) -> None:  # noqa: F811
    """POST /v1/admin/inbox/{id}/answer {"approve": true} sends propose() for EVERY child,
    answered or not. After monitoring reported 'now known', the stale proposal
    (not-known-monitoring) is sent again and the watch restarts."""
    mid = await watched(world, child("1", "Nowak", "Zofia", ZOFIA, new="M1 5QA"))
    worker = MonitorWorker(world.b)
    await worker.tick()
    await import_records(world.b, ZOFIA_REC)
    await worker.tick()
    [watch] = await world.b.store.watches.listing()
    await monitoring.report(world.b, watch.watch_id, "officer")
    # what {"approve": true} and `answer --approve` do: refused, every child is answered
    with pytest.raises(GatewayError) as info:
        await answering.approved(world.b, mid)
    assert info.value.code == "invalid-state"
    last = (await replies(world.b))[-1]
    [watch] = await world.b.store.watches.listing()
    assert (last.outcomes[0].outcome, watch.state) == (m.Outcome.KNOWN_ON_ROLL,
                                                       WatchState.REPORTED)


async def test_approve_waits_until_every_child_is_matched_and_an_enquiry_finding_needs_an_outcome(
        world: World) -> None:  # noqa: F811
    mid = await send_enquiry(world, child("1", "Nowak", "Zofia", ZOFIA))
    with pytest.raises(GatewayError) as info:
        await answering.approved(world.b, mid)  # not matched yet
    assert info.value.code == "invalid-state"
    await MatchWorker(world.b).tick()
    await answering.answer(world.b, mid, await answering.approved(world.b, mid),
                           actor="officer")
    with pytest.raises(GatewayError) as info:
        await answering.approved(world.b, mid)  # every child answered
    assert info.value.code == "invalid-state"
    other = m.new_id()
    enquiry = m.Enquiry(
        header=m.Header(other, other, world.clock.now(), "350", "352", m.MessageType.ENQUIRY),
        enquiry_date=world.clock.today(), officer=m.Officer("Officer C"),
        children=(child("1", "Nowak", "Zofia", ZOFIA),))
    await world.b.store.inbox.accept(InboundRow(
        message_id=other, sender="350", recipient="352", message_type="Enquiry",
        conversation_id=other, in_reply_to=None, created_at=world.clock.time(),
        received_at=world.clock.time(), digest="0" * 64, body=mx.to_bytes(mx.build(enquiry)),
        receipt=b""))
    await MonitorWorker(world.b).tick()
    [watch] = await world.b.store.watches.listing()
    assert watch.found_source == "enquiry"
    with pytest.raises(GatewayError) as info:
        await monitoring.report(world.b, watch.watch_id, "officer")
    assert "outcome" in info.value.detail
    await monitoring.report(world.b, watch.watch_id, "officer", m.Outcome.KNOWN_NOT_ON_ROLL)
    update = (await replies(world.b))[-1]
    assert "350" not in (update.outcomes[0].comments or "")
    assert "enquiry" not in (update.outcomes[0].comments or "")


async def test_a_pending_finding_past_the_end_of_monitoring_is_a_review_due(
        world: World) -> None:  # noqa: F811
    await watched(world, child("1", "Nowak", "Zofia", ZOFIA))
    await receive_ctf(world.b, "Nowak", "Zofia", ZOFIA)
    await MonitorWorker(world.b).tick()
    world.clock.set(dt.datetime(2027, 3, 29, 9, 0, tzinfo=dt.UTC))
    due = await wf.reviews_due(world.b, 14)
    assert [r["kind"] for r in due if r.get("watch_id")] == [
        "decide the found match: monitoring ends"]
    assert due[0]["overdue"]


def test_csv_cells_never_run_as_formulas() -> None:
    rows = reports.csv_safe([{"year_group": "=HYPERLINK(\"x\")", "n": 3, "a": "-2",
                              "b": "Year 7"}])
    assert rows == [{"year_group": "'=HYPERLINK(\"x\")", "n": 3, "a": "'-2", "b": "Year 7"}]


def test_notification_addresses_are_checked_at_start_up(tmp_path: Path) -> None:
    _, b = pair(tmp_path)
    for bad in ("officer", "Officer <o@x.example>", "o@x.example; m@y.example", "a b@x.example"):
        with pytest.raises(GatewayError) as info:
            b.settings(notify_officers=bad)
        assert info.value.code == "config-invalid"
    assert b.settings(notify_officers="o@x.example, m@y.example").notify_officers
