"""Chasing across two real gateway processes on loopback: 355 sends an enquiry to 352, no
reply comes, 355's gateway chases it twice and escalates it, 352 records the chasers, then
352 replies and a later "not known" after "known" is held for 355's officer to review.

A running gateway reads the system clock, so time passing is the enquiry's stored deadlines
moving into the past: the test moves 355's ``chase_after`` (the date after which the next
chaser, or the escalation, is due) back before today, as the days passing would. Everything
else (the chase worker, signing, delivery, receipts, the Chaser handler, the CLI) is the real
thing; ``chase_check_seconds`` is small so the worker looks often.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from gateway.core.clock import LONDON
from tests.conftest import Home, pair
from tests.test_e2e import api, cli, db, states, unsigned_enquiry, wait_for

FAST = ("chase_check_seconds = 0.2\nretry_base_seconds = 0.1\nretry_max_seconds = 0.5\n"
        "match_interval_seconds = 0.2\n")


def days_ago(n: int) -> str:
    return (dt.datetime.now(LONDON).date() - dt.timedelta(days=n)).isoformat()


def time_passes(home: Home, mid: str) -> None:
    """The next chase date of ``mid`` is now in the past."""
    with db(home) as conn:
        conn.execute("UPDATE sent_enquiries SET due_on = ? WHERE message_id = ? "
                     "AND chasers = 0", (days_ago(3), mid))
        conn.execute("UPDATE sent_enquiries SET chase_after = ? WHERE message_id = ?",
                     (days_ago(1), mid))


def enquiry_row(home: Home, mid: str) -> sqlite3.Row:
    with db(home) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM sent_enquiries WHERE message_id = ?",
                            (mid,)).fetchone()


def chasers_out(home: Home) -> dict[str, str]:
    with db(home) as conn:
        return dict(conn.execute("SELECT message_id, state FROM outbound "
                                 "WHERE message_type = 'Chaser'").fetchall())


def chasers_in(home: Home, mid: str) -> int:
    with db(home) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM chasers_received WHERE enquiry_id = ?",
                            (mid,)).fetchone()
    return int(n)


def test_overdue_enquiry_chased_escalated_answered_and_reviewed(tmp_path, procs) -> None:
    a, b = pair(tmp_path, extra=FAST)
    procs(a)
    procs(b)
    out = cli(a, "send", str(unsigned_enquiry(tmp_path)), "--to", "352")
    assert out.returncode == 0, out.stderr
    mid = out.stdout.split()[1]
    wait_for("delivery", lambda: states(a).get(mid) == "delivered")
    status = cli(a, "status")
    assert status.returncode == 0, status.stderr
    # the officer's own view: names, and the reply's due date, not overdue yet
    assert "child 1: Testchild, Child0 (born 2014-01-01)" in status.stdout, status.stdout
    assert "reply due" in status.stdout and "OVERDUE" not in status.stdout
    assert "awaiting an answer, waiting since" in status.stdout

    # the due date passes with no reply: the first chaser goes out and 352 records it
    time_passes(a, mid)
    wait_for("the first chaser", lambda: list(chasers_out(a).values()) == ["delivered"])
    wait_for("352 to record it", lambda: chasers_in(b, mid) == 1)
    seen = api(b, f"/v1/admin/inbox/{mid}")
    assert seen["chased"]["times"] == 1 and seen["chased"]["last_number"] == 1
    assert "OVERDUE by" in cli(a, "status").stdout

    # another interval, still no reply: the second chaser
    time_passes(a, mid)
    wait_for("the second chaser", lambda: sorted(chasers_out(a).values()) == ["delivered"] * 2)
    wait_for("352 to record it", lambda: chasers_in(b, mid) == 2)

    # and another: two chasers were enough, so a manager is told instead of a third
    time_passes(a, mid)
    wait_for("escalation", lambda: enquiry_row(a, mid)["escalated_at"] is not None)
    status = cli(a, "status").stdout
    assert "ESCALATED to a manager" in status and "chasers sent: 2" in status, status
    assert len(chasers_out(a)) == 2
    view = api(a, f"/v1/admin/enquiries/{mid}")
    assert view["escalated"] and view["chasers"] == 2 and view["awaiting"] == ["1", "2"]
    assert [c["number"] for c in view["chasers_sent"]] == [1, 2]

    # 352 replies at last
    out = cli(b, "reply", mid, "--outcome", "1=known-on-roll@3524001:Oak School",
              "--outcome", "2=not-known-monitoring")
    assert out.returncode == 0, out.stderr
    wait_for("the answer", lambda: states(a).get(mid) == "answered")
    status = cli(a, "status").stdout
    assert "known-on-roll at Oak School (3524001), answered by 352" in status, status
    assert "not-known-monitoring, answered by 352" in status
    assert "every child answered" in status and "OVERDUE" not in status

    # a later "not known" for the child 352 knew: kept known, flagged for review; the
    # watched child is found: updated, and shown as found
    out = cli(b, "reply", mid, "--outcome", "1=not-known", "--outcome",
              "2=known-on-roll@3524002:Elm School")
    assert out.returncode == 0, out.stderr
    def flagged() -> bool:
        with db(a) as conn:
            row = conn.execute("SELECT outcome, needs_review FROM sent_children WHERE "
                               "message_id = ? AND child_ref = '1'", (mid,)).fetchone()
        return tuple(row) == ("known-on-roll", 1)
    wait_for("the review flag", flagged)
    status = cli(a, "status").stdout
    assert "NEEDS REVIEW: a later reply says not-known" in status, status
    assert ("known-on-roll at Elm School (3524002) (was not-known-monitoring), answered by "
            "352") in status, status
    out = cli(a, "outcome", "reject", mid, "1", "--reason", "school confirmed attendance")
    assert out.returncode == 0 and "stays known-on-roll at Oak School" in out.stdout, out
    assert "NEEDS REVIEW" not in cli(a, "status").stdout
    items = json.loads(cli(a, "status", "--json").stdout)
    enquiry = next(i["enquiry"] for i in items if i["message_id"] == mid)
    assert enquiry["children"][0]["outcome"] == "known-on-roll"
    assert enquiry["escalated"] and enquiry["needs_review"] == []

    # the logs name message ids, never a child
    for home in (a, b):
        log = (home.path / "gateway.log").read_text()
        assert mid in log or home is b
        assert "Testchild" not in log and "Child0" not in log
