"""The Children Not in School register: entries with their history, eligibility, the setting
that keeps it off, and the RegisterTransfer between two LAs (real signatures, both stores)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store.cases import CaseState
from gateway.web.app import inbound_for
from gateway.workflow import cnis
from tests.conftest import pair

MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
ENTRY = {
    "surname": "Nowak", "forename": "Zofia", "dob": "2016-05-05",
    "address": {"lines": ["9 New Road", "Salford"], "postcode": "M6 5AA"},
    "eligibility": "not-registered-pupil",
    "parents": [{"name": "Anna Nowak", "provides_education": True,
                 "address": {"lines": ["9 New Road"], "postcode": "M6 5AA"}}],
    "hours_by_parents": 18.5, "hours_by_others": 6,
    "providers": [{"name": "Salford Tutors Ltd", "provider_type": "tuition centre",
                   "hours_per_week": 6, "unsupervised_hours_per_week": 0}],
    "sen": False, "child_in_need": False,
}


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway]]:
    a_home, b_home = pair(tmp_path, extra='cnis_register = "on"')
    clock = ManualClock(MONDAY)
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(), clock)
    yield a, b
    await a.close()
    await b.close()


async def test_an_entry_keeps_every_version_with_who_when_and_why(two) -> None:  # type: ignore[no-untyped-def]
    a, _ = two
    entry_id = await cnis.add(a, ENTRY, "officer-1")
    changed = copy.deepcopy(ENTRY)
    changed["hours_by_parents"] = 20
    row = await cnis.update(a, entry_id, changed, "officer-2", "the family's new timetable")
    assert row.version == 2 and row.data()["hours_by_parents"] == 20
    versions = await a.store.register.versions(entry_id)
    assert [(v.version, v.actor, v.action) for v in versions] == [
        (1, "officer-1", "added"), (2, "officer-2", "changed")]
    assert versions[0].entry["hours_by_parents"] == 18.5
    with pytest.raises(GatewayError) as info:
        await cnis.update(a, entry_id, changed, "officer-2", "  ")
    assert info.value.code == "bad-request"
    row = await cnis.set_state(a, entry_id, cnis.E.CLOSED, "officer-1", "on roll at Oak School")
    assert row.state == "closed"
    with pytest.raises(GatewayError) as info:
        await cnis.update(a, entry_id, changed, "officer-2", "again")
    assert info.value.code == "cnis-entry-state"


@pytest.mark.parametrize("field,value,code", [
    ("dob", "2022-01-01", "cnis-not-eligible"),  # not yet of compulsory school age
    ("dob", "2009-01-01", "cnis-not-eligible"),  # past it
    ("dob", "2016-02-30", "bad-request"),
    ("eligibility", "home-educated", "bad-request"),
    ("hours_by_parents", 200, "bad-request"),
    ("hours_by_parents", True, "bad-request"),
    ("surname", "x" * 201, "bad-request"),
    ("upn", "not-a-upn", "schema-invalid"),
    ("parents", [{"name": ""}], "bad-request"),
    ("address", "9 New Road", "bad-request"),
])
async def test_bad_entries_are_refused_with_their_code(two, field, value, code) -> None:  # type: ignore[no-untyped-def]
    a, _ = two
    with pytest.raises(GatewayError) as info:
        await cnis.add(a, {**ENTRY, field: value}, "officer")
    assert info.value.code == code
    assert await a.store.register.listing() == []


async def test_the_register_is_off_unless_set(tmp_path: Path) -> None:
    _, b_home = pair(tmp_path)
    gw = await Gateway.open(b_home.settings(), ManualClock(MONDAY))
    try:
        with pytest.raises(GatewayError) as info:
            await cnis.add(gw, ENTRY, "officer")
        assert info.value.code == "cnis-disabled"
    finally:
        await gw.close()


async def test_a_family_moves_and_the_entry_follows_the_child(two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    entry_id = await cnis.add(a, ENTRY, "officer")
    mid = await cnis.transfer(a, entry_id, "352", "officer", "moved to Manchester")
    row = await a.store.register.get(entry_id)
    assert row is not None and row.state == "transferred" and row.transferred_to == "352"
    assert row.transfer_message_id == mid
    out = await a.store.outbox.get(mid, with_body=True)
    assert out is not None and out.recipient == "352"
    # the message as 352 receives it (signed by 355)
    await inbound_for(b).receive(out.body)
    [draft] = await b.store.register.listing()
    assert draft.state == "draft" and draft.received_message_id == mid
    assert draft.data() == row.data()
    case = await b.store.cases.get(draft.case_id or "")
    assert case is not None and case.state is CaseState.LOGGED and case.surname == "Nowak"
    active = await cnis.set_state(b, draft.entry_id, cnis.E.ACTIVE, "officer-b", "checked")
    assert active.state == "active"
    # a transferred entry cannot move again from the old LA
    with pytest.raises(GatewayError) as info:
        await cnis.transfer(a, entry_id, "352", "officer", "again")
    assert info.value.code == "cnis-entry-state"


async def test_a_register_transfer_to_an_la_without_a_register_is_refused(tmp_path: Path) -> None:
    a_home, b_home = pair(tmp_path, extra='cnis_register = "on"')
    clock = ManualClock(MONDAY)
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(cnis_register="off"), clock)
    try:
        entry_id = await cnis.add(a, ENTRY, "officer")
        mid = await cnis.transfer(a, entry_id, "352", "officer", "moved")
        out = await a.store.outbox.get(mid, with_body=True)
        assert out is not None
        with pytest.raises(GatewayError) as info:
            await inbound_for(b).receive(out.body)
        assert info.value.code == "cnis-disabled"
        assert await b.store.cases.find() == []
        message = mx.parse_stored(out.body)
        assert isinstance(message, m.RegisterTransfer)
        assert message.entry.providers[0].hours_per_week == 6.0
    finally:
        await a.close()
        await b.close()
