"""Reviewer's reproducers for the `statutory` merge (register pages, deletion grounds),
review r10 of issue 12. Each test FAILS on a7a8167 where it proves a defect (asserts the
correct behaviour); each passes on `regfix`."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from gateway.core.errors import GatewayError
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


async def test_changing_an_entry_on_the_page_keeps_its_telephone_numbers(web: Two) -> None:  # noqa: F811
    """An entry added by API/CLI (or received by transfer) holds telephone numbers; changing
    one unrelated field on /register/<id>/edit must not silently delete them."""
    entry_id = await cnis.add(web.gw, PHONE_ENTRY, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None and row.data()["address"]["telephone"] == "0161 496 0000"
    await web.sign_in("olive")
    page = await (await web.client.get(f"/register/{entry_id}/edit")).text()
    assert "0161 496 0000" in page, "the edit form does not even show the telephone"


async def test_saving_the_edit_form_unchanged_but_one_field_loses_no_data(web: Two) -> None:  # noqa: F811
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


async def test_two_officers_editing_at_once_do_not_silently_undo_each_other(web: Two) -> None:  # noqa: F811
    """Officer A and officer B open the edit form on version 1. A saves (version 2). B saves
    the stale form: the gateway should refuse (as transfer does with expect_version), not
    overwrite A's change without a word."""
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None
    # B's form, rendered from version 1. The reproducer asserted the defect here (the form
    # carried no version); fixed, the form carries the version it was filled from, and B's
    # browser posts it back with the rest of the form.
    stale = {**as_posted(typed_from(row.data())), "version": "1"}
    await web.sign_in("olive")
    page = await (await web.client.get(f"/register/{entry_id}/edit")).text()
    assert 'name="version" value="1"' in page  # the form carries the version
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
async def test_search_finds_a_name_typed_exactly_as_held(web: Two, query: str) -> None:  # noqa: F811
    """store.cnis.search lowers the query in Python but the column with SQLite's LOWER(),
    which folds ASCII only: a name with a non-ASCII capital is not found by its own
    spelling."""
    await cnis.add(web.gw, {**ENTRY, "forename": "Łukasz", "surname": "Żak"}, "api")
    await cnis.add(web.gw, {**ENTRY, "forename": "Émile", "surname": "Durand"}, "api")
    await web.sign_in("olive")
    html = await (await web.client.get("/register", params={"q": query})).text()
    assert "No entries match" not in html, query


async def test_a_page_past_the_last_is_an_error_not_an_empty_register(web: Two) -> None:  # noqa: F811
    await cnis.add(web.gw, ENTRY, "api")
    await web.sign_in("olive")
    resp = await web.client.get("/register?page=7")
    html = await resp.text()
    # 1 entry, page 7 of 1: the page says "No entries match." with 200
    assert resp.status == 400 or "No entries match" not in html


async def test_drafts_are_not_listed_twice_on_the_first_page(web: Two) -> None:  # noqa: F811
    from gateway.store.cnis import EntryState
    from gateway.web.app import inbound_for
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


async def test_hours_that_cannot_be_are_refused(web: Two) -> None:  # noqa: F811
    """Unsupervised hours above the provider's hours, and parents + others above a week."""
    await web.sign_in("olive")
    resp = await post(web, "/register/new", {**FORM, "provider1_hours": "2",
                                             "provider1_unsupervised": "40",
                                             "hours_by_parents": "168",
                                             "hours_by_others": "168"})
    assert resp.status == 400, resp.status


async def test_a_closed_entry_offers_no_edit_form(web: Two) -> None:  # noqa: F811
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    await cnis.set_state(web.gw, entry_id, cnis.E.CLOSED, "api", "on roll")
    await web.sign_in("olive")
    resp = await web.client.get(f"/register/{entry_id}/edit")
    html = await resp.text()
    # the form is served for a closed entry; saving it then fails with 409, and the error
    # links to the surname field rather than to the entry's state
    assert resp.status == 409 and "cannot be changed" in html  # (regfix) says why
    data = {**as_posted(typed_from((await web.gw.store.register.get(entry_id)).data())),
            "reason": "typo"}
    resp2 = await post(web, f"/register/{entry_id}/edit", data)
    html2 = await resp2.text()
    assert resp.status != 200 or 'href="#surname"' not in html2, (resp.status, resp2.status)


async def test_an_edit_cannot_give_a_date_of_birth_in_the_future(web: Two) -> None:  # noqa: F811
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


async def test_an_invalid_nhs_number_is_shown_at_its_field(web: Two) -> None:  # noqa: F811
    await web.sign_in("olive")
    resp = await post(web, "/register/new", {**FORM, "nhs_number": "1234567890"})
    html = await resp.text()
    assert resp.status == 400
    assert 'href="#nhs_number"' in html, re.findall(r'href="#[^"]+"', html)


async def test_a_received_entry_with_three_decimal_hours_can_be_changed(web: Two) -> None:  # noqa: F811
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


async def test_an_entry_whose_parent_address_is_only_a_postcode_can_be_changed(web: Two) -> None:  # noqa: F811
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


# ---- the fixes' own tests (regfix): what the reproducers above do not pin down ------------

async def test_a_stale_save_is_a_gov_uk_error_with_a_link_and_nothing_is_lost(web: Two) -> None:  # noqa: F811
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None
    form = {**as_posted(typed_from(row.data())), "version": "1"}
    await cnis.update(web.gw, entry_id, {**ENTRY, "notes": "changed by A"}, "api", "A")
    await web.sign_in("olive")
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**form, "forename": "Zosia", "reason": "B: known as Zosia"})
    html = await resp.text()
    assert resp.status == 409
    assert "changed by someone else since you opened it" in html
    assert 'href="#version-conflict"' in html and 'id="version-conflict"' in html
    assert f'href="/register/{entry_id}/edit"' in html  # open it as it is now
    assert 'value="Zosia"' in html and "B: known as Zosia" in html  # what was typed is kept
    after = await web.gw.store.register.get(entry_id)
    assert after is not None and after.version == 2 and after.data()["notes"] == "changed by A"


async def test_every_telephone_is_shown_and_changed_on_the_form(web: Two) -> None:  # noqa: F811
    entry = {**PHONE_ENTRY, "providers": [{"name": "Salford Tutors Ltd", "address": {
        "lines": ["1 High St"], "telephone": "0161 555 0100"}}]}
    entry_id = await cnis.add(web.gw, entry, "api")
    await web.sign_in("olive")
    page = await (await web.client.get(f"/register/{entry_id}/edit")).text()
    for phone in ("0161 496 0000", "07700 900123", "0161 555 0100"):
        assert f'value="{phone}"' in page, phone
    row = await web.gw.store.register.get(entry_id)
    assert row is not None
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**as_posted(typed_from(row.data())), "parent1_telephone": "07700 900999",
                       "telephone": "", "reason": "new mobile; the landline is gone"})
    assert resp.status == 303, await resp.text()
    after = await web.gw.store.register.get(entry_id)
    assert after is not None
    data = after.data()
    assert "telephone" not in data["address"]
    assert data["parents"][0]["address"]["telephone"] == "07700 900999"
    assert data["providers"][0]["address"] == {"lines": ["1 High St"],
                                               "telephone": "0161 555 0100"}


async def test_what_the_form_does_not_edit_is_carried_over() -> None:
    """A field only the API (or a later version of the entry) sets is kept by a page edit,
    matched to the parent or provider slot it was shown in."""
    from gateway.web.pages.register import _carry
    current = {**ENTRY, "extra": "kept", "address": {"lines": ["9 New Road"], "x": 1},
               "parents": [{"name": "Anna Nowak", "note": "p1"},
                           {"name": "Piotr Nowak", "note": "p2"}]}
    new = {"surname": "Nowak", "address": {"lines": ["10 New Road"]},
           "parents": [{"name": "Piotr Nowak", "_slot": 2}]}  # parent 1 emptied on the form
    out = _carry(current, new)
    assert out["extra"] == "kept" and out["address"] == {"lines": ["10 New Road"], "x": 1}
    assert out["parents"] == [{"name": "Piotr Nowak", "note": "p2"}]


async def test_three_decimal_hours_are_kept_as_received(web: Two) -> None:  # noqa: F811
    entry_id = await cnis.add(web.gw, {**ENTRY, "hours_by_parents": 12.345}, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None and row.data()["hours_by_parents"] == 12.345
    await web.sign_in("olive")
    page = await (await web.client.get(f"/register/{entry_id}/edit")).text()
    assert 'value="12.345"' in page
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**as_posted(typed_from(row.data())), "notes": "x", "reason": "notes"})
    assert resp.status == 303
    after = await web.gw.store.register.get(entry_id)
    assert after is not None and after.data()["hours_by_parents"] == 12.345


async def test_a_changed_date_of_birth_is_checked_as_on_add(web: Two) -> None:  # noqa: F811
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    with pytest.raises(GatewayError) as info:  # a 3-year-old: not of compulsory age
        await cnis.update(web.gw, entry_id, {**ENTRY, "dob": "2023-05-05"}, "api", "typo")
    assert info.value.code == "cnis-not-eligible"
    with pytest.raises(GatewayError) as info:
        await cnis.update(web.gw, entry_id, {**ENTRY, "dob": "2030-05-05"}, "api", "typo")
    assert info.value.code == "bad-request" and "future" in info.value.text


@pytest.mark.parametrize("change,field", [
    ({"provider1_hours": "2", "provider1_unsupervised": "3"}, "provider1_unsupervised"),
    ({"hours_by_parents": "100", "hours_by_others": "70"}, "hours_by_others"),
    ({"surname": "\u200b"}, "surname"),
    ({"forename": "\u200b\u200b"}, "forename"),
    ({"surname": "123"}, "surname"),
    ({"parent1_name": "\ufeff"}, "parent1_name"),
    ({"dob-year": "2030"}, "dob-day"),
])
async def test_impossible_values_are_field_errors(web: Two, change: dict[str, str],  # noqa: F811
                                                 field: str) -> None:
    await web.sign_in("olive")
    resp = await post(web, "/register/new", {**FORM, **change})
    html = await resp.text()
    assert resp.status == 400, resp.status
    assert f'href="#{field}"' in html, re.findall(r'href="#[^"]+"', html)
    assert await web.gw.store.register.listing() == []


async def test_the_api_refuses_a_name_without_a_letter_and_drops_invisible_characters(
        web: Two) -> None:  # noqa: F811
    for bad in ("\u200b", "\u00ad", "--"):
        with pytest.raises(GatewayError) as info:
            await cnis.add(web.gw, {**ENTRY, "surname": bad}, "api")
        assert info.value.code == "bad-request" and "surname" in info.value.text
    entry_id = await cnis.add(web.gw, {**ENTRY, "surname": "No\u200bwak"}, "api")
    row = await web.gw.store.register.get(entry_id)
    assert row is not None and row.data()["surname"] == "Nowak" and row.surname == "Nowak"
    with pytest.raises(GatewayError):
        await cnis.add(web.gw, {**ENTRY, "providers": [{"name": "Tutors",
                                                        "hours_per_week": 2,
                                                        "unsupervised_hours_per_week": 5}]},
                       "api")


async def test_the_first_version_always_says_why(web: Two) -> None:  # noqa: F811
    await web.sign_in("olive")
    resp = await post(web, "/register/new", FORM)
    assert resp.status == 303
    [row] = await web.gw.store.register.listing()
    [v1] = await web.gw.store.register.versions(row.entry_id)
    assert v1.reason == "added on the register page by user:olive"
    html = await (await web.client.get(f"/register/{row.entry_id}")).text()
    assert "added on the register page by user:olive" in html
    api_id = await cnis.add(web.gw, ENTRY, "api")
    [v1] = await web.gw.store.register.versions(api_id)
    assert v1.reason == "added by api"


async def test_search_with_a_control_character_is_a_400_at_the_field(web: Two) -> None:  # noqa: F811
    await web.sign_in("olive")
    resp = await web.client.get("/register", params={"q": "a\x00b"})
    html = await resp.text()
    assert resp.status == 400 and 'href="#q"' in html and "control character" in html


@pytest.mark.parametrize("query", ["Zofia Nowak", "nowak zofia", "NOWAK", "zof", "lukasz zak",
                                   "zak", "emile"])
async def test_search_finds_either_name_in_either_order(web: Two, query: str) -> None:  # noqa: F811
    await cnis.add(web.gw, ENTRY, "api")
    await cnis.add(web.gw, {**ENTRY, "forename": "Łukasz", "surname": "Żak"}, "api")
    await cnis.add(web.gw, {**ENTRY, "forename": "Émile", "surname": "Durand"}, "api")
    await web.sign_in("olive")
    html = await (await web.client.get("/register", params={"q": query})).text()
    assert "1 entry" in html, query


async def test_a_transferred_entry_offers_no_edit_form(web: Two) -> None:  # noqa: F811
    entry_id = await cnis.add(web.gw, ENTRY, "api")
    await cnis.transfer(web.gw, entry_id, "352", "api", "moved")
    await web.sign_in("olive")
    resp = await web.client.get(f"/register/{entry_id}/edit")
    html = await resp.text()
    assert resp.status == 409 and 'href="#entry-state"' in html
    assert "cannot be changed" in html and 'name="surname"' not in html


async def test_the_last_page_is_shown_for_a_page_past_it(web: Two) -> None:  # noqa: F811
    for i in range(26):
        await cnis.add(web.gw, {**ENTRY, "surname": f"Kowal{i:02}"}, "api")
    await web.sign_in("olive")
    resp = await web.client.get("/register?page=9", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].endswith("page=2")


def test_the_20_day_rule_note_is_a_source_the_cli_prints(
        capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from gateway.cli.workflow import cmd_deletion_grounds
    from gateway.messages import grounds
    url = ("https://localgovernmentlawyer.co.uk/education-law/343-education-features/"
           "99510-deleting-a-pupil-from-the-school-admission-register-the-20-day-rule-explained")
    assert url in grounds.SOURCES
    assert cmd_deletion_grounds(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    assert url in out
    assert "added in school-notice schema 1.1" in out  # the two new codes say so


def test_a_ground_this_gateway_does_not_know_is_refused_saying_what_to_do() -> None:
    """A newer school gateway's code at an LA gateway that does not know it: schema-invalid,
    saying the LA upgrades (docs/school-notices.md, Compatibility)."""
    import datetime as dt
    import uuid

    from gateway.messages import model as m
    from gateway.messages import schemas
    from gateway.messages import xml as mx
    h = m.Header(str(uuid.uuid4()), str(uuid.uuid4()),
                 dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC), "3522001", "352",
                 m.MessageType.SCHOOL_NOTICE)
    notice = m.SchoolNotice(
        header=h, kind=m.NoticeKind.DELETION, notice_date=dt.date(2026, 12, 7),
        pupil=m.NoticePupil("Nowak", "Zofia", dt.date(2016, 5, 5)),
        parents=(m.NoticeParent("Anna Nowak", telephone="0161"),),
        deletion=m.Deletion(m.DeletionGround.BOARDING_CHARGES_UNPAID, dt.date(2026, 12, 4)))
    root = mx.build(notice)
    assert schemas.validate(root) is m.MessageType.SCHOOL_NOTICE  # 1.1 knows the new codes
    for el in root.iter(f"{{{m.NS}}}Ground"):
        el.text = "a-code-from-a-later-schema"
    with pytest.raises(GatewayError) as info:
        schemas.validate(root)
    assert info.value.code == "schema-invalid"
    assert "not a code this gateway knows" in info.value.text
    assert "the LA upgrades its gateway" in info.value.text
    assert "a-code-from-a-later-schema" not in info.value.text  # values are never quoted
