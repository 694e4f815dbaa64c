"""The web pages in process: sign-in, roles on every route, CSRF, lockout, time-outs, cookie
flags, and what each role sees of the outbox (no child's name for managers)."""

from __future__ import annotations

import pytest

from gateway.accounts import LOCK_AFTER, reset_user
from gateway.store import OutboxState
from tests.conftest import pair
from tests.web_helpers import PASSWORD, web_app

NAME = "Kowalczyk"


@pytest.fixture
async def web(aiohttp_client, tmp_path):
    a, _ = pair(tmp_path)
    return await web_app(aiohttp_client, a)


async def test_home_sends_anonymous_users_to_sign_in_and_signed_in_ones_to_their_page(web):
    resp = await web.client.get("/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/sign-in"
    await web.sign_in("olive")
    resp = await web.client.get("/", allow_redirects=False)
    assert resp.headers["Location"] == "/outbox"


async def test_sign_in_sets_a_strict_httponly_session_cookie_and_audits(web):
    resp = await web.sign_in("olive")
    cookie = resp.cookies["cme_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    entries = await web.gw.store.audit.entries("sign-in")
    assert entries[0].actor == "user:olive"
    # The session id is stored only as its hash.
    async def ids(tx):
        return [r["id_hash"] for r in await tx.fetchall("SELECT id_hash FROM web_sessions")]
    stored = await web.gw.store.backend.read(ids)
    assert cookie.value not in stored and len(stored) == 1


async def test_the_cookie_is_secure_by_default(aiohttp_client, tmp_path):
    a, _ = pair(tmp_path)
    web = await web_app(aiohttp_client, a, cookie_secure=True)
    page = await web.client.get("/sign-in")
    pre = page.headers["Set-Cookie"]
    assert "Secure" in pre and "HttpOnly" in pre and "SameSite=Strict" in pre
    from tests.web_helpers import token
    # The test client talks plain http, so it keeps no Secure cookie: send it back by hand,
    # and read the answer's header.
    resp = await web.client.post("/sign-in", data={
        "username": "olive", "password": PASSWORD, "signin_token": token(await page.text())},
        cookies={"cme_signin": page.cookies["cme_signin"].value}, allow_redirects=False)
    assert resp.status == 303
    set_cookie = [v for v in resp.headers.getall("Set-Cookie") if "cme_session" in v]
    assert set_cookie and set_cookie[0].startswith("__Host-cme_session=")
    assert "Secure" in set_cookie[0] and "HttpOnly" in set_cookie[0]


async def test_a_wrong_password_is_refused_and_five_lock_the_account(web):
    for _ in range(LOCK_AFTER - 1):
        resp = await web.sign_in("olive", "wrong password!", expect=401)
        assert "not right" in await resp.text()
    resp = await web.sign_in("olive", "wrong password!", expect=401)
    assert "locked" in await resp.text()  # the sentence says it may be (for every failure)
    # Even the right password is refused now, until an administrator resets the account;
    # the answer is the same as for an unknown user (no user names told)
    await web.sign_in("olive", PASSWORD, expect=401)
    actions = [e.action for e in await web.gw.store.audit.entries()]
    assert actions.count("sign-in-failed") == LOCK_AFTER + 1
    assert "account-locked" in actions
    await reset_user(web.gw.store, "olive", "a brand new password")
    await web.sign_in("olive", "a brand new password")


async def test_an_unknown_user_is_refused_like_a_wrong_password(web):
    resp = await web.sign_in("nobody", PASSWORD, expect=401)
    assert "not right" in await resp.text()


async def test_sign_in_without_its_form_token_is_refused(web):
    resp = await web.client.post("/sign-in", data={"username": "olive", "password": PASSWORD},
                                 allow_redirects=False)
    assert resp.status == 403
    assert "csrf-invalid" in await resp.text()


async def test_sign_in_follows_only_a_local_next(web):
    page = await web.client.get("/sign-in?next=//evil.example/x")
    from tests.web_helpers import token
    resp = await web.client.post("/sign-in", data={
        "username": "olive", "password": PASSWORD, "signin_token": token(await page.text()),
        "next": "//evil.example/x"}, allow_redirects=False)
    assert resp.headers["Location"] == "/outbox"


PAGES = ["/outbox", "/diagnostics", "/users"]
ALLOWED = {"olive": {"/outbox"}, "mina": {"/outbox", "/diagnostics"},
           "ada": {"/outbox", "/diagnostics", "/users"}}


@pytest.mark.parametrize("user", ["olive", "mina", "ada"])
async def test_each_role_sees_only_its_pages(web, user):
    await web.sign_in(user)
    for path in PAGES:
        resp = await web.client.get(path, allow_redirects=False)
        assert resp.status == (200 if path in ALLOWED[user] else 403), (user, path)
        if resp.status == 403:
            assert "role-forbidden" in await resp.text()


def test_every_page_route_says_who_may_use_it():
    """The frame refuses a page with no @allow; this finds one before anyone meets it."""
    from gateway.core.config import Settings
    from gateway.web.app import create_app
    app = create_app(Settings(party="355"), background=False)
    pages = [r for r in app.router.routes() if r.method != "HEAD" and r.resource is not None
             and not r.resource.canonical.startswith(("/v1/", "/healthz", "/metrics",
                                                      "/static"))]
    assert len(pages) >= 12
    unmarked = [f"{r.method} {r.resource.canonical}" for r in pages
                if not hasattr(r.handler, "_cme_roles")]
    assert not unmarked


async def test_anonymous_users_are_sent_to_sign_in_from_every_page(web):
    row = await web.send()
    for path in [*PAGES, f"/outbox/{row.message_id}", f"/outbox/{row.message_id}/signed.xml",
                 f"/outbox/{row.message_id}/cancel"]:
        resp = await web.client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/sign-in?next="), path
    resp = await web.client.post(f"/outbox/{row.message_id}/cancel", allow_redirects=False)
    assert resp.status == 303
    assert (await web.gw.store.outbox.get(row.message_id)).state is OutboxState.QUEUED


async def test_officers_see_names_and_managers_only_counts(web):
    row = await web.send((NAME, "Nowak"))
    await web.sign_in("olive")
    html = await (await web.client.get("/outbox")).text()
    assert NAME.upper() in html and row.message_id[:8] in html
    html = await (await web.client.get(f"/outbox/{row.message_id}")).text()
    assert NAME.upper() in html  # the children table: "Amelia KOWALCZYK"
    assert [e.action for e in await web.gw.store.audit.entries()][:2] == [
        "read-outbound", "read-outbox"]
    await web.client.post("/sign-out", data={"csrf_token": await web.csrf()})
    await web.sign_in("mina")
    for path in ("/outbox", f"/outbox/{row.message_id}", "/v1/admin/outbox",
                 f"/v1/admin/outbox/{row.message_id}"):
        resp = await web.client.get(path)
        body = await resp.text()
        assert resp.status == 200, path
        assert NAME.lower() not in body.lower() and "nowak" not in body.lower(), path
    assert ">2<" in (await (await web.client.get("/outbox")).text()).replace(" ", "")


async def test_officers_search_by_a_childs_name_and_the_search_is_audited(web):
    await web.send(("Smith",))
    wanted = await web.send((NAME,))
    await web.sign_in("olive")
    html = await (await web.client.get("/outbox", params={"q": "kowal"})).text()
    assert wanted.message_id[:8] in html and "Smith" not in html
    entry = (await web.gw.store.audit.entries("search-child-name"))[0]
    assert entry.actor == "user:olive" and "kowal" not in (entry.detail or "").lower()


async def test_managers_cannot_search_by_name_but_can_by_id(web):
    row = await web.send((NAME,))
    other = await web.send(("Smith",))
    await web.sign_in("mina")
    resp = await web.client.get("/outbox", params={"q": NAME})
    assert resp.status == 400 and "only officers" in await resp.text()
    html = await (await web.client.get("/outbox", params={"q": row.message_id})).text()
    assert row.message_id[:8] in html and other.message_id[:8] not in html


async def test_filters_by_state_partner_type_and_date(web):
    old = await web.send()
    web.clock.advance(3 * 86400)
    new = await web.send()
    await web.sign_in("mina")

    async def shown(**params):
        html = await (await web.client.get("/outbox", params=params)).text()
        return {r.message_id for r in (old, new) if r.message_id[:8] in html}

    assert await shown() == {old.message_id, new.message_id}
    assert await shown(**{"from-day": "4", "from-month": "11", "from-year": "2026"}) == {
        new.message_id}
    assert await shown(**{"to-day": "3", "to-month": "11", "to-year": "2026"}) == {
        old.message_id}
    assert await shown(state="failed") == set()
    assert await shown(partner="352", type="Enquiry") == {old.message_id, new.message_id}
    assert await shown(type="Referral") == set()
    resp = await web.client.get("/outbox", params={"from-day": "31", "from-month": "2",
                                                   "from-year": "2026"})
    assert resp.status == 400 and "real date" in await resp.text()
    assert (await web.client.get("/outbox", params={"state": "lost"})).status == 400
    assert (await web.client.get("/outbox", params={"q": "x" * 101})).status == 400


async def test_pages_of_fifty_with_a_link_to_older_messages(web):
    rows = []
    for _ in range(52):
        rows.append(await web.send())
        web.clock.advance(1)
    await web.sign_in("mina")
    first = await (await web.client.get("/outbox")).text()
    assert rows[-1].message_id[:8] in first and rows[0].message_id[:8] not in first
    link = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = await (await web.client.get(link.replace("&amp;", "&"))).text()
    assert rows[0].message_id[:8] in second and rows[1].message_id[:8] in second
    assert rows[-1].message_id[:8] not in second


async def test_a_delivered_enquiry_unanswered_after_ten_school_days_is_overdue(web):
    row = await web.send()
    await web.gw.store.outbox.claim_due(web.clock.time(), "t", 60, 10)
    await web.gw.store.outbox.mark_delivered(row.message_id, b"<receipt/>", web.clock.time())
    await web.sign_in("mina")
    html = await (await web.client.get("/outbox")).text()
    assert "16 Nov 2026" in html  # 10 school days after Monday 2 November
    assert "Overdue" not in html.split("<table")[1]
    web.clock.advance(15 * 86400)  # Tuesday 17 November
    await web.sign_in("mina")  # the session timed out meanwhile
    html = await (await web.client.get("/outbox", params={"state": "overdue"})).text()
    assert row.message_id[:8] in html and "Overdue" in html.split("<table")[1]
    html = await (await web.client.get("/outbox", params={"state": "delivered"})).text()
    assert row.message_id[:8] not in html


async def test_idle_and_absolute_time_outs_end_the_session(web):
    await web.sign_in("olive")
    web.clock.advance(web.gw.settings.session_idle_seconds - 61)
    assert (await web.client.get("/outbox", allow_redirects=False)).status == 200
    web.clock.advance(web.gw.settings.session_idle_seconds + 1)
    resp = await web.client.get("/outbox", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/sign-in")
    # Busy all day: still ends at the absolute time-out.
    await web.sign_in("olive")
    step = web.gw.settings.session_idle_seconds // 2
    for _ in range(web.gw.settings.session_absolute_seconds // step - 1):
        web.clock.advance(step)
        assert (await web.client.get("/outbox", allow_redirects=False)).status == 200
    web.clock.advance(step + 1)
    assert (await web.client.get("/outbox", allow_redirects=False)).status == 303


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(web):
    await web.sign_in("olive")
    resp = await web.client.post("/sign-out", data={"csrf_token": "forged"},
                                 allow_redirects=False)
    assert resp.status == 403
    assert (await web.client.get("/outbox", allow_redirects=False)).status == 200
    resp = await web.client.post("/sign-out", data={"csrf_token": await web.csrf()},
                                 allow_redirects=False)
    assert resp.status == 303
    assert (await web.client.get("/outbox", allow_redirects=False)).status == 303


async def test_cancel_a_queued_message_after_confirming(web):
    row = await web.send()
    await web.sign_in("olive")
    page = await web.client.get(f"/outbox/{row.message_id}/cancel")
    assert page.status == 200 and "Cancel this message?" in await page.text()
    resp = await web.client.post(f"/outbox/{row.message_id}/cancel",
                                 data={"csrf_token": "nope"}, allow_redirects=False)
    assert resp.status == 403
    resp = await web.client.post(f"/outbox/{row.message_id}/cancel",
                                 data={"csrf_token": await web.csrf()}, allow_redirects=False)
    assert resp.status == 303
    assert (await web.gw.store.outbox.get(row.message_id)).state is OutboxState.CANCELLED
    assert (await web.gw.store.audit.entries("cancel"))[0].actor == "user:olive"
    # Cancelled is final: no second cancel, no resend of it.
    assert (await web.client.get(f"/outbox/{row.message_id}/cancel")).status == 409


async def test_a_message_being_delivered_cannot_be_cancelled(web):
    row = await web.send()
    await web.gw.store.outbox.claim_due(web.clock.time(), "t", 60, 10)  # leased now
    await web.sign_in("olive")
    resp = await web.client.post(f"/outbox/{row.message_id}/cancel",
                                 data={"csrf_token": await web.csrf()}, allow_redirects=False)
    assert resp.status == 409 and "try again in a minute" in await resp.text()


async def test_resend_a_failed_message_under_a_new_linked_id(web):
    row = await web.send((NAME,))
    await web.gw.store.outbox.mark_failed(row.message_id, "schema-invalid", "bad",
                                          web.clock.time())
    await web.sign_in("mina")
    assert (await web.client.get(f"/outbox/{row.message_id}/resend")).status == 403
    await web.client.post("/sign-out", data={"csrf_token": await web.csrf()})
    await web.sign_in("olive")
    html = await (await web.client.get(f"/outbox/{row.message_id}")).text()
    assert "schema-invalid" in html and "does not match its XML schema" in html
    resp = await web.client.post(f"/outbox/{row.message_id}/resend",
                                 data={"csrf_token": await web.csrf()}, allow_redirects=False)
    assert resp.status == 303
    new_id = resp.headers["Location"].rsplit("/", 1)[1]
    assert new_id != row.message_id
    new = await web.gw.store.outbox.get(new_id, with_body=True)
    assert new.state is OutboxState.QUEUED and new.conversation_id == row.conversation_id
    assert NAME.encode() in new.body
    assert await web.gw.store.outbox.resends(new_id) == (row.message_id, [])
    html = await (await web.client.get(f"/outbox/{row.message_id}")).text()
    assert new_id in html
    # Only failed or expired messages are resent.
    resp = await web.client.post(f"/outbox/{new_id}/resend",
                                 data={"csrf_token": await web.csrf()}, allow_redirects=False)
    assert resp.status == 409


async def test_signed_xml_download_is_for_officers_and_audited(web):
    row = await web.send()
    await web.sign_in("olive")
    resp = await web.client.get(f"/outbox/{row.message_id}/signed.xml")
    assert resp.status == 200 and await resp.read() == (
        await web.gw.store.outbox.get(row.message_id, with_body=True)).body
    assert (await web.gw.store.audit.entries("download-outbound"))[0].message_id == \
        row.message_id
    await web.client.post("/sign-out", data={"csrf_token": await web.csrf()})
    await web.sign_in("mina")
    assert (await web.client.get(f"/outbox/{row.message_id}/signed.xml")).status == 403


async def test_an_unknown_message_is_a_404_page(web):
    await web.sign_in("olive")
    resp = await web.client.get("/outbox/00000000-0000-4000-8000-000000000000")
    assert resp.status == 404 and "not-found" in await resp.text()


async def test_pages_carry_security_headers(web):
    resp = await web.client.get("/sign-in")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    html = await resp.text()
    assert "GOV.UK" not in html and "govuk-header__logotype" not in html
    assert "Local authority 355" in html


async def test_a_disabled_user_loses_their_session(web):
    from gateway.accounts import disable_user
    await web.sign_in("olive")
    await disable_user(web.gw.store, "olive")
    assert (await web.client.get("/outbox", allow_redirects=False)).status == 303
    await web.sign_in("olive", expect=401)


async def test_admin_adds_and_disables_users_on_the_users_page(web):
    await web.sign_in("ada")
    token = await web.csrf("/users")
    resp = await web.client.post("/users", data={"csrf_token": token, "action": "add",
                                                 "username": "new.officer", "role": "officer"})
    html = await resp.text()
    assert resp.status == 200 and "Password for new.officer" in html
    password = html.split("Password for new.officer: <code class=\"app-code\">")[1].split("<")[0]
    resp = await web.client.post("/users", data={"csrf_token": token, "action": "add",
                                                 "username": "new.officer", "role": "officer"})
    assert resp.status == 409
    resp = await web.client.post("/users", data={"csrf_token": token, "action": "disable",
                                                 "username": "new.officer"},
                                 allow_redirects=False)
    assert resp.status == 303
    assert (await web.gw.store.users.get("new.officer")).status == "disabled"
    assert len(password) >= 12
    actions = [e.action for e in await web.gw.store.audit.entries()]
    assert "user-add" in actions and "user-disable" in actions


# ---- the operator API with a session ------------------------------------------------------

async def test_a_session_works_on_the_operator_api_with_role_checks(web):
    row = await web.send()
    await web.sign_in("mina")
    assert (await web.client.get("/v1/admin/outbox")).status == 200
    assert (await web.client.get("/v1/admin/diagnostics")).status == 200
    resp = await web.client.get("/v1/admin/inbox")
    assert resp.status == 403 and (await resp.json())["code"] == "role-forbidden"
    resp = await web.client.post("/v1/admin/messages?to=352", data=b"<x/>")
    assert resp.status == 403 and (await resp.json())["code"] == "role-forbidden"
    await web.client.post("/sign-out", data={"csrf_token": await web.csrf()})
    await web.sign_in("olive")
    assert (await web.client.get(f"/v1/admin/outbox/{row.message_id}")).status == 200
    resp = await web.client.post("/v1/admin/lpd/search", json={})
    assert resp.status == 403 and (await resp.json())["code"] == "csrf-invalid"


async def test_the_operator_token_still_works_without_a_session(aiohttp_client, tmp_path):
    a, _ = pair(tmp_path)
    web = await web_app(aiohttp_client, a, api_token="tok")
    resp = await web.client.get("/v1/admin/outbox", headers={"Authorization": "Bearer tok"})
    assert resp.status == 200
    resp = await web.client.get("/v1/admin/outbox", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401


async def test_static_assets_are_served_without_signing_in(web):
    html = await (await web.client.get("/sign-in")).text()
    css = html.split('href="', 2)[1].split('"')[0] if False else None
    assert css is None
    resp = await web.client.get("/static/govuk-frontend/govuk-frontend.min.css")
    assert resp.status == 200
    resp = await web.client.get("/static/app.css")
    assert resp.status == 200 and "arial" in await resp.text()


# ---- diagnostics ------------------------------------------------------------------------

def test_certificate_expiry_is_green_amber_under_sixty_days_and_red_when_expired():
    import datetime as dt

    from gateway.web.pages.diagnostics import expiry_status
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert expiry_status(now + dt.timedelta(days=61), now) == "green"
    assert expiry_status(now + dt.timedelta(days=59), now) == "amber"
    assert expiry_status(now - dt.timedelta(seconds=1), now) == "red"


async def test_diagnostics_shows_each_partner_with_its_certificate_and_failures(web):
    import datetime as dt

    from gateway.crypto import keys as k
    from tests.web_helpers import START
    key = k.generate_key("ec")
    old = k.make_certificate("353", key, days=30, not_before=START - dt.timedelta(days=40))
    soon = k.make_certificate("353", key, days=50, not_before=START - dt.timedelta(days=1))
    folder = web.gw.settings.path(web.gw.settings.partners_dir)
    (folder / "353.pem").write_bytes(k.cert_pem(old) + k.cert_pem(soon))
    row = await web.send()
    await web.gw.store.outbox.claim_due(web.clock.time(), "t", 60, 10)
    await web.gw.store.outbox.mark_failed(row.message_id, "schema-invalid", "bad schema",
                                          web.clock.time())
    await web.sign_in("mina")
    html = await (await web.client.get("/diagnostics")).text()
    part = html.split("<h2 class=\"govuk-heading-m\">Partners")[1]
    assert "353" in part and "Expired" in part and "govuk-tag--orange" in part
    assert "schema-invalid" in part and "bad schema" in part
    data = await (await web.client.get("/v1/admin/diagnostics")).json()
    by_party = {p["party"]: p for p in data["partners"]}
    assert by_party["352"]["last_error_code"] == "schema-invalid"
    assert [e["code"] for e in by_party["352"]["recent_errors"]] == ["schema-invalid"]
    assert by_party["352"]["breaker"] == "not running"  # no sender in this app
    assert sorted(c["status"] for c in by_party["353"]["certificates"]) == ["amber", "red"]
