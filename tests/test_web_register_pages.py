"""The Children Not in School register's pages in process: off by default (the pages say so
and the navigation does not offer them), officers only, CSRF on every form, the s.436C form
with GOV.UK errors (summary and field, values kept) for bad input, an entry's history, search
and pages of the list, activating a draft received by transfer, closing, and a transfer to
another LA that arrives there as a draft. No child's name goes to the log."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.exchange.gateway import Gateway
from gateway.store.cnis import EntryState
from gateway.web.app import inbound_for
from gateway.workflow import cnis
from tests.conftest import pair
from tests.test_cnis import ENTRY
from tests.web_helpers import Web, web_app

MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
ID = re.compile(r"/register/([0-9a-f-]{36})")


class Two(Web):
    other: Gateway  # 352: where a family moves; sends this gateway (355) its entries


@pytest.fixture
async def web(aiohttp_client: Any, tmp_path: Any) -> AsyncIterator[Two]:
    a, b = pair(tmp_path, extra='cnis_register = "on"')
    w = await web_app(aiohttp_client, a, start=MONDAY)
    two = Two(w.client, w.clock)
    two.other = await Gateway.open(b.settings(), w.clock)
    yield two
    await two.other.close()


@pytest.fixture
async def off(aiohttp_client: Any, tmp_path: Any) -> Web:
    a, _ = pair(tmp_path)
    return await web_app(aiohttp_client, a, start=MONDAY)


FORM = {"surname": "Nowak", "forename": "Zofia", "dob-day": "5", "dob-month": "5",
        "dob-year": "2016", "address": "9 New Road\nSalford", "postcode": "M6 5AA",
        "eligibility": "not-registered-pupil", "parent1_name": "Anna Nowak",
        "parent1_address": "9 New Road", "parent1_postcode": "M6 5AA",
        "parent1_provides": "yes", "hours_by_parents": "18.5", "hours_by_others": "6",
        "provider1_name": "Salford Tutors Ltd", "provider1_type": "tuition centre",
        "provider1_hours": "6", "provider1_unsupervised": "0", "sen": "no",
        "child_in_need": "no", "parent_slots": "2", "provider_slots": "2"}


async def post(web: Web, path: str, data: dict[str, Any]) -> Any:
    data = {**data, "csrf_token": await web.csrf("/register")}
    return await web.client.post(path, data=data, allow_redirects=False)


def field_error(html: str, field: str) -> bool:
    """The GOV.UK error summary links to the field, and the field shows its message."""
    shown = field.removesuffix("-day")  # a date's message belongs to its fieldset
    return f'href="#{field}"' in html and f'id="{shown}-error"' in html


async def test_with_the_register_off_the_pages_say_so_and_the_menu_hides_them(off: Web) -> None:
    await off.sign_in("olive")
    for path in ("/register", "/register/new"):
        resp = await off.client.get(path)
        html = await resp.text()
        assert resp.status == 200 and "The register is off at this gateway" in html, path
        assert "not been commenced" in html
    home = await (await off.client.get("/cases")).text()
    assert 'href="/register"' not in home
    resp = await post(off, "/register/new", FORM)
    assert "The register is off" in await resp.text()
    assert await off.gw.store.register.listing() == []


async def test_with_the_register_on_the_menu_offers_it_to_officers_only(web: Two) -> None:
    await web.sign_in("olive")
    assert 'href="/register"' in await (await web.client.get("/cases")).text()
    for user in ("mina", "ada"):
        await web.client.post("/sign-out", data={"csrf_token": await web.csrf("/outbox")})
        await web.sign_in(user)
        assert 'href="/register"' not in await (await web.client.get("/outbox")).text()
        for path in ("/register", "/register/new"):
            resp = await web.client.get(path, allow_redirects=False)
            assert resp.status == 403 and "role-forbidden" in await resp.text()
        resp = await post(web, "/register/new", FORM)
        assert resp.status == 403
    assert await web.gw.store.register.listing() == []


async def test_anonymous_users_are_sent_to_sign_in(web: Two) -> None:
    resp = await web.client.get("/register", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/sign-in?next=")


async def test_forms_without_the_csrf_token_are_refused(web: Two) -> None:
    entry_id = await cnis.add(web.gw, ENTRY, "test")
    await web.sign_in("olive")
    for path, data in (("/register/new", FORM),
                       (f"/register/{entry_id}/edit", {**FORM, "reason": "x"}),
                       (f"/register/{entry_id}/close", {"close_reason": "x"}),
                       (f"/register/{entry_id}/transfer", {"to_la": "352",
                                                          "transfer_reason": "x"})):
        for forged in ({}, {"csrf_token": "forged"}):
            resp = await web.client.post(path, data={**data, **forged},
                                         allow_redirects=False)
            assert resp.status == 403 and "csrf-invalid" in await resp.text(), path
    [row] = await web.gw.store.register.listing()
    assert row.version == 1 and row.state == "active"


async def test_an_officer_adds_an_entry_and_reads_it_back(
        web: Two, caplog: pytest.LogCaptureFixture) -> None:
    await web.sign_in("olive")
    caplog.set_level(logging.DEBUG)
    resp = await post(web, "/register/new", FORM)
    assert resp.status == 303, await resp.text()
    match = ID.search(resp.headers["Location"])
    assert match
    entry_id = match.group(1)
    row = await web.gw.store.register.get(entry_id)
    assert row is not None and row.state == "active"
    data = row.data()
    assert data["address"] == {"lines": ["9 New Road", "Salford"], "postcode": "M6 5AA"}
    assert data["parents"] == [{"name": "Anna Nowak", "provides_education": True,
                                "address": {"lines": ["9 New Road"], "postcode": "M6 5AA"}}]
    assert data["providers"][0]["hours_per_week"] == 6.0
    assert data["hours_by_parents"] == 18.5 and data["sen"] is False
    assert "looked_after" not in data  # "Not known" stays unknown
    html = await (await web.client.get(resp.headers["Location"])).text()
    assert "The child was added to the register" in html and "NOWAK" in html
    assert "Salford Tutors Ltd" in html and "Version" in html
    for record in caplog.records:
        text = record.getMessage()
        assert "Nowak" not in text and "Zofia" not in text and "2016-05-05" not in text
    assert "cnis-read" in [e.action for e in await web.gw.store.audit.entries()]


@pytest.mark.parametrize("change,field", [
    ({"surname": ""}, "surname"),
    ({"forename": "x" * 201}, "forename"),
    ({"dob-day": "31", "dob-month": "2"}, "dob-day"),
    ({"dob-day": "", "dob-month": "", "dob-year": ""}, "dob-day"),
    ({"dob-year": "2000"}, "dob-day"),  # not of compulsory school age: the workflow refuses
    ({"address": ""}, "address"),
    ({"address": "\n".join(f"line {i}" for i in range(9))}, "address"),
    ({"eligibility": "home-educated"}, "eligibility"),
    ({"hours_by_parents": "169"}, "hours_by_parents"),
    ({"hours_by_others": "six"}, "hours_by_others"),
    ({"hours_by_others": "1e2"}, "hours_by_others"),
    ({"provider1_name": "", "provider1_hours": "6"}, "provider1_name"),
    ({"parent1_name": ""}, "parent1_name"),
    ({"surname": "Nowak\x07"}, "surname"),
])
async def test_bad_input_is_shown_the_gov_uk_way_with_the_values_kept(
        web: Two, change: dict[str, str], field: str) -> None:
    await web.sign_in("olive")
    resp = await post(web, "/register/new", {**FORM, **change})
    html = await resp.text()
    assert resp.status in (400, 422), (resp.status, html[:300])
    assert "There is a problem" in html and "Error: " in html
    assert field_error(html, field), field
    assert 'value="Salford Tutors Ltd"' in html or field.startswith("provider1")
    assert await web.gw.store.register.listing() == []


async def test_a_change_needs_a_reason_and_makes_a_new_version(web: Two) -> None:
    entry_id = await cnis.add(web.gw, ENTRY, "test")
    await web.sign_in("olive")
    page = await (await web.client.get(f"/register/{entry_id}/edit")).text()
    assert 'value="Salford Tutors Ltd"' in page and 'value="18.5"' in page
    resp = await post(web, f"/register/{entry_id}/edit", {**FORM, "hours_by_parents": "20"})
    assert resp.status == 400 and field_error(await resp.text(), "reason")
    resp = await post(web, f"/register/{entry_id}/edit",
                      {**FORM, "hours_by_parents": "20", "hours_by_others": "",
                       "reason": "a new timetable"})
    assert resp.status == 303
    versions = await web.gw.store.register.versions(entry_id)
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].reason == "a new timetable" and versions[1].actor == "user:olive"
    html = await (await web.client.get(f"/register/{entry_id}")).text()
    assert "a new timetable" in html and "hours by others, hours by parents" in html
    # what is not given says so (never blank), and hours read as typed (20, not 20.0)
    shown = re.sub(r"\s+", " ", html)
    assert re.search(r"educated by others </dt> <dd [^>]*> Not given", shown), shown[-3000:]
    assert re.search(r"educated by parents </dt> <dd [^>]*> 20 </dd>", shown)


async def test_the_list_searches_filters_and_pages(web: Two) -> None:
    for i in range(30):
        await cnis.add(web.gw, {**ENTRY, "surname": f"Kowal{i:02}"}, "test")
    await cnis.add(web.gw, {**ENTRY, "surname": "Zielinski", "forename": "Olek"}, "test")
    await web.sign_in("olive")
    html = await (await web.client.get("/register")).text()
    assert "31 entries, page 1 of 2" in html and "KOWAL00" in html and "ZIELINSKI" not in html
    html = await (await web.client.get("/register?page=2")).text()
    assert "ZIELINSKI" in html and "KOWAL00" not in html
    html = await (await web.client.get("/register?q=olek+ziel")).text()
    assert "1 entry" in html and "ZIELINSKI" in html
    html = await (await web.client.get("/register?q=100%25")).text()
    assert "No entries match" in html  # % is searched for, not a wildcard
    html = await (await web.client.get("/register?state=closed")).text()
    assert "No entries match" in html
    for bad, field in (("?page=0", "page"), ("?page=x", "page"), ("?state=gone", "state"),
                       ("?q=" + "a" * 101, "q")):
        resp = await web.client.get("/register" + bad)
        assert resp.status == 400 and f'href="#{field}"' in await resp.text(), bad


async def test_a_draft_received_by_transfer_waits_and_is_activated(web: Two) -> None:
    # 352 has the family on its register; they move here (355)
    entry_id = await cnis.add(web.other, ENTRY, "officer-352")
    mid = await cnis.transfer(web.other, entry_id, "355", "officer-352", "moved to 355")
    out = await web.other.store.outbox.get(mid, with_body=True)
    assert out is not None
    await inbound_for(web.gw).receive(out.body)
    [draft] = await web.gw.store.register.listing((EntryState.DRAFT,))
    await web.sign_in("olive")
    html = await (await web.client.get("/register")).text()
    assert "waiting for you to check them" in html and f"/register/{draft.entry_id}" in html
    page = await (await web.client.get(f"/register/{draft.entry_id}")).text()
    assert "Transfer" not in page or "Received from LA 352" in page
    assert f"/cases/{draft.case_id}" in page
    resp = await post(web, f"/register/{draft.entry_id}/activate", {"activate_reason": ""})
    assert resp.status == 400 and field_error(await resp.text(), "activate_reason")
    resp = await post(web, f"/register/{draft.entry_id}/activate",
                      {"activate_reason": "checked with the family"})
    assert resp.status == 303
    row = await web.gw.store.register.get(draft.entry_id)
    assert row is not None and row.state == "active"


async def test_an_officer_transfers_an_entry_and_it_arrives_as_a_draft(web: Two) -> None:
    entry_id = await cnis.add(web.gw, ENTRY, "test")
    await web.sign_in("olive")
    for to, field in (("35", "to_la"), ("355", "to_la"), ("abc", "to_la")):
        resp = await post(web, f"/register/{entry_id}/transfer",
                          {"to_la": to, "transfer_reason": "moved"})
        assert resp.status == 400 and field_error(await resp.text(), field), to
    resp = await post(web, f"/register/{entry_id}/transfer",
                      {"to_la": "352", "transfer_reason": "moved to Manchester"})
    assert resp.status == 303
    row = await web.gw.store.register.get(entry_id)
    assert row is not None and row.state == "transferred" and row.transferred_to == "352"
    out = await web.gw.store.outbox.get(row.transfer_message_id or "", with_body=True)
    assert out is not None
    await inbound_for(web.other).receive(out.body)
    [draft] = await web.other.store.register.listing((EntryState.DRAFT,))
    assert draft.data()["surname"] == "Nowak"
    html = await (await web.client.get(f"/register/{entry_id}")).text()
    assert "Transferred to LA 352" in html and "moved to Manchester" in html
    assert "Send the entry to the new authority" not in html  # no action on a moved entry


async def test_closing_needs_a_reason_and_an_unknown_entry_is_404(web: Two) -> None:
    entry_id = await cnis.add(web.gw, ENTRY, "test")
    await web.sign_in("olive")
    resp = await post(web, f"/register/{entry_id}/close", {"close_reason": "x" * 501})
    assert resp.status == 400 and field_error(await resp.text(), "close_reason")
    resp = await post(web, f"/register/{entry_id}/close",
                      {"close_reason": "on roll at Oak School"})
    assert resp.status == 303
    row = await web.gw.store.register.get(entry_id)
    assert row is not None and row.state == "closed"
    resp = await post(web, f"/register/{entry_id}/activate", {"activate_reason": "again"})
    html = await resp.text()
    assert resp.status == 409 and 'href="#entry-state"' in html and 'id="entry-state"' in html
    resp = await web.client.get("/register/00000000-0000-0000-0000-000000000000")
    assert resp.status == 404


async def test_add_another_parent_or_provider_posts_back_with_one_more_and_saves_nothing(
        web: Two) -> None:
    await web.sign_in("olive")
    resp = await post(web, "/register/new", {**FORM, "action": "add-parent"})
    html = await resp.text()
    assert resp.status == 200 and 'id="parent3_name"' in html and "There is a problem" \
        not in html and 'value="Anna Nowak"' in html
    resp = await post(web, "/register/new", {**FORM, "action": "add-provider",
                                             "provider_slots": "20"})
    html = await resp.text()
    assert resp.status == 400 and field_error(html, "add-provider") is False and \
        'href="#add-provider"' in html and 'id="add-provider"' in html
    assert 'id="provider20_name"' in html and 'id="provider21_name"' not in html
    assert await web.gw.store.register.listing() == []
    resp = await post(web, "/register/new", {**FORM, "parent_slots": "3",
                                             "parent3_name": "Piotr Nowak",
                                             "action": "save"})
    assert resp.status == 303
    [row] = await web.gw.store.register.listing()
    assert [p["name"] for p in row.data()["parents"]] == ["Anna Nowak", "Piotr Nowak"]
