"""Reviewer's reproducers for the `statutory` merge (register pages, deletion grounds).
Copy into tests/ and run: .venv/bin/pytest -q tests/test_review_reg.py
Each test FAILS on a7a8167 where it proves a defect (asserts the correct behaviour)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from gateway.web.pages.register import typed_from
from gateway.workflow import cnis
from tests.test_cnis import ENTRY
from tests.test_web_register_pages import FORM, Two, post, web  # noqa: F401  (fixture)

PHONE_ENTRY = {**ENTRY,
               "address": {"lines": ["9 New Road", "Salford"], "postcode": "M6 5AA",
                           "telephone": "0161 496 0000"},
               "parents": [{"name": "Anna Nowak", "provides_education": True,
                            "address": {"lines": ["9 New Road"], "postcode": "M6 5AA",
                                        "telephone": "07700 900123"}}]}


def as_posted(typed: dict[str, Any]) -> dict[str, str]:
    """What the browser posts back for the edit form as the page filled it in."""
    return {k: str(v) for k, v in typed.items()}


async def test_changing_an_entry_on_the_page_keeps_its_telephone_numbers(web: Two) -> None:
    """An entry added by API/CLI (or received by transfer) holds telephone numbers; changing
    one unrelated field on /register/<id>/edit must not silently delete them."""
    entry_id = await cnis.add(web.gw, PHONE_ENTRY, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None and row.data()["address"]["telephone"] == "0161 496 0000"
    await web.sign_in("olive")
    page = await (await web.client.get(f"/register/{entry_id}/edit")).text()
    assert "0161 496 0000" in page, "the edit form does not even show the telephone"


async def test_saving_the_edit_form_unchanged_but_one_field_loses_no_data(web: Two) -> None:
    entry_id = await cnis.add(web.gw, PHONE_ENTRY, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None
    await web.sign_in("olive")
    data = {**as_posted(typed_from(row.data())), "hours_by_parents": "20",
            "reason": "new timetable"}
    resp = await post(web, f"/register/{entry_id}/edit", data)
    assert resp.status == 303, await resp.text()
    after = await web.gw.store.register.get(entry_id)
    assert after is not None
    assert after.data()["address"].get("telephone") == "0161 496 0000", after.data()["address"]
    assert after.data()["parents"][0]["address"].get("telephone") == "07700 900123"


async def test_two_officers_editing_at_once_do_not_silently_undo_each_other(web: Two) -> None:
    """Officer A and officer B open the edit form on version 1. A saves (version 2). B saves
    the stale form: the gateway should refuse (as transfer does with expect_version), not
    overwrite A's change without a word."""
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None
    stale = as_posted(typed_from(row.data()))  # B's form, rendered from version 1
    await web.sign_in("olive")
    page = await (await web.client.get(f"/register/{entry_id}/edit")).text()
    assert 'name="version"' not in page  # the form carries no version
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**stale, "nhs_number": "9434765919", "reason": "A: NHS number found"})
    assert resp.status == 303
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**stale, "hours_by_parents": "25", "reason": "B: more hours"})
    after = await web.gw.store.register.get(entry_id)
    assert after is not None
    assert resp.status == 409 or after.data().get("nhs_number") == "9434765919", (
        resp.status, after.version, after.data().get("nhs_number"))


@pytest.mark.parametrize("query", ["Łukasz", "łukasz", "Żak", "ŻAK", "Émile"])
async def test_search_finds_a_name_typed_exactly_as_held(web: Two, query: str) -> None:
    """store.cnis.search lowers the query in Python but the column with SQLite's LOWER(),
    which folds ASCII only: a name with a non-ASCII capital is not found by its own
    spelling."""
    await cnis.add(web.gw, {**ENTRY, "forename": "Łukasz", "surname": "Żak"}, "api")
    await cnis.add(web.gw, {**ENTRY, "forename": "Émile", "surname": "Durand"}, "api")
    await web.sign_in("olive")
    html = await (await web.client.get("/register", params={"q": query})).text()
    assert "No entries match" not in html, query


async def test_a_page_past_the_last_is_an_error_not_an_empty_register(web: Two) -> None:
    await cnis.add(web.gw, ENTRY, "api")
    await web.sign_in("olive")
    resp = await web.client.get("/register?page=7")
    html = await resp.text()
    # 1 entry, page 7 of 1: the page says "No entries match." with 200
    assert resp.status == 400 or "No entries match" not in html


async def test_drafts_are_not_listed_twice_on_the_first_page(web: Two) -> None:
    from gateway.web.app import inbound_for
    from gateway.store.cnis import EntryState
    eid = await cnis.add(web.other, ENTRY, "officer-352")
    mid = await cnis.transfer(web.other, eid, "355", "officer-352", "moved")
    out = await web.other.store.outbox.get(mid, with_body=True)
    assert out is not None
    await inbound_for(web.gw).receive(out.body)
    [draft] = await web.gw.store.register.listing((EntryState.DRAFT,))
    await web.sign_in("olive")
    html = await (await web.client.get("/register")).text()
    assert html.count(f'href="/register/{draft.entry_id}"') == 1, \
        html.count(f'href="/register/{draft.entry_id}"')


async def test_hours_that_cannot_be_are_refused(web: Two) -> None:
    """Unsupervised hours above the provider's hours, and parents + others above a week."""
    await web.sign_in("olive")
    resp = await post(web, "/register/new", {**FORM, "provider1_hours": "2",
                                             "provider1_unsupervised": "40",
                                             "hours_by_parents": "168",
                                             "hours_by_others": "168"})
    assert resp.status == 400, resp.status


async def test_a_closed_entry_offers_no_edit_form(web: Two) -> None:
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    await cnis.set_state(web.gw, entry_id, cnis.E.CLOSED, "api", "on roll")
    await web.sign_in("olive")
    resp = await web.client.get(f"/register/{entry_id}/edit")
    html = await resp.text()
    # the form is served for a closed entry; saving it then fails with 409, and the error
    # links to the surname field rather than to the entry's state
    data = {**as_posted(typed_from((await web.gw.store.register.get(entry_id)).data())),
            "reason": "typo"}
    resp2 = await post(web, f"/register/{entry_id}/edit", data)
    html2 = await resp2.text()
    assert resp.status != 200 or 'href="#surname"' not in html2, (resp.status, resp2.status)


async def test_an_edit_cannot_give_a_date_of_birth_in_the_future(web: Two) -> None:
    """Adding refuses a child not of compulsory school age (cnis-not-eligible); changing the
    entry checks nothing but year >= 1990, so a DOB in the future (or a 2-year-old) saves."""
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None
    await web.sign_in("olive")
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**as_posted(typed_from(row.data())), "dob-year": "2030",
                       "reason": "typo in the year"})
    after = await web.gw.store.register.get(entry_id)
    assert after is not None
    assert resp.status == 400 and after.data()["dob"] == "2016-05-05", (
        resp.status, after.data()["dob"])


async def test_an_invalid_nhs_number_is_shown_at_its_field(web: Two) -> None:
    await web.sign_in("olive")
    resp = await post(web, "/register/new", {**FORM, "nhs_number": "1234567890"})
    html = await resp.text()
    assert resp.status == 400
    assert 'href="#nhs_number"' in html, re.findall(r'href="#[^"]+"', html)


async def test_a_received_entry_with_three_decimal_hours_can_be_changed(web: Two) -> None:
    """RegisterTransfer's Hours is xs:decimal (any precision); the form accepts at most two
    decimals, so a draft received with 12.345 cannot be saved without retyping the hours."""
    from gateway.exchange.outgoing import queue
    from gateway.store.cnis import EntryState
    from gateway.web.app import inbound_for
    entry = dataclasses.replace(cnis.entry_from(ENTRY), hours_by_parents=12.345)
    message = cnis._checked(web.other, entry, "355")
    out = await queue(web.other, message)
    row = await web.other.store.outbox.get(out.message_id, with_body=True)
    assert row is not None
    await inbound_for(web.gw).receive(row.body)
    [draft] = await web.gw.store.register.listing((EntryState.DRAFT,))
    await web.sign_in("olive")
    resp = await post(web, f"/register/{draft.entry_id}/edit",
                      {**as_posted(typed_from(draft.data())), "upn": "",
                       "reason": "checked with the family, fixed the surname"})
    assert resp.status == 303, re.findall(r'href="#[^"]+"', await resp.text())


async def test_an_entry_whose_parent_address_is_only_a_postcode_can_be_changed(web: Two) -> None:
    """The API (and a RegisterTransfer) accept an address with a postcode and no lines; the
    form refuses that address, so the entry cannot be changed on the page at all."""
    entry_id = await cnis.add(web.gw, {**ENTRY, "parents": [
        {"name": "Anna Nowak", "address": {"postcode": "M6 5AA"}}]}, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None
    await web.sign_in("olive")
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**as_posted(typed_from(row.data())), "hours_by_parents": "20",
                       "reason": "new timetable"})
    assert resp.status == 303, re.findall(r'href="#[^"]+"', await resp.text())
