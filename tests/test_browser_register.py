"""The Children Not in School register's pages in a real browser (Debian's Chromium driven by
Playwright) against two real gateway processes on loopback, each page checked with axe-core:
355's officer adds a child through the form (first with mistakes, shown the GOV.UK way),
changes the entry (a second tab's stale save of it is refused, what it typed kept), and sends
it to 352 when the family moves; 352's officer finds the draft
waiting on the register and activates it. And a gateway with the register off says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Proc, pair
from tests.test_browser import (  # noqa: F401 (browser: a fixture)
    EXTRA,
    accessible,
    add_user,
    browser,
    shot,
    sign_in,
)

pytestmark = pytest.mark.slow


def test_an_entry_is_added_changed_and_transferred_then_activated_at_the_new_la(
        tmp_path: Path, procs: Callable[..., Proc], browser: Any) -> None:  # noqa: F811
    a, b = pair(tmp_path, extra=EXTRA + 'cnis_register = "on"\n')
    add_user(a, "olive", "officer")
    add_user(b, "bob", "officer")
    procs(a)
    procs(b)
    ours = browser.new_context().new_page()
    theirs = browser.new_context().new_page()
    sign_in(ours, a, "olive")
    ours.get_by_role("link", name="Not in school register").click()
    ours.wait_for_url("**/register")
    accessible(ours, "register (empty)")
    ours.get_by_role("link", name="Add a child to the register").click()
    ours.wait_for_url("**/register/new")
    accessible(ours, "register form")
    ours.fill("#surname", "Nowak")
    ours.fill("#forename", "Zofia")
    ours.fill("#dob-day", "5")
    ours.fill("#dob-month", "5")
    ours.fill("#dob-year", "2016")
    ours.fill("#address", "9 New Road\nSalford")
    ours.fill("#postcode", "M6 5AA")
    ours.fill("#parent1_name", "Anna Nowak")
    ours.get_by_role("group", name="Parent 1").get_by_label("Yes").check()
    ours.fill("#hours_by_parents", "about 18")  # not a number: shown at the field
    ours.fill("#provider1_hours", "6")          # a provider with no name
    ours.get_by_role("button", name="Add to the register").click()
    summary = ours.locator(".govuk-error-summary").inner_text()
    assert "Choose why the child is eligible" in summary and "hours educated by parents" \
        in summary and "provider's name" in summary
    assert ours.input_value("#surname") == "Nowak"  # what was typed is kept
    accessible(ours, "register form with errors")
    shot(ours, "register-form-errors")
    ours.get_by_label("Not a registered pupil at a school").check()
    ours.fill("#hours_by_parents", "18.5")
    ours.get_by_role("button", name="Add another parent").click()  # posts back, saves nothing
    assert ours.locator("#parent3_name").count() == 1
    assert ours.input_value("#hours_by_parents") == "18.5"
    ours.fill("#provider1_name", "Salford Tutors Ltd")
    ours.press("#provider1_name", "Enter")  # Enter saves (not "Add another")
    ours.wait_for_url("**/register/*?done=added")
    assert "Zofia NOWAK" in ours.locator("h1").inner_text()
    accessible(ours, "register entry")
    # a second tab opens the form too, and saves after the first: refused, nothing lost
    stale = ours.context.new_page()
    stale.goto(ours.url.split("?")[0] + "/edit")
    ours.get_by_role("link", name="Change the entry").click()
    ours.wait_for_url("**/edit")
    ours.fill("#hours_by_parents", "20")
    ours.fill("#reason", "a new timetable")
    ours.get_by_role("button", name="Save the change").click()
    ours.wait_for_url("**?done=changed")
    history = ours.locator("table", has=ours.get_by_text("Version")).inner_text()
    assert "a new timetable" in history and "user:olive" in history
    stale.fill("#forename", "Zosia")
    stale.fill("#reason", "known as Zosia")
    stale.get_by_role("button", name="Save the change").click()
    assert "changed by someone else since you opened it" in stale.locator(
        ".govuk-error-summary").inner_text()
    assert stale.input_value("#forename") == "Zosia"
    assert stale.get_by_role("link", name="open the entry as it is now (opens in a new tab)"
                             ).count() == 1
    accessible(stale, "register form changed by someone else")
    stale.close()
    ours.get_by_text("The entry as version 1 left it").click()
    assert "18.5" in ours.locator("details[open]").inner_text()
    accessible(ours, "register entry with its history")
    shot(ours, "register-entry")
    ours.fill("#to_la", "352")
    ours.fill("#transfer_reason", "moved to Manchester")
    ours.get_by_role("button", name="Send the entry to the new authority").click()
    ours.wait_for_url("**?done=transferred")
    assert "Transferred to LA 352" in ours.locator("main").inner_text()
    # 352: the draft waits for bob at the top of the register.
    sign_in(theirs, b, "bob")
    for _ in range(120):
        theirs.goto(b.url + "/register")
        if "waiting for you to check them" in theirs.locator("main").inner_text():
            break
        theirs.wait_for_timeout(300)
    assert "waiting for you to check them" in theirs.locator("main").inner_text()
    accessible(theirs, "register with a draft waiting")
    shot(theirs, "register-drafts")
    theirs.get_by_role("link", name="Zofia NOWAK").first.click()
    theirs.wait_for_url("**/register/*")
    assert "Received from LA 355" in theirs.locator("main").inner_text()
    theirs.get_by_role("button", name="Activate the entry").click()
    assert theirs.locator(".govuk-error-summary").count() == 1  # no reason given
    accessible(theirs, "draft entry with an error")
    theirs.fill("#activate_reason", "checked with the family")
    theirs.get_by_role("button", name="Activate the entry").click()
    theirs.wait_for_url("**?done=activated")
    assert "Active" in theirs.locator("#entry-state").inner_text()


def test_with_the_register_off_the_page_says_so(
        tmp_path: Path, procs: Callable[..., Proc], browser: Any) -> None:  # noqa: F811
    a, _ = pair(tmp_path, extra=EXTRA)
    add_user(a, "olive", "officer")
    procs(a)
    page = browser.new_page()
    sign_in(page, a, "olive")
    assert page.get_by_role("link", name="Not in school register").count() == 0
    page.goto(a.url + "/register")
    assert "The register is off at this gateway" in page.locator("main").inner_text()
    accessible(page, "register off")
