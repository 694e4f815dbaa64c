"""The CME workflow across two real gateway processes on loopback (355 asks, 352 answers),
driven as officers drive it: through the CLI and the operator API.

Paths of the seed's flowchart: an existing pupil answered known on roll; an unknown child
watched who later appears in a records import, and another who appears in a CTF, each time
sending an updated Reply in the same conversation; monitoring that ends with its final Reply;
a referral of a child on a child-protection plan escalated at once, with the e-mail received
by a real SMTP server.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import urllib.error
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.testing.ctf import Pupil, make_upn, write_ctf
from tests.conftest import free_port, make_home, pair
from tests.test_e2e import api, cli, db, wait_for

pytestmark = pytest.mark.slow

AMELIA = dt.date(2015, 3, 14)
ZOFIA = dt.date(2016, 5, 5)
OLIVER = dt.date(2014, 1, 1)


def child(ref: str, surname: str, forename: str, dob: dt.date, new: str) -> m.EnquiryChild:
    return m.EnquiryChild(child_ref=ref, surname=surname, forename=forename, dob=dob,
                          gender="F" if ref != "3" else "M",
                          address_while_resident=m.Address(("1 Old Street",), "SW1A 1AA"),
                          new_address=m.Address(("9 New Road",), new))


def outcomes(home, enquiry_id: str) -> dict[str, str]:
    with db(home) as conn:
        row = conn.execute("SELECT outcomes FROM outbound WHERE message_id = ?",
                           (enquiry_id,)).fetchone()
    return {o["child_ref"]: o["outcome"] for o in json.loads(row[0] or "[]")} if row else {}


def replies_at(home, enquiry_id: str) -> list[str]:
    with db(home) as conn:
        return [r[0] for r in conn.execute(
            "SELECT message_id FROM inbound WHERE message_type = 'Reply' AND in_reply_to = ? "
            "ORDER BY received_at", (enquiry_id,))]


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.mails.append(envelope.content.decode())  # type: ignore[attr-defined]
        return "250 OK"


def test_the_flowchart_paths_across_two_gateways(tmp_path: Path, procs) -> None:
    smtp_port = free_port()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        a, b = pair(tmp_path, extra=(
            'api_token = "test-token"\nworkflow_interval_seconds = 0.2\n'
            f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\n'
            'smtp_from = "cme@352.example"\nnotify_officers = "officer@352.example"\n'
            'notify_managers = "manager@352.example"'))
        # a school in 352's area, whose system posts CTFs to its LA
        school = make_home(tmp_path, "3524004", {"352": f"{b.url}/v1/messages"})
        school.trust(b)
        b.trust(school)
        procs(a)
        procs(b)
        run_paths(tmp_path, a, b, school, mailbox)
    finally:
        smtp.stop()


def run_paths(tmp_path: Path, a, b, school, mailbox: Mailbox) -> None:
    # 352's roll holds Oliver (an existing pupil) at his new address
    roll = tmp_path / "roll.csv"
    roll.write_text("record_id,surname,forename,dob,sex,postcode,address,laestab\n"
                    "r1,Smith,Oliver,2014-01-01,M,M4 1AA,9 New Road,3524002\n")
    assert cli(b, "records", "import", str(roll)).returncode == 0

    # 355 asks about three children who left for 352's area
    enquiry = m.Enquiry(
        header=m.Header(m.new_id(), "", m.utcnow(), "355", "352", m.MessageType.ENQUIRY),
        enquiry_date=dt.date.today(), officer=m.Officer("Officer A"),
        children=(child("1", "Kowalski", "Amelia", AMELIA, "M1 5QA"),
                  child("2", "Nowak", "Zofia", ZOFIA, "M2 3BB"),
                  child("3", "Smith", "Oliver", OLIVER, "M4 1AA")))
    enquiry = m.Enquiry(**{**enquiry.__dict__, "header": m.Header(
        **{**enquiry.header.__dict__, "conversation_id": enquiry.header.message_id})})
    path = tmp_path / "enquiry.xml"
    path.write_bytes(mx.to_bytes(mx.build(enquiry)))
    out = cli(a, "send", str(path), "--to", "352")
    assert out.returncode == 0, out.stderr
    eid = enquiry.header.message_id

    # 352: the proposal (matched in the background), approved by the officer
    def matched() -> dict | None:
        try:
            p = api(b, f"/v1/admin/inbox/{eid}/proposal")
        except urllib.error.HTTPError:  # not arrived yet
            return None
        return None if any(c["note"].startswith("not matched") for c in p["children"]) else p

    proposal = wait_for("the proposal", matched)
    by_ref = {c["child_ref"]: c for c in proposal["children"]}
    assert by_ref["3"]["outcome"] == "known-on-roll"
    assert by_ref["3"]["school"]["laestab"] == "3524002"
    assert by_ref["1"]["outcome"] == by_ref["2"]["outcome"] == "not-known-monitoring"
    out = cli(b, "answer", eid, "--approve")
    assert out.returncode == 0, out.stderr
    wait_for("the first reply at 355", lambda: outcomes(a, eid) == {
        "1": "not-known-monitoring", "2": "not-known-monitoring", "3": "known-on-roll"})
    watches = json.loads(cli(b, "monitoring", "list", "--json").stdout)
    assert {w["child_ref"] for w in watches} == {"1", "2"}

    # Amelia joins a school's roll in 352: the next records import finds her
    roll.write_text(roll.read_text() +
                    "r2,Kowalski,Amelia,2015-03-14,F,M1 5QA,9 New Road,3524001\n")
    assert cli(b, "records", "import", str(roll)).returncode == 0
    found = wait_for("Amelia found", lambda: [
        w for w in json.loads(cli(b, "monitoring", "list", "--json").stdout)
        if w["child_ref"] == "1" and w["state"] == "found"])
    out = cli(b, "monitoring", "approve", found[0]["watch_id"])
    assert out.returncode == 0, out.stderr
    wait_for("the updated reply at 355", lambda: outcomes(a, eid).get("1") == "known-on-roll")
    assert len(replies_at(a, eid)) == 2

    # Zofia moves between two of 352's schools: the CTF reaches 352, held for her new school
    ctf = tmp_path / "zofia.xml"
    write_ctf(ctf, source=("352", "4004"), dest=("352", "4003"),
              pupils=[Pupil(make_upn("355", "2001", 16, 7), "Nowak", "Zofia", ZOFIA, "F",
                            "M2 3BB")])
    out = cli(school, "ctf", "post", str(ctf), "--to", "352")
    assert out.returncode == 0, out.stderr
    found = wait_for("Zofia found", lambda: [
        w for w in json.loads(cli(b, "monitoring", "list", "--json").stdout)
        if w["child_ref"] == "2" and w["state"] == "found"])
    assert found[0]["found_source"] == "ctf"
    api(b, f"/v1/admin/monitoring/{found[0]['watch_id']}/approve", b"{}", "application/json")
    wait_for("the second updated reply", lambda: outcomes(a, eid).get("2") == "known-on-roll")
    assert outcomes(a, eid) == {"1": "known-on-roll", "2": "known-on-roll",
                                "3": "known-on-roll"}  # each child keeps its latest outcome
    assert len(replies_at(a, eid)) == 3
    cases = json.loads(cli(b, "cases", "list", "--json").stdout)
    assert {c["surname"]: c["status"] for c in cases} == {"Kowalski": "located",
                                                          "Nowak": "located"}

    # a second enquiry: nobody finds the child, and monitoring ends with a final reply
    second = m.Enquiry(
        header=m.Header(m.new_id(), "", m.utcnow(), "355", "352", m.MessageType.ENQUIRY),
        enquiry_date=dt.date.today(), officer=m.Officer("Officer A"),
        children=(child("1", "Lost", "Child", dt.date(2013, 6, 6), "M9 9ZZ"),))
    sid = second.header.message_id
    second = m.Enquiry(**{**second.__dict__, "header": m.Header(
        **{**second.header.__dict__, "conversation_id": sid})})
    path.write_bytes(mx.to_bytes(mx.build(second)))
    assert cli(a, "send", str(path), "--to", "352").returncode == 0
    def second_matched() -> bool:
        try:
            p = api(b, f"/v1/admin/inbox/{sid}/proposal")
        except urllib.error.HTTPError:  # not arrived yet
            return False
        return not p["children"][0]["note"].startswith("not matched")

    wait_for("the second enquiry matched", second_matched)
    assert cli(b, "answer", sid, "--approve").returncode == 0
    wait_for("not known but monitoring", lambda: outcomes(a, sid).get("1") ==
             "not-known-monitoring")
    # the term passes: the watch's end date is moved into the past, as time would
    with sqlite3.connect(b.path / "gateway.db", timeout=15) as conn:
        conn.execute("UPDATE watches SET watched_until = '2020-01-01' WHERE enquiry_id = ?",
                     (sid,))
    wait_for("the final reply", lambda: outcomes(a, sid).get("1") == "not-known")
    states = {w["enquiry_id"]: w["state"]
              for w in json.loads(cli(b, "monitoring", "list", "--json").stdout)}
    assert states[sid] == "ended"

    # a referral of a child on a child-protection plan: urgent at once, e-mail sent
    referral = m.Referral(
        header=m.Header(m.new_id(), m.new_id(), m.utcnow(), "355", "352",
                        m.MessageType.REFERRAL),
        referral_date=dt.date.today(), referrer=m.Referrer("Dr Jones"),
        child=m.ReferralChild("Kaczmarek", "Lena", dob=dt.date(2014, 2, 2),
                              child_protection_plan=True),
        category=m.Category.WHEREABOUTS_UNKNOWN)
    path.write_bytes(mx.to_bytes(mx.build(referral)))
    assert cli(a, "send", str(path), "--to", "352").returncode == 0
    queue = wait_for("the urgent case", lambda: (
        q := api(b, "/v1/admin/queue"))["urgent_cases"] and q)
    case_id = queue["urgent_cases"][0]["case_id"]
    mail = wait_for("the e-mail", lambda: [x for x in mailbox.mails if case_id in x])
    assert "URGENT" in mail[0] and "child-protection plan" in mail[0]
    assert "Kaczmarek" not in mail[0] and "Lena" not in mail[0]
    out = cli(b, "cases", "list")
    assert out.stdout.splitlines()[0].startswith(f"{case_id}  URGENT")
