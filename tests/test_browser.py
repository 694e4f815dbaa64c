"""The web pages in a real browser (Debian's Chromium driven by Playwright) against real
gateway processes on loopback: sign in, watch an enquiry from 355 become delivered and then
answered when 352 replies, resend an expired message once its partner is back, a manager
cannot send, and an axe-core check of every page (no serious or critical violations).

Screenshots of the main pages go to test-artifacts/screenshots/ (copies for the README are in
docs/screenshots/). Playwright's own browser download is not used: CI installs Debian's
``chromium`` package (.ci/run), and these tests fail, not skip, when it is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.messages.schemas import EXAMPLES_DIR
from tests.conftest import ROOT, Home, Proc, pair
from tests.test_e2e import api

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "browser test password"
# Fast retries, and a message with no receipt expires within seconds (the resend test).
EXTRA = """cookie_secure = false
retry_base_seconds = 0.2
retry_max_seconds = 0.5
sender_poll_seconds = 0.1
breaker_cooldown_seconds = 0.5
outbound_expiry_seconds = 3
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get "
                    "install chromium; .ci/run does it as root). The browser tests do not "
                    "skip.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def add_user(home: Home, name: str, role: str) -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", "--config", str(home.config),
                          "users", "add", name, "--role", role, "--password-stdin"],
                         input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0, out.stderr


def homes(base: Path) -> tuple[Home, Home]:
    a, b = pair(base, extra=EXTRA)
    for home, town in ((a, "Salford"), (b, "Manchester")):
        text = home.config.read_text().replace(
            "cookie_secure = false", f'cookie_secure = false\nauthority_name = "{town} City '
            'Council"')
        home.config.write_text(text)
    add_user(a, "olive", "officer")
    add_user(a, "mina", "manager")
    add_user(a, "ada", "admin")
    return a, b


def sign_in(page: Any, home: Home, user: str) -> None:
    page.goto(home.url + "/sign-in")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/outbox" if user != "ada" else "**/diagnostics")


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")


def state_of(page: Any, url: str, mid: str) -> str:
    page.goto(url)
    row = page.locator("tr", has=page.locator(f"a[href='/outbox/{mid}']"))
    return str(row.locator(".govuk-tag").inner_text()).strip().lower()


def wait_state(page: Any, url: str, mid: str, wanted: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = state_of(page, url, mid)
        if seen == wanted:
            return
        time.sleep(0.3)
    raise AssertionError(f"message {mid} is {seen!r}, never {wanted!r}")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def accessible(page: Any, what: str) -> None:
    """axe-core on the page as it is: no serious or critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [f"{v['id']} ({v['impact']}): {v['help']} at "
           f"{[n['target'] for n in v['nodes']][:3]}"
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{what}: " + "; ".join(bad)


def send_sample(home: Home) -> str:
    sample = (EXAMPLES_DIR / "enquiry.xml").read_bytes()
    return str(api(home, "/v1/admin/messages?to=352", sample)["message_id"])


def test_an_enquiry_becomes_delivered_then_answered_on_the_outbox_page(
        tmp_path: Path, procs: Callable[..., Proc], browser: Any) -> None:
    a, b = homes(tmp_path)
    procs(a)
    procs(b)
    page = browser.new_page()
    page.goto(a.url + "/")
    assert page.url.endswith("/sign-in")
    accessible(page, "sign-in")
    shot(page, "sign-in")
    sign_in(page, a, "olive")
    assert page.locator(".govuk-generic-header").inner_text().strip() == "Salford City Council"
    mid = send_sample(a)
    wait_state(page, a.url + "/outbox", mid, "delivered")
    # The officer sees the children's names; the sample's first child is Amelia Kowalski.
    assert "KOWALSKI" in page.locator("main").inner_text()
    # 352 answers "not known but monitoring".
    inbox = api(b, "/v1/admin/inbox?type=Enquiry")["items"]
    enquiry = api(b, f"/v1/admin/inbox/{inbox[0]['message_id']}")["message"]
    outcomes = [{"child_ref": c["child_ref"], "outcome": "not-known-monitoring"}
                for c in enquiry["children"]]
    api(b, f"/v1/admin/inbox/{inbox[0]['message_id']}/reply",
        json.dumps({"outcomes": outcomes}).encode(), "application/json")
    wait_state(page, a.url + "/outbox", mid, "answered")
    accessible(page, "outbox")
    shot(page, "outbox")
    page.get_by_role("link", name=f"Message {mid[:8]}").click()
    page.wait_for_url(f"**/outbox/{mid}")
    main = page.locator("main").inner_text()
    assert "not-known-monitoring" in main and "Reply received" in main
    assert "signed receipt verified" in main
    assert "sending → delivered" in main and "delivered → answered" in main
    accessible(page, "message")
    shot(page, "message")
    # Filters and a search by name, without JavaScript's help: a plain GET form.
    page.goto(a.url + "/outbox")
    page.get_by_label("Search").fill("kowalski")
    page.get_by_role("button", name="Show messages").click()
    assert page.locator(f"a[href='/outbox/{mid}']").count() == 1
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Show messages").click()
    assert page.locator(f"a[href='/outbox/{mid}']").count() == 0
    sign_out(page)
    # The manager: diagnostics, and the outbox without names.
    sign_in(page, a, "mina")
    assert "KOWALSKI" not in page.locator("main").inner_text().upper()
    page.goto(a.url + "/diagnostics")
    assert "352" in page.locator("main").inner_text()
    accessible(page, "diagnostics")
    shot(page, "diagnostics")
    sign_out(page)
    sign_in(page, a, "ada")
    page.goto(a.url + "/users")
    accessible(page, "users")
    shot(page, "users")
    page.goto(a.url + "/outbox/00000000-0000-4000-8000-000000000000")
    accessible(page, "not found")
    page.close()


def test_a_manager_cannot_send_or_act(tmp_path: Path, procs: Callable[..., Proc],
                                      browser: Any) -> None:
    a, b = homes(tmp_path)
    procs(a)
    mid = send_sample(a)  # 352 is not running: it stays queued or sending
    page = browser.new_page()
    sign_in(page, a, "mina")
    page.goto(f"{a.url}/outbox/{mid}")
    assert page.get_by_role("link", name="Cancel message").count() == 0
    assert page.get_by_role("link", name="Download the signed XML").count() == 0
    resp = page.goto(f"{a.url}/outbox/{mid}/cancel")
    assert resp is not None and resp.status == 403
    assert "Your role does not allow" in page.locator("main").inner_text()
    accessible(page, "forbidden")
    # The JSON API with the manager's session: reading is allowed, sending is not.
    assert page.request.get(f"{a.url}/v1/admin/outbox").status == 200
    sent = page.request.post(f"{a.url}/v1/admin/messages?to=352",
                             data=(EXAMPLES_DIR / "enquiry.xml").read_bytes())
    assert sent.status == 403 and sent.json()["code"] == "role-forbidden"
    page.close()
    # Without JavaScript the pages still work: sign in, filter, open a message.
    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    sign_in(plain, a, "olive")
    plain.get_by_label("Partner").select_option("352")
    plain.get_by_role("button", name="Show messages").click()
    plain.get_by_role("link", name=f"Message {mid[:8]}").click()
    plain.wait_for_url(f"**/outbox/{mid}")
    assert "KOWALSKI" in plain.locator("main").inner_text().upper()
    context.close()


def test_resend_an_expired_message_after_its_partner_comes_back(
        tmp_path: Path, procs: Callable[..., Proc], browser: Any) -> None:
    a, b = homes(tmp_path)
    procs(a)
    mid = send_sample(a)  # 352 is down: no receipt before it expires (3 s)
    page = browser.new_page()
    sign_in(page, a, "olive")
    wait_state(page, a.url + "/outbox", mid, "expired")
    page.get_by_role("link", name=f"Message {mid[:8]}").click()
    assert "expired" in page.locator(".govuk-warning-text").inner_text()
    procs(b)  # the partner is back
    page.get_by_role("button", name="Resend").click()
    page.wait_for_url(f"**/outbox/{mid}/resend")
    accessible(page, "confirm resend")
    shot(page, "confirm-resend")
    page.get_by_role("button", name="Resend message").click()
    page.wait_for_url("**/outbox/*")
    new = page.url.rsplit("/", 1)[1]
    assert new != mid and f"Resent from {mid}" in page.locator("main").inner_text()
    wait_state(page, a.url + "/outbox", new, "delivered")
    assert state_of(page, a.url + "/outbox", mid) == "expired"  # the old one stays a record
    page.close()


def wait_for_link(page: Any, url: str, href: str, timeout: float = 40.0) -> None:
    """Reload ``url`` until it links to ``href`` (a message arriving, then being matched)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(url)
        if page.locator(f"a[href='{href}']").count():
            return
        time.sleep(0.3)
    raise AssertionError(f"{url} never linked to {href}")


def test_an_officer_answers_from_the_queue_and_opens_a_case_from_the_referral_form(
        tmp_path: Path, procs: Callable[..., Proc], browser: Any) -> None:
    """355's officer sends an enquiry from the form; 352's officer answers it from the work
    queue, child by child; 355's outbox shows it answered, with the child's outcome and who
    answered. Then a case opened through the referral form, and every new page checked with
    axe-core."""
    a, b = homes(tmp_path)
    add_user(b, "bob", "officer")
    procs(a)
    procs(b)
    # Two contexts: the gateways share a host (127.0.0.1), and cookies do not tell ports.
    ours = browser.new_context().new_page()
    theirs = browser.new_context().new_page()
    sign_in(ours, a, "olive")
    ours.get_by_role("link", name="New enquiry").click()
    ours.wait_for_url("**/enquiries/new")
    accessible(ours, "new enquiry")
    ours.get_by_label("Authority to ask").select_option("352")
    ours.fill("#c1-surname", "Kowalski")
    ours.fill("#c1-forename", "Amelia")
    ours.fill("#c1-dob-day", "14")
    ours.fill("#c1-dob-month", "3")
    ours.fill("#c1-dob-year", "2015")
    ours.fill("#c1-old_postcode", "M30 7LP")
    ours.get_by_role("button", name="Add another child").click()
    ours.fill("#c2-surname", "Kowalski")
    ours.fill("#c2-forename", "Jakub")
    ours.fill("#c2-upn", "123")  # not a UPN: shown at the field, nothing sent
    ours.get_by_role("button", name="Send the enquiry").click()
    assert ours.locator(".govuk-error-summary").count() == 1
    accessible(ours, "new enquiry with errors")
    ours.fill("#c2-upn", "")
    shot(ours, "new-enquiry")
    ours.get_by_role("button", name="Send the enquiry").click()
    ours.wait_for_url("**/outbox/*")
    mid = ours.url.rsplit("/", 1)[1]
    assert "Amelia KOWALSKI" in ours.locator("main").inner_text()
    # 352: the enquiry waits in bob's queue.
    sign_in(theirs, b, "bob")
    wait_for_link(theirs, b.url + "/queue", f"/queue/enquiries/{mid}")
    accessible(theirs, "queue")
    shot(theirs, "queue")
    theirs.locator(f"a[href='/queue/enquiries/{mid}']").click()
    theirs.wait_for_url(f"**/queue/enquiries/{mid}")
    main = theirs.locator("main").inner_text()
    assert "Kowalski, Amelia (born 2015-03-14)" in main and "Kowalski, Jakub" in main
    accessible(theirs, "reply form")
    shot(theirs, "reply")
    # Amelia is not known and watched; Jakub left out: the partial reply must be confirmed.
    theirs.get_by_role("group", name="Child 1: Kowalski, Amelia (born 2015-03-14)") \
        .get_by_label("Not known, and we will keep monitoring").check()
    theirs.get_by_role("group", name="Child 2: Kowalski, Jakub").get_by_label(
        "Leave this child out of this reply").check()
    theirs.get_by_role("button", name="Send this reply").click()
    assert "partial reply" in theirs.locator(".govuk-error-summary").inner_text()
    accessible(theirs, "reply form with errors")
    theirs.get_by_label("I confirm this reply leaves out a child").check()
    theirs.get_by_role("button", name="Send this reply").click()
    theirs.wait_for_url("**/queue?sent=*")
    assert "Reply queued" in theirs.locator("main").inner_text()
    theirs.goto(b.url + "/monitoring")
    assert "Amelia KOWALSKI" in theirs.locator("main").inner_text()
    accessible(theirs, "watch list")
    shot(theirs, "monitoring")
    # 355: answered, with the child's outcome and who answered.
    wait_state(ours, a.url + "/outbox", mid, "answered")
    ours.get_by_role("link", name=f"Message {mid[:8]}").click()
    ours.wait_for_url(f"**/outbox/{mid}")
    children = ours.locator("table", has=ours.get_by_text("Answered by")).inner_text()
    assert "not-known-monitoring" in children and "352" in children
    assert "Awaiting an answer" in children  # Jakub
    accessible(ours, "message with children's answers")
    shot(ours, "message-answers")
    # A case opened through the referral form.
    ours.goto(a.url + "/cases/new")
    accessible(ours, "new referral")
    ours.fill("#surname", "Nowak")
    ours.fill("#forename", "Ola")
    ours.fill("#dob-day", "2")
    ours.fill("#dob-month", "2")
    ours.fill("#dob-year", "2014")
    ours.get_by_label("7 whereabouts unknown").check()
    ours.get_by_label("On a child-protection plan").check()
    ours.get_by_label("Reason the child is out of provision").fill("family moved")
    ours.get_by_label("Name of the person referring").fill("Health visitor")
    ours.get_by_role("button", name="Open the case").click()
    ours.wait_for_url("**/cases/*?opened=1")
    main = ours.locator("main").inner_text()
    assert "Ola NOWAK" in main and "Urgent" in main and "Health visitor" in main
    accessible(ours, "case")
    shot(ours, "case")
    ours.get_by_role("group", name="Move the case").get_by_label("Logged").check()
    ours.locator("#why").fill("checked EMS: not on a roll here")
    ours.get_by_role("button", name="Move the case").click()
    ours.wait_for_url("**/cases/*")
    assert "referred → logged" in ours.locator("main").inner_text()
    for path, name in (("/cases", "cases"), ("/queue", None), ("/monitoring", None),
                       ("/reviews?within=366", None), ("/reports", "reports"),
                       ("/reports/termly?term=autumn+2026", None), ("/notifications", None)):
        ours.goto(a.url + path)
        accessible(ours, path)
        if name:
            shot(ours, name)
    sign_out(ours)
    sign_in(ours, a, "mina")
    ours.goto(a.url + "/reports")
    assert "NOWAK" not in ours.locator("main").inner_text().upper()
    accessible(ours, "reports (manager)")
    ours.goto(a.url + f"/outbox/{mid}")
    assert "KOWALSKI" not in ours.locator("main").inner_text().upper()
    accessible(ours, "message (manager)")
