"""Second review (rev2b) of the web pages and the operator API. Each test asserts the
expected behaviour; each failed on the code as reviewed (main @ f4f457c).

Run:
    .venv/bin/python -m pytest -q tests/test_review_s3_web.py
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from gateway.exchange.gateway import Gateway
from tests.conftest import pair
from tests.test_web_workflow_pages import MONDAY, Two, found_watch, kid, received, replies
from tests.web_helpers import web_app

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def web(aiohttp_client, tmp_path):
    a, _ = pair(tmp_path)
    return await web_app(aiohttp_client, a, cnis_register="on")


@pytest_asyncio.fixture
async def two(aiohttp_client, tmp_path):
    """This gateway (355) and another (352) that sends it enquiries."""
    a, b = pair(tmp_path)
    w = await web_app(aiohttp_client, a, start=MONDAY)
    t = Two(w.client, w.clock)
    t.other = await Gateway.open(b.settings(), w.clock)
    yield t
    await t.other.close()


# ---- D1 (medium): HTML injection in the message page's timeline -------------------------

async def test_d1_timeline_detail_is_html_escaped(web):
    """A partner's signed Error sentence (exchange/client.py: PartnerRejected(code,
    text[:500]); Error/Text is a free "Long" string) becomes the outbox event's reason
    (Outbox.mark_failed) and message.html gives it to govukTable as {"html": e.detail}:
    raw HTML on /outbox/<id> for officers, managers and admins."""
    sent = await web.send(("Kowalczyk",))
    evil = '<a id="pwn" href="https://evil.example/sign-in">Session expired: sign in</a>'
    await web.gw.store.outbox.mark_failed(sent.message_id, "schema-invalid", evil,
                                          web.clock.time())  # what Sender.failed() does
    await web.sign_in("mina")
    html = await (await web.client.get(f"/outbox/{sent.message_id}")).text()
    assert 'id="pwn"' not in html, "partner-controlled text rendered as HTML"
    assert "&lt;a id=" in html


# ---- D2 (medium): a 500 from the register form's date of birth --------------------------

@pytest.mark.parametrize("path", ["/register/new"])
async def test_d2_huge_dob_day_is_a_field_error_not_a_500(web, path):
    """register.read_form: dt.date(int(y), int(mo), int(d)) catches ValueError only; a
    20-digit day raises OverflowError (the fields are read up to 200 characters)."""
    await web.sign_in("olive")
    csrf = await web.csrf("/register/new")
    resp = await web.client.post(path, data={
        "csrf_token": csrf, "surname": "Nowak", "forename": "Ola", "dob-day": "9" * 20,
        "dob-month": "3", "dob-year": "2015", "address": "1 High Street",
        "eligibility": "not-registered"}, allow_redirects=False)
    assert resp.status == 400, (resp.status, (await resp.text())[:200])


# ---- D3 (medium): the referral form drops the postcode and telephone ---------------------

async def test_d3_referral_keeps_postcode_and_telephone_without_an_address(web):
    """workflow/cases.referral_from_form builds address_while_resident only `if address`:
    a postcode and the family's telephone typed without an address line are silently lost
    (303, case opened, no error)."""
    await web.sign_in("olive")
    csrf = await web.csrf("/cases/new")
    resp = await web.client.post("/cases/new", data={
        "csrf_token": csrf, "surname": "Nowak", "forename": "Ola", "referrer": "Head",
        "category": "7", "postcode": "AB1 2CD", "telephone": "01234 567890"},
        allow_redirects=False)
    if resp.status == 400:
        return  # a field error would be acceptable too
    assert resp.status == 303
    case = await (await web.client.get(resp.headers["Location"])).text()
    assert "01234 567890" in case and "AB1 2CD" in case, "postcode/telephone lost"


# ---- D4 (medium): reply comments silently truncated to 2,001 characters -----------------

async def test_d4_reply_comments_over_the_limit_are_refused_not_cut(two):
    """queue.reply_post reads comments with text(form, "comments", 2000), which returns up
    to 2,001 characters so that the caller can see it is too long, but never checks it: the
    signed Reply goes to the other LA with the officer's text cut at 2,001 characters."""
    mid = await received(two, kid("1", "Kowalczyk"))
    await two.sign_in("olive")
    csrf = await two.csrf(f"/queue/enquiries/{mid}")
    typed = "The family moved to Leeds; " + "x" * 3000 + " contact the school."
    resp = await two.client.post(f"/queue/enquiries/{mid}", data={
        "csrf_token": csrf, "outcome-1": "not-known", "comments": typed},
        allow_redirects=False)
    sent = [r.comments for r in await replies(two)]
    assert resp.status == 400 and not sent, (resp.status, [len(c or "") for c in sent])


async def test_d4b_approve_comments_over_the_limit_are_refused_not_cut(two):
    """The same in queue.approve_post (the updated reply of a found watched child)."""
    wid = await found_watch(two)
    await two.sign_in("olive")
    page = f"/monitoring/{wid}/approve"
    csrf = await two.csrf(page)
    before = len(await replies(two))
    resp = await two.client.post(page, data={"csrf_token": csrf, "comments": "y" * 3000},
                                 allow_redirects=False)
    after = await replies(two)
    cut = [len(o.comments or "") for r in after[before:] for o in r.outcomes]
    assert resp.status == 400 and len(after) == before, (resp.status, cut)
