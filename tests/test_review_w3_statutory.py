"""The second engineer's review of issue 12's changes (ClaimNotice, the CNIS register and
TravellerMove, the NHS number). Each test states the correct behaviour and failed before its fix."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.core.clock import ManualClock
from gateway.exchange import actions
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival as Got
from gateway.exchange.outgoing import queue
from gateway.hub.handlers import CtfNoticed
from gateway.messages import model as m
from gateway.store.cases import CaseState
from gateway.web.app import inbound_for
from gateway.workflow import cases as wf
from gateway.workflow import cnis
from gateway.workflow.cases import ClaimNoticed
from gateway.workflow.matching import MatchWorker
from gateway.workflow.monitoring import MonitorWorker
from tests.conftest import pair
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401 (a fixture)
from tests.test_cnis import ENTRY
from tests.test_workflow import World, child, import_records, world  # noqa: F401

C = CaseState
MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
GOOD_NHS = "9434765919"


@pytest.fixture(params=["sqlite", "postgres"])
async def two(request: pytest.FixtureRequest, tmp_path: Path
              ) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """355 and 352 with the register on; 352's store on SQLite, then on PostgreSQL."""
    a_home, b_home = pair(tmp_path, extra='cnis_register = "on"')
    clock = ManualClock(MONDAY)
    kw = {}
    if request.param == "postgres":
        kw["database"] = fresh_database(request.getfixturevalue("pg_dsn"))
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(**kw), clock)
    yield a, b
    await a.close()
    await b.close()


# ---- RegisterTransfer ----------------------------------------------------------------------

@pytest.mark.parametrize("how", ["cancelled", "failed", "expired"])
async def test_review12_a_register_transfer_that_never_arrives_does_not_strand_the_entry(
        two, how: str) -> None:  # type: ignore[no-untyped-def]
    """The sender's entry is marked "transferred" when the message is queued. If the message
    is cancelled, refused (e.g. cnis-disabled at the new LA) or expires, nobody holds the
    entry: the old LA must get it back (active, or at least transferable again)."""
    a, _ = two
    entry_id = await cnis.add(a, ENTRY, "officer")
    mid = await cnis.transfer(a, entry_id, "352", "officer", "moved to Manchester")
    now = a.clock.time()
    if how == "cancelled":
        await actions.cancel(a, mid, "officer")
    elif how == "failed":
        assert await a.store.outbox.mark_failed(mid, "cnis-disabled", "register off", now)
    else:
        await a.store.outbox.expire_due(now + a.settings.outbound_expiry_seconds + 1)
    await MonitorWorker(a).tick()  # the workflow worker gives the entry back
    row = await a.store.register.get(entry_id)
    assert row is not None
    assert row.state != "transferred", f"the transfer was {how}, the entry is still transferred"
    # and the officer can send it again (or elsewhere)
    await cnis.transfer(a, entry_id, "352", "officer", "second try")


async def test_review12_a_resent_register_transfer_makes_no_second_draft_or_case(
        two) -> None:  # type: ignore[no-untyped-def]
    """A delivered RegisterTransfer whose receipt was lost is failed at the sender; the
    officer resends it (new message id, same conversation). The new LA must not get a
    second draft entry and a second case for the same child."""
    a, b = two
    entry_id = await cnis.add(a, ENTRY, "officer")
    mid = await cnis.transfer(a, entry_id, "352", "officer", "moved")
    out = await a.store.outbox.get(mid, with_body=True)
    assert out is not None
    await inbound_for(b).receive(out.body)  # delivered; the receipt never came back
    assert await a.store.outbox.mark_failed(mid, "network", "connection reset", a.clock.time())
    again = await actions.resend(a, mid, "officer")
    out2 = await a.store.outbox.get(again.message_id, with_body=True)
    assert out2 is not None
    await inbound_for(b).receive(out2.body)
    assert len(await b.store.register.listing()) == 1
    assert len(await b.store.cases.find()) == 1


# ---- TravellerMove -------------------------------------------------------------------------

def _move(w: World, expected_on: dt.date | None = None) -> m.TravellerMove:
    return m.TravellerMove(
        header=w.a.header(m.MessageType.TRAVELLER_MOVE, "352"),
        notice_date=w.clock.today(), officer=m.Officer("Officer A"), expected_on=expected_on,
        destination=m.Address(("Barton Lane",), "M30 0AA"),
        children=(child("1", "Lee", "Kezia", dt.date(2015, 9, 9)),
                  child("2", "Lee", "Nelson", dt.date(2017, 2, 2))))


async def test_review12_a_resent_traveller_move_watches_each_child_once(world: World) -> None:  # noqa: F811
    move = _move(world)
    row = await queue(world.a, move)
    out = await world.a.store.outbox.get(row.message_id, with_body=True)
    assert out is not None
    await inbound_for(world.b).receive(out.body)
    assert await world.a.store.outbox.mark_failed(row.message_id, "network", "reset",
                                                  world.clock.time())
    again = await actions.resend(world.a, row.message_id, "officer")
    out2 = await world.a.store.outbox.get(again.message_id, with_body=True)
    assert out2 is not None
    await inbound_for(world.b).receive(out2.body)
    assert len(await world.b.store.cases.find()) == 2
    assert len(await world.b.store.watches.active()) == 2


async def test_review12_a_traveller_move_expected_next_summer_is_watched_past_its_arrival(
        world: World) -> None:  # noqa: F811
    """Notice on 7 Dec 2026, family expected 19 Apr 2027 (summer term). The default watch
    ends 25 Mar 2027, before they come: a final "not known; monitoring ended" Reply would go
    out before the family is even due. The handler's own docstring says the watch runs to the
    end of the term after the expected move."""
    expected = dt.date(2027, 4, 19)
    await inbound_for(world.b).receive(world.a.sign(_move(world, expected)))
    watches = await world.b.store.watches.active()
    assert len(watches) == 2
    assert all(w.watched_until >= expected.isoformat() for w in watches), \
        [w.watched_until for w in watches]


async def test_review12_a_traveller_child_already_on_roll_here_is_found(world: World) -> None:  # noqa: F811
    """The family arrived before the notice did: Kezia is already on a school roll in the
    local records. An Enquiry's children are matched against the records on arrival; a
    TravellerMove's never are (MatchWorker takes Enquiry and Referral only, and a watch only
    sees arrivals after it), so she is answered "not known; monitoring ended" a term later."""
    await import_records(world.b, {"record_id": "r7", "surname": "Lee", "forename": "Kezia",
                                   "dob": "2015-09-09", "sex": "F", "postcode": "M30 0AA",
                                   "laestab": "3524005"})
    await MonitorWorker(world.b).tick()  # the import is seen before the move arrives
    await inbound_for(world.b).receive(world.a.sign(_move(world)))
    await MatchWorker(world.b).tick()
    await MonitorWorker(world.b).tick()
    states = {w.child_ref: w.state for w in await world.b.store.watches.listing()}
    assert states["1"] in ("found", "possible"), states


# ---- ClaimNotice ---------------------------------------------------------------------------

def _claim_notice(w: World, tid: str) -> m.ClaimNotice:
    return m.ClaimNotice(
        header=m.Header(m.new_id(), m.new_id(), w.clock.now(), "S2S", "352",
                        m.MessageType.CLAIM_NOTICE), transfer_id=tid, claimed_by="350",
        date_claimed=w.clock.today(), pupil=m.PupilSummary("Nowak", "Zofia",
                                                           dob=dt.date(2016, 5, 5)))


async def _run(w: World, handler, message: m.Message) -> None:  # type: ignore[no-untyped-def]
    handled = await handler.handle(w.b, message, Got("0" * 64, w.clock.now()))
    assert handled.step is not None
    await w.b.store.backend.write(handled.step)


async def test_review12_a_claim_notice_before_its_ctf_notice_leaves_one_located_case(
        world: World) -> None:  # noqa: F811
    """The hub queues the CtfNotice and, later, the ClaimNotice; with retries the ClaimNotice
    can arrive first (or the CtfNotice only after an outage). The case the ClaimNotice opens
    has no transfer id, so the late CtfNotice opens a second, category-7 'whereabouts
    unknown' case for a child already located; a second ClaimNotice (hub resend) opens a
    second located case."""
    tid = m.new_id()
    await _run(world, ClaimNoticed(), _claim_notice(world, tid))
    ctf_notice = m.CtfNotice(
        header=m.Header(m.new_id(), m.new_id(), world.clock.now(), "S2S", "352",
                        m.MessageType.CTF_NOTICE), transfer_id=tid, kind="lost",
        source_school=m.SchoolRef("352", "4001", "Oak School"),
        pupil=m.PupilSummary("Nowak", "Zofia", dob=dt.date(2016, 5, 5)),
        date_received=world.clock.today())
    await _run(world, CtfNoticed(), ctf_notice)
    cases = await world.b.store.cases.find()
    assert [c.state for c in cases] == [C.LOCATED], "a late CtfNotice opened a second case"
    await _run(world, ClaimNoticed(), _claim_notice(world, tid))
    cases = await world.b.store.cases.find()
    assert [c.state for c in cases] == [C.LOCATED], "a resent ClaimNotice: a second case"


# ---- NHS number ----------------------------------------------------------------------------

async def test_review12_an_nhs_number_entered_with_a_referral_is_kept_on_the_case(
        world: World) -> None:  # noqa: F811
    """`cases open --nhs-number` (and a received Referral's NHSNumber) is checked, then
    dropped: referral_case() never copies it, so the consistent identifier is lost."""
    case_id = await wf.open_referral(world.b, {
        "surname": "Nowak", "forename": "Ola", "category": 1, "referrer": "Health visitor",
        "nhs_number": GOOD_NHS}, "cli")
    case = await world.b.store.cases.get(case_id)
    assert case is not None
    assert case.nhs_number == GOOD_NHS, "the NHS number was validated, then discarded"
