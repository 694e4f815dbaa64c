"""The security reviewer's attacks on the web pages, kept as regression tests: each asserts
the secure behaviour and failed on the pages as reviewed."""

from __future__ import annotations

import asyncio

import pytest

from gateway.accounts import LOCK_AFTER, sign_in
from gateway.core.errors import GatewayError
from tests.conftest import pair
from tests.web_helpers import PASSWORD, token, web_app


@pytest.fixture
async def web(aiohttp_client, tmp_path):
    a, _ = pair(tmp_path)
    return await web_app(aiohttp_client, a)


async def _post_sign_in(web, user, password, next_):
    page = await web.client.get("/sign-in")
    return await web.client.post("/sign-in", data={
        "username": user, "password": password, "signin_token": token(await page.text()),
        "next": next_}, allow_redirects=False)


@pytest.mark.parametrize("next_", ["/\t/evil.example/x", "/\n/evil.example/x",
                                   "/\r\n/evil.example", "/\t\\evil.example"])
async def test_sign_in_never_redirects_off_site_via_whitespace_in_next(web, next_):
    """Browsers strip tab/CR/LF from a Location URL: "/\\t/evil" becomes "//evil"."""
    resp = await _post_sign_in(web, "olive", PASSWORD, next_)
    assert resp.status == 303
    loc = resp.headers["Location"]
    cleaned = loc.replace("\t", "").replace("\n", "").replace("\r", "")
    assert not cleaned.startswith(("//", "/\\")), repr(loc)


async def test_reviews_with_a_unicode_digit_is_a_400_not_a_500(web):
    await web.sign_in("mina")
    resp = await web.client.get("/reviews?within=%C2%B2")  # "²": isdigit() but not int()
    assert resp.status == 400


async def test_outbox_date_filter_at_the_end_of_time_is_a_400_not_a_500(web):
    await web.sign_in("mina")
    resp = await web.client.get("/outbox?to-day=31&to-month=12&to-year=9999")
    assert resp.status in (200, 400)


async def test_a_malformed_multipart_post_is_not_a_500(web):
    resp = await web.client.post("/sign-in", data=b"x",
                                 headers={"Content-Type": "multipart/form-data"},
                                 allow_redirects=False)
    assert resp.status < 500


async def test_concurrent_guesses_cannot_outrun_the_lock(web):
    """A burst of guesses: once LOCK_AFTER have failed, the rest (even the right one) fail."""
    gw = web.gw
    guesses = [f"wrong password {i}" for i in range(LOCK_AFTER + 3)] + [PASSWORD]
    results = await asyncio.gather(*(sign_in(gw.store, gw.clock, "olive", g) for g in guesses),
                                   return_exceptions=True)
    assert isinstance(results[-1], GatewayError), "the right password got a session"
    wrong = [e for e in await gw.store.audit.entries("sign-in-failed")
             if "wrong password" in (e.detail or "")]
    assert len(wrong) <= LOCK_AFTER, f"{len(wrong)} guesses checked"


async def test_a_locked_account_cannot_be_told_from_an_unknown_user(web):
    for user in ("olive", "nobody"):
        for _ in range(LOCK_AFTER):
            await _post_sign_in(web, user, "wrong password!", "")
    known = await _post_sign_in(web, "olive", "wrong password!", "")
    unknown = await _post_sign_in(web, "nobody", "wrong password!", "")
    assert known.status == unknown.status
